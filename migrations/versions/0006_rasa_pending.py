"""rasa pending: the Rasa side of a resolve or hand-back still to do (Rasa was down)

Revision ID: 0006_rasa_pending
Revises: 0005_login_attempts
Created: 2026-11-25 15:10:00.000000

`conversations.rasa_pending` is "resume" or "hand_back" until the tracker sync has resumed
the conversation's Rasa tracker (and run the hand-back follow-up); NULL otherwise, which is
what every existing row gets: their trackers were resumed when they were closed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# A name rather than the next bare number, as 0005: migrations written at the same time
# would otherwise take the same id.
revision = "0006_rasa_pending"
down_revision = "0005_login_attempts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("conversations", sa.Column("rasa_pending", sa.String(length=20), nullable=True))
    # The tracker sync looks for the few rows that have one, every few seconds.
    op.create_index("ix_conversations_rasa_pending", "conversations", ["rasa_pending"])


def downgrade() -> None:
    op.drop_index("ix_conversations_rasa_pending", table_name="conversations")
    # Plain DROP COLUMN (SQLite 3.35 or later), as in 0004.
    op.drop_column("conversations", "rasa_pending")
