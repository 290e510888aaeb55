"""Moved to tests/e2e/servers.py (starting Rasa, the action server and the app is the
end-to-end tier's business, not the database tier's).

Only bench/channels.py (`make bench-channels`) still imports it from here; this re-export
keeps that benchmark running until its import names tests.e2e.servers. No test uses it.
"""

from __future__ import annotations

from tests.e2e.servers import free_port, running, start_relais_app

__all__ = ["free_port", "running", "start_relais_app"]
