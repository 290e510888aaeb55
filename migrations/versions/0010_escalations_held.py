"""escalations held by an agent: an index on (agent_id, status)

Revision ID: 0010_escalations_held
Revises: 0009_review_ratings
Created: 2026-12-05 00:00:00.000000

- `ix_escalations_held` on `escalations (agent_id, status)`: counting what an agent holds (the
  capacity check of every claim, `held_by`, the console's "mine") reads that agent's rows
  instead of every claimed escalation.
"""

from __future__ import annotations

from alembic import op

revision = "0010_escalations_held"
down_revision = "0009_review_ratings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_escalations_held", "escalations", ["agent_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_escalations_held", table_name="escalations")
