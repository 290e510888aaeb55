"""contact conversation: contacts recorded in real use, and a reference typed but not proven

Revision ID: 0008_contact_conversation
Revises: 0007_reference_checks
Created: 2026-12-05 10:00:00.000000

`contacts.conversation_id` is the conversation a contact was recorded in ("<channel>:<sender>",
no foreign key: the customer records outlive the gateway's conversations) and
`contacts.last_at` its last activity: one row per conversation and booking, updated while
the conversation goes on (relais/storage/queries.py `record_contact`), so that the current
conversation never counts as a repeat contact against its own customer. Existing rows (demo
data) get NULL for both: they belong to no conversation, and their last activity is their
`created_at`.

`escalations.typed_reference` is a booking reference the customer typed but could not prove
(no surname): the console shows that booking's records marked as not verified. NULL for every
existing escalation.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

# A name rather than the next bare number, as 0005 to 0007: migrations written at the same
# time would otherwise take the same id.
revision = "0008_contact_conversation"
down_revision = "0007_reference_checks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("contacts", sa.Column("conversation_id", sa.String(length=200), nullable=True))
    op.add_column("contacts", sa.Column("last_at", sa.DateTime(), nullable=True))
    # `record_contact` and `recent_contact` look a conversation's contacts up.
    op.create_index("ix_contacts_conversation_id", "contacts", ["conversation_id"])
    op.add_column("escalations", sa.Column("typed_reference", sa.String(length=12), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35 or later), as in 0004 and 0006.
    op.drop_column("escalations", "typed_reference")
    op.drop_index("ix_contacts_conversation_id", table_name="contacts")
    op.drop_column("contacts", "last_at")
    op.drop_column("contacts", "conversation_id")
