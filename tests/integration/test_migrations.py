"""The Alembic migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Engine

import relais.storage.conversations  # noqa: F401  (registers the tables)
import relais.storage.escalations  # noqa: F401
import relais.storage.review  # noqa: F401
from relais.storage.db import Base, alembic_config, create_all, make_engine, migrate


def test_migrations_match_the_models_and_run_twice(engine: Engine) -> None:
    create_all(engine)  # a second upgrade is a no-op
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
        tables = set(inspect(connection).get_table_names())
    assert {
        "conversations",
        "messages",
        "outbox",
        "escalations",
        "agents",
        "agent_sessions",
        "notes",
        "canned_responses",
        "customers",
        "bookings",
        "alembic_version",
    } <= tables


# --- 0004: the router's crash-recovery state, from messages.details to columns ----------------

#: The two tables as they are at revision 0003 (what the rows below need).
_CONVERSATIONS = sa.table(
    "conversations",
    sa.column("id", sa.String),
    sa.column("channel", sa.String),
    sa.column("sender", sa.String),
    sa.column("state", sa.String),
    sa.column("created_at", sa.DateTime),
    sa.column("updated_at", sa.DateTime),
)
_MESSAGES = sa.table(
    "messages",
    sa.column("id", sa.Integer),
    sa.column("conversation_id", sa.String),
    sa.column("author", sa.String),
    sa.column("channel", sa.String),
    sa.column("text", sa.Text),
    sa.column("attachments", sa.JSON),
    sa.column("buttons", sa.JSON),
    sa.column("details", sa.JSON),
    sa.column("sent_at", sa.DateTime),
    sa.column("created_at", sa.DateTime),
    sa.column("processing", sa.String),
    sa.column("in_tracker", sa.Boolean),
)
_AT = datetime(2026, 11, 24, 10, 0)
#: details at 0003 → (sent_to_rasa, routed_text, details) at 0004.
_CASES: list[tuple[dict[str, Any], tuple[bool, str | None, dict[str, Any]]]] = [
    (
        {"sent_to_rasa": True, "routed_text": "/choose_booking", "routed": "bot", "replies": 1},
        (True, "/choose_booking", {"routed": "bot", "replies": 1}),
    ),
    (
        {"sent_to_rasa": True, "routed_text": "hi\nmy bag", "merged": 1},
        (True, "hi\nmy bag", {"merged": 1}),
    ),
    ({"sent_to_rasa": True}, (True, None, {})),
    ({"sent_to_rasa": False, "routed": "attachment"}, (False, None, {"routed": "attachment"})),
    ({}, (False, None, {})),
    ({"error": "KeyError('sent_to_rasa')"}, (False, None, {"error": "KeyError('sent_to_rasa')"})),
]
#: Rows past the migration's first batch of 1000, so that its paging is exercised.
_MANY = 2100


@pytest.fixture
def at_0003(db_url: str) -> Iterator[Engine]:
    """A database migrated to 0003, holding messages with the old keys in details."""
    engine = make_engine(db_url)
    migrate(engine, "0003")
    rows = [
        dict(
            conversation_id="web:a",
            author="customer",
            channel="web",
            text=f"m{i}",
            attachments=[],
            buttons=[],
            details=details,
            sent_at=_AT,
            created_at=_AT,
            processing="done",
            in_tracker=False,
        )
        for i, (details, _) in enumerate(_CASES)
    ]
    rows += [
        dict(rows[0], text=f"bulk {i}", details={"sent_to_rasa": True, "routed_text": f"t{i}"})
        for i in range(_MANY)
    ]
    with engine.begin() as connection:
        connection.execute(
            _CONVERSATIONS.insert(),
            [
                dict(
                    id="web:a",
                    channel="web",
                    sender="a",
                    state="bot",
                    created_at=_AT,
                    updated_at=_AT,
                )
            ],
        )
        connection.execute(_MESSAGES.insert(), rows)
    yield engine
    engine.dispose()


def _read(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        table = sa.Table("messages", sa.MetaData(), autoload_with=connection)
        return connection.execute(sa.select(table).order_by(table.c.id)).all()


def test_0004_moves_the_routing_state_out_of_details_and_back(at_0003: Engine) -> None:
    migrate(at_0003, "0004")
    found = _read(at_0003)
    assert [(bool(r.sent_to_rasa), r.routed_text, r.details) for r in found[: len(_CASES)]] == [
        expected for _, expected in _CASES
    ]
    bulk = found[len(_CASES) :]
    assert len(bulk) == _MANY and all(
        r.sent_to_rasa and r.routed_text == f"t{i}" and r.details == {} for i, r in enumerate(bulk)
    )

    config = alembic_config(at_0003.url.render_as_string(hide_password=False))
    with at_0003.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")
    with at_0003.connect() as connection:
        columns = {c["name"] for c in inspect(connection).get_columns("messages")}
    assert not {"sent_to_rasa", "routed_text"} & columns
    back = _read(at_0003)
    # What 0004 took out is back; a false flag was not worth a key and stays out.
    assert [r.details for r in back[: len(_CASES)]] == [
        {**details, "sent_to_rasa": True}
        if details.get("sent_to_rasa")
        else {k: v for k, v in details.items() if k != "sent_to_rasa"}
        for details, _ in _CASES
    ]
    assert back[len(_CASES)].details == {"sent_to_rasa": True, "routed_text": "t0"}


# --- 0008: contacts recorded in conversations, typed references -----------------------------


def _columns(engine: Engine, table: str) -> set[str]:
    with engine.connect() as connection:
        return {c["name"] for c in inspect(connection).get_columns(table)}


def test_0008_adds_the_contact_and_typed_reference_columns_and_takes_them_back(
    db_url: str,
) -> None:
    engine = make_engine(db_url)
    try:
        migrate(engine, "0007_reference_checks")
        added = {"conversation_id", "last_at"}
        assert not added & _columns(engine, "contacts")
        migrate(engine, "0008_contact_conversation")
        assert added <= _columns(engine, "contacts")
        assert "typed_reference" in _columns(engine, "escalations")
        config = alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0007_reference_checks")
        assert not added & _columns(engine, "contacts")
        assert "typed_reference" not in _columns(engine, "escalations")
    finally:
        engine.dispose()
