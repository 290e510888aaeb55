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

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from relais.storage.conversations import Lease

#: A lease not renewed for this long is free again (a routed message takes at most Rasa's
#: 30 s timeout, and the lease is renewed before each one).
LEASE_S = 60.0


def route_lease(conversation_id: str) -> str:
    """The lease of routing a conversation (and writing into its Rasa tracker)."""
    return f"route:{conversation_id}"


def acquire(
    session: Session, name: str, owner: str, now: datetime, seconds: float = LEASE_S
) -> bool:
    """Takes or renews lease `name` for `owner`; False while another owner holds it."""
    until = now + timedelta(seconds=seconds)
    taken = session.execute(
        update(Lease)
        .where(Lease.name == name, (Lease.owner == owner) | (Lease.expires_at < now))
        .values(owner=owner, expires_at=until)
        .execution_options(synchronize_session=False)
    ).rowcount
    if taken:
        return True
    try:
        with session.begin_nested():  # a savepoint: losing the race must not end the transaction
            session.add(Lease(name=name, owner=owner, expires_at=until))
        return True
    except IntegrityError:  # the row exists and someone else holds it
        return False


def release(session: Session, name: str, owner: str) -> None:
    session.execute(
        delete(Lease)
        .where(Lease.name == name, Lease.owner == owner)
        .execution_options(synchronize_session=False)
    )
