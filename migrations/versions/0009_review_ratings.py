"""review and ratings: the designers' review loop and customer satisfaction

Revision ID: 0009_review_ratings
Revises: 0008_contact_conversation
Created: 2026-12-05 00:00:00.000000

- `agents.role` accepts "designer" (the CHECK constraint is rebuilt; SQLite copies the table).
- `escalations.customer_wanted` (the agent's one line for designers) and
  `escalations.bot_should_handle` ("the bot should have handled this"); existing escalations get
  NULL and false.
- `ratings`, `review_labels`, `review_stories`, `review_done`: see relais/storage/review.py.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_review_ratings"
down_revision = "0008_contact_conversation"
branch_labels = None
depends_on = None


def _role(*values: str) -> sa.Enum:
    return sa.Enum(*values, name="role", native_enum=False, create_constraint=True)


def _set_roles(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    # PostgreSQL: changing the Enum drops its old CHECK and adds the new one. SQLite copies
    # the table, which would keep the old CHECK unless it is dropped by name.
    bind = op.get_bind()
    names = (
        [c["name"] for c in sa.inspect(bind).get_check_constraints("agents")]
        if bind.dialect.name == "sqlite"
        else []
    )
    names = [name for name in names if name in ("role", "ck_agents_role")]
    with op.batch_alter_table("agents", recreate="auto") as batch:
        for name in names:
            batch.drop_constraint(op.f(name), type_="check")
        batch.alter_column("role", existing_type=_role(*old), type_=_role(*new))


def upgrade() -> None:
    _set_roles(("agent", "supervisor"), ("agent", "supervisor", "designer"))
    op.add_column("escalations", sa.Column("customer_wanted", sa.Text(), nullable=True))
    op.add_column(
        "escalations",
        sa.Column("bot_should_handle", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "ratings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=200), nullable=False),
        sa.Column("escalation_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("handled_by", sa.String(length=10), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=True),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("asked_at", sa.DateTime(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("answered_at", sa.DateTime(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("comment_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_ratings_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["escalation_id"],
            ["escalations.id"],
            name=op.f("fk_ratings_escalation_id_escalations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_ratings_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ratings")),
    )
    op.create_index("ix_ratings_conversation", "ratings", ["conversation_id", "asked_at"])
    op.create_table(
        "review_labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=200), nullable=False),
        sa.Column("intent", sa.String(length=60), nullable=True),
        sa.Column("entities", sa.JSON(), nullable=False),
        sa.Column("excluded", sa.Boolean(), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=True),
        sa.Column("designer_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("exported_at", sa.DateTime(), nullable=True),
        sa.Column("export_file", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_review_labels_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["designer_id"],
            ["agents.id"],
            name=op.f("fk_review_labels_designer_id_agents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_labels")),
        sa.UniqueConstraint("message_id", name=op.f("uq_review_labels_message_id")),
    )
    op.create_index(op.f("ix_review_labels_conversation_id"), "review_labels", ["conversation_id"])
    op.create_table(
        "review_stories",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("designer_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("exported_at", sa.DateTime(), nullable=True),
        sa.Column("export_file", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_review_stories_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["designer_id"],
            ["agents.id"],
            name=op.f("fk_review_stories_designer_id_agents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_stories")),
    )
    op.create_table(
        "review_done",
        sa.Column("conversation_id", sa.String(length=200), nullable=False),
        sa.Column("designer_id", sa.Integer(), nullable=True),
        sa.Column("done_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_review_done_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["designer_id"],
            ["agents.id"],
            name=op.f("fk_review_done_designer_id_agents"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_review_done")),
    )


def downgrade() -> None:
    op.drop_table("review_done")
    op.drop_table("review_stories")
    op.drop_index(op.f("ix_review_labels_conversation_id"), table_name="review_labels")
    op.drop_table("review_labels")
    op.drop_index("ix_ratings_conversation", table_name="ratings")
    op.drop_table("ratings")
    op.drop_column("escalations", "bot_should_handle")
    op.drop_column("escalations", "customer_wanted")
    # A designer cannot stay one: they become agents (who see only what they take).
    op.execute("UPDATE agents SET role = 'agent' WHERE role = 'designer'")
    _set_roles(("agent", "supervisor", "designer"), ("agent", "supervisor"))
