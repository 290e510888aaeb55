"""login attempts: what the console's login limits count, shared by every worker

Revision ID: 0005_login_attempts
Revises: 0004
Created: 2026-11-25 09:30:00.000000

One row per failed (or in-flight) login: the hashed username, the client address and when.
handoff/auth.py counts them per username and per address over handoff.yml's window.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# A name rather than the next bare number: engineers adding migrations at the same time
# would otherwise pick the same id.
revision = "0005_login_attempts"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username_hash", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
    )
    op.create_index("ix_login_attempts_at", "login_attempts", ["at"])
    op.create_index("ix_login_attempts_username", "login_attempts", ["username_hash", "at"])
    op.create_index("ix_login_attempts_address", "login_attempts", ["address", "at"])


def downgrade() -> None:
    op.drop_index("ix_login_attempts_address", table_name="login_attempts")
    op.drop_index("ix_login_attempts_username", table_name="login_attempts")
    op.drop_index("ix_login_attempts_at", table_name="login_attempts")
    op.drop_table("login_attempts")
