"""Leases: one Relais worker at a time works on a conversation, across processes and machines.

Several workers may share one database (see README, "Scale-out"). Each routes a
conversation's messages only while it holds the lease "route:<conversation id>" and delivers
its outbox entries only while it holds "deliver:<conversation id>", so per-conversation
order and exactly-once replies hold whichever worker received the message. A lease is a row
with an owner and an expiry: a worker that dies loses its leases when they expire, and a
worker restarted with the same id (by default host and port) takes its own back at once.

The database is the only shared engine needed: the same code runs on SQLite and PostgreSQL.
The router takes, renews and lets go of a lease for every message, so the statements are
built once and run on the transaction's connection (a Session's or `run_statements`'s),
without the ORM.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, bindparam, delete, exists, select, text

from relais.core.types import Processing
from relais.storage.conversations import Lease, Message
from relais.storage.db import Bind, connection_of

#: A lease not renewed for this long is free again (a routed message takes at most Rasa's
#: 30 s timeout, and the lease is renewed before each one).
LEASE_S = 60.0

_LEASES = Lease.__table__

#: Take the lease, or take the row over when it is ours or has expired: one upsert, the same
#: SQL on SQLite and PostgreSQL. Written as text because SQLAlchemy 1.4 compiles its
#: dialects' ON CONFLICT constructs again on every execution (they have no cache key), and
#: the router runs this twice per message.
_ACQUIRE = text(
    "INSERT INTO leases (name, owner, expires_at) VALUES (:name, :owner, :expires_at) "
    "ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at "
    "WHERE leases.owner = excluded.owner OR leases.expires_at < :lease_now"
).bindparams(
    bindparam("name", type_=_LEASES.c.name.type),
    bindparam("owner", type_=_LEASES.c.owner.type),
    bindparam("expires_at", type_=_LEASES.c.expires_at.type),
    bindparam("lease_now", type_=_LEASES.c.expires_at.type),
)
_RELEASE = delete(_LEASES).where(
    _LEASES.c.name == bindparam("lease_name"), _LEASES.c.owner == bindparam("lease_owner")
)
#: Let go only when nothing of the conversation waits for the router: the check and the
#: delete are one statement, so a message stored meanwhile is either seen by it (the lease
#: is kept) or stored after the commit by a worker that then finds the lease free.
_RELEASE_IF_IDLE = _RELEASE.where(
    ~exists(
        select(Message.id).where(
            and_(
                Message.conversation_id == bindparam("conversation_id"),
                Message.processing == Processing.PENDING,
            )
        )
    )
)


def route_lease(conversation_id: str) -> str:
    """The lease of routing a conversation (and writing into its Rasa tracker)."""
    return f"route:{conversation_id}"


def acquire(bind: Bind, name: str, owner: str, now: datetime, seconds: float = LEASE_S) -> bool:
    """Takes or renews lease `name` for `owner`; False while another owner holds it.

    One statement on both databases (an upsert), so that the race between two workers is
    the database's."""
    taken = (
        connection_of(bind)
        .execute(
            _ACQUIRE,
            {
                "name": name,
                "owner": owner,
                "expires_at": now + timedelta(seconds=seconds),
                "lease_now": now,
            },
        )
        .rowcount
    )
    return bool(taken)


def release(bind: Bind, name: str, owner: str) -> None:
    connection_of(bind).execute(_RELEASE, {"lease_name": name, "lease_owner": owner})


def release_if_idle(bind: Bind, conversation_id: str, owner: str) -> bool:
    """Lets the conversation's routing lease go if none of its messages is pending; True
    when it did (False: something waits, and the lease is still `owner`'s)."""
    released = (
        connection_of(bind)
        .execute(
            _RELEASE_IF_IDLE,
            {
                "lease_name": route_lease(conversation_id),
                "lease_owner": owner,
                "conversation_id": conversation_id,
            },
        )
        .rowcount
    )
    return bool(released)
