"""reference checks: "booking reference + surname" checks of unidentified customers

Revision ID: 0007_reference_checks
Revises: 0006_rasa_pending
Created: 2026-11-25 17:40:00.000000

One row per check the action server made for a customer it could not identify: failures are
counted per conversation and per client network (the limits), a success lets that
conversation see the booking (actions/lookup.py, relais/storage/identity.py).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# A name rather than the next bare number, as 0005 and 0006: migrations written at the same
# time would otherwise take the same id.
revision = "0007_reference_checks"
down_revision = "0006_rasa_pending"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reference_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sender", sa.String(length=200), nullable=False),
        sa.Column("network", sa.String(length=64), nullable=True),
        sa.Column("reference", sa.String(length=12), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.Column("holder", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reference_checks")),
    )
    op.create_index("ix_reference_checks_at", "reference_checks", ["at"])
    op.create_index("ix_reference_checks_sender", "reference_checks", ["sender", "at"])
    op.create_index("ix_reference_checks_network", "reference_checks", ["network", "at"])


def downgrade() -> None:
    op.drop_index("ix_reference_checks_network", table_name="reference_checks")
    op.drop_index("ix_reference_checks_sender", table_name="reference_checks")
    op.drop_index("ix_reference_checks_at", table_name="reference_checks")
    op.drop_table("reference_checks")
