"""Shared by every tier: `relais` importable from the checkout, fresh SQLite/PostgreSQL databases,
and a marker per tier (unit, integration, e2e, eval: the directory a test is in).

`db_url`, `engine` and `session` run each test that uses them twice, once per backend;
every run gets its own empty database (tables created by `engine`), dropped afterwards.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # The package is not installed: import it from this checkout.
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import Engine, make_url  # noqa: E402
from sqlalchemy.exc import OperationalError  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from relais.storage.db import create_all, make_engine  # noqa: E402

#: The PostgreSQL server the integration tests create their databases on.
POSTGRES_URL = os.environ.get(
    "RELAIS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[Engine]:
    """An autocommit engine on the PostgreSQL server; skips the test if it is unreachable.

    Set RELAIS_REQUIRE_POSTGRES=1 (as CI should) to fail instead of skipping.
    """
    admin = create_engine(
        POSTGRES_URL, future=True, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        with admin.connect():
            pass
    except OperationalError as error:
        admin.dispose()
        reason = (
            f"PostgreSQL unreachable at {POSTGRES_URL}: {str(error.orig).strip().splitlines()[0]}"
        )
        if os.environ.get("RELAIS_REQUIRE_POSTGRES"):
            pytest.fail(reason)
        pytest.skip(reason)
    yield admin
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """A factory of fresh, empty databases of this run's backend; each returns its URL."""
    backend: str = request.param
    admin: Engine | None = (
        request.getfixturevalue("postgres_admin") if backend == "postgresql" else None
    )
    created: list[str] = []

    def new() -> str:
        name = f"relais_test_{uuid.uuid4().hex[:12]}"
        if admin is None:
            return f"sqlite:///{tmp_path / name}.db"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        created.append(name)
        return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)

    yield new
    if admin is not None:
        with admin.connect() as connection:
            for name in created:
                # FORCE: a test that failed may have left connections open.
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def db_url(new_database: Callable[[], str]) -> str:
    """The URL of an empty database, SQLite or PostgreSQL."""
    return new_database()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on `db_url` with every table created."""
    engine = make_engine(db_url)
    create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on `engine`; the test commits what it wants to keep."""
    with Session(engine, future=True) as session:
        yield session


#: The tiers, one directory each (tests/README.md); each test gets its tier's marker.
TIERS = ("unit", "integration", "e2e", "eval")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks each test with its tier, so `-m` can pick tiers across directories."""
    tests = Path(__file__).resolve().parent
    for item in items:
        try:
            tier = item.path.resolve().relative_to(tests).parts[0]
        except ValueError:  # a test file outside tests/, given on the command line
            continue
        if tier in TIERS:
            item.add_marker(tier)
