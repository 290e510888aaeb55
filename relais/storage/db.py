"""The database: declarative base, engines (SQLite or PostgreSQL) and transactions: with an ORM
Session (`run_atomic`), or with a Connection alone for statements run for every message
(`run_statements`)."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeAlias, TypeVar

from sqlalchemy import MetaData, Table, create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import DeclarativeMeta, Session, registry
from sqlalchemy.pool import QueuePool

from relais.core.config import settings
from relais.storage.wakeups import announce, move_noted, take_noted

if TYPE_CHECKING:
    from alembic.config import Config

# Named constraints, so that migrations and error messages can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

mapper_registry = registry(metadata=MetaData(naming_convention=NAMING_CONVENTION))


class Base(metaclass=DeclarativeMeta):
    """The models' base class: what `declarative_base()` builds, written out as a class so
    that mypy sees each model as a class of its own rather than as Any."""

    __abstract__ = True
    registry = mapper_registry
    metadata: MetaData = mapper_registry.metadata
    # Declared for mypy only (no value, so declarative sees nothing): every model sets its
    # __tablename__, and the mapping gives it its __table__.
    __tablename__: ClassVar[str]
    __table__: ClassVar[Table]

    if TYPE_CHECKING:
        # SQLAlchemy 1.4 is untyped, so the registry's constructor is Any to mypy, and a class
        # whose __init__ is Any is itself Any: Customer(...) would be Any. This is what the
        # constructor does: each keyword names a mapped attribute to set (TypeError if not).
        def __init__(self, **kwargs: Any) -> None: ...

    else:
        __init__ = mapper_registry.constructor


def make_engine(url: str | None = None, **kwargs: Any) -> Engine:
    """A new engine for `url` (default: `settings().database_url`).

    For a SQLite file, its directory is created here rather than at import time.
    """
    url = url or settings().database_url
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, future=True, **kwargs)

    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    connect_args = {"check_same_thread": False, **kwargs.pop("connect_args", {})}
    if database and database != ":memory:":
        # SQLAlchemy 1.4 opens (and sets up) a new SQLite connection per transaction by
        # default; `make profile` showed that costing the app more than the queries. A pool
        # keeps them open (connections move between threads, never used by two at once).
        kwargs.setdefault("poolclass", QueuePool)
        kwargs.setdefault("pool_size", 8)
    engine = create_engine(url, future=True, connect_args=connect_args, **kwargs)
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    # SQLite ignores REFERENCES clauses unless asked on every new connection.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # Write-ahead logging: readers (the web chat's polls, the action server) do not wait for
    # writers, and a commit costs one append instead of a journal rewrite. NORMAL is safe
    # with WAL (a power cut may lose the last commits, never corrupt the file).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# One engine per URL for the whole process: engines hold the connection pools.
_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()


def get_engine(url: str | None = None) -> Engine:
    """The process-wide engine for `url` (default: `settings().database_url`), made on first use."""
    url = url or settings().database_url
    with _ENGINES_LOCK:
        engine = _ENGINES.get(url)
        if engine is None:
            engine = _ENGINES[url] = make_engine(url)
        return engine


def dispose_engines() -> None:
    """Closes and forgets every engine made by `get_engine` (for tests and forked workers)."""
    with _ENGINES_LOCK:
        while _ENGINES:
            _, engine = _ENGINES.popitem()
            engine.dispose()


@contextmanager
def session_scope(engine: Engine | None = None) -> Iterator[Session]:
    """A session that commits when the block ends, rolls back if it raises, and always closes."""
    session = Session(engine or get_engine(), future=True)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


T = TypeVar("T")

#: One lock per SQLite database file: this process's transactions on it take turns.
_SQLITE_TURNS: dict[str, threading.Lock] = {}
_SQLITE_TURNS_LOCK = threading.Lock()


def _turn(engine: Engine) -> AbstractContextManager[object]:
    """SQLite lets one writer in at a time and makes the others sleep and retry (for 1, 2,
    5… 100 ms); threads of one process queue far faster on a lock of their own. PostgreSQL
    needs none: its row locks do the work."""
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    key = str(engine.url)
    with _SQLITE_TURNS_LOCK:
        return _SQLITE_TURNS.setdefault(key, threading.Lock())


def run_atomic(engine: Engine, work: Callable[[Session], T], attempts: int = 8) -> T:
    """Runs `work` in its own transaction; retries when SQLite says the database is busy
    (another process, such as the action server, writing)."""
    for attempt in range(attempts):
        try:
            with _turn(engine), session_scope(engine) as session:
                return work(session)
        except OperationalError as error:
            if "locked" not in str(error).lower() or attempt == attempts - 1:
                raise
            time.sleep(0.02 * (attempt + 1))
    raise AssertionError("unreachable")


def run_statements(engine: Engine, work: Callable[[Connection], T], attempts: int = 8) -> T:
    """`run_atomic` for work written as SQLAlchemy Core statements on a Connection: the same
    transaction, SQLite's turn and retries, without an ORM Session. The router and the web
    chat run several such transactions per message, and the Session (its creation, its
    connection, its commit) cost about as much as their statements. A step that needs the
    ORM uses `joined_session`; replies written in either wake who waits at the commit
    (relais/storage/wakeups.py)."""
    for attempt in range(attempts):
        try:
            with _turn(engine):
                with engine.begin() as connection:
                    try:
                        result = work(connection)
                    finally:  # committed below, or rolled back: either way not noted again
                        noted = take_noted(connection)
            announce(noted)
            return result
        except OperationalError as error:
            if "locked" not in str(error).lower() or attempt == attempts - 1:
                raise
            time.sleep(0.02 * (attempt + 1))
    raise AssertionError("unreachable")


#: Where a transaction's statements run: an ORM Session's (`run_atomic`) or a Connection's
#: (`run_statements`). The functions run for every message take either.
Bind: TypeAlias = Session | Connection


def connection_of(bind: Bind) -> Connection:
    """The connection that runs `bind`'s statements (a Session's, in its transaction)."""
    return bind.connection() if isinstance(bind, Session) else bind


@contextmanager
def joined_session(connection: Connection) -> Iterator[Session]:
    """A Session in `connection`'s transaction, for the rare steps of a `run_statements`
    transaction that need ORM objects (a handoff, a rating's answer, a burst): flushed when
    the block ends, and committed, or rolled back, with the connection."""
    session = Session(bind=connection, future=True)
    try:
        yield session
        session.flush()
        move_noted(session, connection)
    finally:
        session.close()


@contextmanager
def orm_session(bind: Bind) -> Iterator[Session]:
    """`bind` itself when it is a Session, else a Session joined to its transaction."""
    if isinstance(bind, Session):
        yield bind
    else:
        with joined_session(bind) as session:
            yield session


def alembic_config(url: str | None = None) -> Config:
    """Alembic's configuration for this repository's migrations/ and `url`."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(settings().repo_root / "migrations"))
    config.set_main_option("sqlalchemy.url", (url or settings().database_url).replace("%", "%%"))
    return config


def migrate(engine: Engine | None = None, revision: str = "head") -> None:
    """Brings the database's schema to `revision` with the migrations in migrations/."""
    from alembic import command

    engine = engine or get_engine()
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def create_all(engine: Engine | None = None) -> None:
    """Creates or upgrades every table (the records, the gateway's, the human side's)."""
    migrate(engine)
