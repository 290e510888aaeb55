"""The security tier's fixtures: the end-to-end tier's real processes (tests/e2e/conftest.py),
started the way `make run` starts them (tests/e2e/servers.py), so that each attack is made
against real servers: the seeded database, Rasa + the action server, the Relais app."""

from __future__ import annotations

# Imported, not copied: the attacks target exactly what the e2e tests use.
from tests.e2e.conftest import (  # noqa: F401
    app_url,
    own_seeded_url,
    seeded_sqlite_url,
    servers,
)
