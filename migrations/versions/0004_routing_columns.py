"""routing columns: the router's crash-recovery state moves out of messages.details

Revision ID: 0004
Revises: 0003
Created: 2026-11-24 10:12:00.000000

`sent_to_rasa` and `routed_text` were keys of the JSON `details`; they become columns, filled
from the keys, which are then removed. JSON operators differ between SQLite and PostgreSQL,
so the rows are copied in Python, a batch at a time.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: Rows read and written per round trip (keeps memory flat on a large transcript table).
BATCH = 1000

_messages = sa.table(
    "messages",
    sa.column("id", sa.Integer),
    sa.column("details", sa.JSON),
    sa.column("sent_to_rasa", sa.Boolean),
    sa.column("routed_text", sa.Text),
)


def upgrade() -> None:
    # The server default fills the existing rows, which NOT NULL needs, and lets a worker of
    # the previous version insert messages during a rolling upgrade.
    op.add_column(
        "messages",
        sa.Column("sent_to_rasa", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("messages", sa.Column("routed_text", sa.Text(), nullable=True))
    # Only rows whose JSON mentions a key are read: most messages never had either.
    as_text = sa.cast(_messages.c.details, sa.Text)
    mentioned = sa.or_(as_text.like("%sent_to_rasa%"), as_text.like("%routed_text%"))
    for rows in _batches(mentioned, _messages.c.details):
        changes = []
        for row in rows:
            details = dict(row.details) if isinstance(row.details, dict) else None
            if details is None or not {"sent_to_rasa", "routed_text"} & set(details):
                continue  # the words appear in some other value
            sent = bool(details.pop("sent_to_rasa", False))
            routed = details.pop("routed_text", None)
            changes.append(
                {
                    "_id": row.id,
                    "_details": details,
                    "_sent": sent,
                    "_routed": str(routed) if routed else None,
                }
            )
        _update(
            changes,
            sent_to_rasa=sa.bindparam("_sent", type_=sa.Boolean),
            routed_text=sa.bindparam("_routed", type_=sa.Text),
            details=sa.bindparam("_details", type_=sa.JSON),
        )


def downgrade() -> None:
    moved = sa.or_(_messages.c.sent_to_rasa == sa.true(), _messages.c.routed_text.isnot(None))
    for rows in _batches(
        moved, _messages.c.details, _messages.c.sent_to_rasa, _messages.c.routed_text
    ):
        changes = []
        for row in rows:
            details = dict(row.details) if isinstance(row.details, dict) else {}
            if row.sent_to_rasa:
                details["sent_to_rasa"] = True
            if row.routed_text is not None:
                details["routed_text"] = row.routed_text
            changes.append({"_id": row.id, "_details": details})
        _update(changes, details=sa.bindparam("_details", type_=sa.JSON))
    # Plain DROP COLUMN (SQLite 3.35 or later): a batch rebuild of this table is not needed
    # for two columns nothing else refers to.
    op.drop_column("messages", "routed_text")
    op.drop_column("messages", "sent_to_rasa")


def _batches(where: Any, *columns: Any) -> Any:
    """The rows matching `where`, by increasing id, BATCH at a time (keyset paging, so that
    updating the rows already read cannot shift the pages)."""
    bind = op.get_bind()
    last = 0
    while True:
        rows = bind.execute(
            sa.select(_messages.c.id, *columns)
            .where(where, _messages.c.id > last)
            .order_by(_messages.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        yield rows
        last = rows[-1].id


def _update(changes: list[dict[str, Any]], **values: Any) -> None:
    if changes:
        op.get_bind().execute(
            _messages.update().where(_messages.c.id == sa.bindparam("_id")).values(**values),
            changes,
        )
