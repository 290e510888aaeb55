"""The Alembic migrations build exactly the schema the models describe, on both databases."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

import relais.storage.conversations  # noqa: F401  (registers the tables)
import relais.storage.escalations  # noqa: F401
from relais.storage.db import Base, create_all


def test_migrations_match_the_models_and_run_twice(engine: Engine) -> None:
    create_all(engine)  # a second upgrade is a no-op
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        tables = set(inspect(connection).get_table_names())
    assert {"conversations", "messages", "outbox", "escalations", "agents", "agent_sessions",
            "notes", "canned_responses", "customers", "bookings", "alembic_version"} <= tables
