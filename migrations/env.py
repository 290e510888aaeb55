"""Alembic's entry point: the metadata of every Relais table, the URL from DATABASE_URL."""

from __future__ import annotations

from alembic import context

import relais.storage.conversations  # noqa: F401  (registers the tables on Base.metadata)
import relais.storage.escalations  # noqa: F401
import relais.storage.records  # noqa: F401
import relais.storage.review  # noqa: F401
from relais.storage.db import Base, get_engine

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url") or None
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    with get_engine(url).connect() as connection:
        _run(connection)


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things: batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
