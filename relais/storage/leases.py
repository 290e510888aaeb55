"""Leases: one Relais worker at a time works on a conversation, across processes and machines.

Several workers may share one database (see README, "Scale-out"). Each routes a
conversation's messages only while it holds the lease "route:<conversation id>" and delivers
its outbox entries only while it holds "deliver:<conversation id>", so per-conversation
order and exactly-once replies hold whichever worker received the message. A lease is a row
with an owner and an expiry: a worker that dies loses its leases when they expire, and a
worker restarted with the same id (by default host and port) takes its own back at once.

The database is the only shared engine needed: the same code runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from relais.storage.conversations import Lease

#: INSERT … ON CONFLICT for each database Relais runs on.
_INSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}

#: A lease not renewed for this long is free again (a routed message takes at most Rasa's
#: 30 s timeout, and the lease is renewed before each one).
LEASE_S = 60.0


def route_lease(conversation_id: str) -> str:
    """The lease of routing a conversation (and writing into its Rasa tracker)."""
    return f"route:{conversation_id}"


def acquire(
    session: Session, name: str, owner: str, now: datetime, seconds: float = LEASE_S
) -> bool:
    """Takes or renews lease `name` for `owner`; False while another owner holds it.

    One statement on both databases (an upsert: insert the lease, or take the row over when
    it is ours or has expired), so that the race between two workers is the database's."""
    until = now + timedelta(seconds=seconds)
    insert = _INSERTS[session.get_bind().dialect.name](Lease).values(
        name=name, owner=owner, expires_at=until
    )
    table = Lease.__table__
    taken = session.execute(
        insert.on_conflict_do_update(
            index_elements=[table.c.name],
            set_={"owner": owner, "expires_at": until},
            where=(table.c.owner == owner) | (table.c.expires_at < now),
        ).execution_options(synchronize_session=False)
    ).rowcount
    return bool(taken)


def release(session: Session, name: str, owner: str) -> None:
    session.execute(
        delete(Lease)
        .where(Lease.name == name, Lease.owner == owner)
        .execution_options(synchronize_session=False)
    )
