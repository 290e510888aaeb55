"""The end-to-end tier's fixtures: a seeded demo database, real Rasa + action servers and the
Relais app, started once per session and shared by the tests that talk to them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest

from handoff.seed import seed_agents
from relais.storage.db import create_all, make_engine, session_scope
from relais.tools.seed import seed
from tests.e2e.servers import AGENT_PASSWORD, Servers, relais_app, running


@pytest.fixture(scope="session")
def seeded_sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A SQLite file with the demo records, placed around today."""
    url = f"sqlite:///{tmp_path_factory.mktemp('servers-db') / 'relais.db'}"
    engine = make_engine(url)
    create_all(engine)
    with session_scope(engine) as session:
        seed(session, anchor=datetime.now(timezone.utc).date())
        seed_agents(session, AGENT_PASSWORD)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory, seeded_sqlite_url: str) -> Iterator[Servers]:
    """A real action server and Rasa server (REST channel) on free ports."""
    workdir: Path = tmp_path_factory.mktemp("servers")
    with running(workdir, seeded_sqlite_url) as started:
        yield started


@pytest.fixture(scope="session")
def app_url(
    tmp_path_factory: pytest.TempPathFactory, seeded_sqlite_url: str, servers: Servers
) -> Iterator[str]:
    """The Relais app process (web chat, console) in front of the real Rasa server, in demo
    mode as `make run` starts it: web chat visitors may pick a demo customer."""
    with relais_app(
        tmp_path_factory.mktemp("app"),
        seeded_sqlite_url,
        servers.rasa_url,
        extra_env={"RELAIS_DEMO": "1"},
    ) as url:
        yield url


@pytest.fixture
def own_seeded_url(tmp_path: Path) -> str:
    """A seeded SQLite file of this test's own, for a test that starts its own Relais app: the
    session's app (`app_url`) shares `seeded_sqlite_url` and would route its messages too."""
    url = f"sqlite:///{tmp_path / 'own.db'}"
    engine = make_engine(url)
    create_all(engine)
    with session_scope(engine) as session:
        seed(session, anchor=datetime.now(timezone.utc).date())
    engine.dispose()
    return url
