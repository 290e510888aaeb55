"""The agents' queue: intake of escalations, ordering, atomic claims, wait estimates.

Order: priority (1 first), then the first-response deadline, then arrival. A claim is a
conditional UPDATE (`… WHERE status = 'waiting'`), so of two agents racing for the same
conversation exactly one gets it, on SQLite and on PostgreSQL. On PostgreSQL a claim is one
statement, which reads the first waiting row `FOR UPDATE SKIP LOCKED` (racing agents take
different conversations instead of queueing behind one another), claims it, hands the
conversation to the agent and writes the transcript's line. Before any claim the agent's row is
locked, so that one agent's claims in parallel take turns and never exceed their capacity.

Functions take a Session and leave the commit to the caller.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Table,
    bindparam,
    false,
    func,
    insert,
    literal,
    literal_column,
    select,
    text,
    true,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key
from sqlalchemy.sql import ColumnElement, Select

from handoff.settings import HandoffSettings
from relais.core.errors import Conflict
from relais.core.types import OPEN_STATUSES, Author, EscalationStatus, State, utcnow
from relais.storage.conversations import Conversation, Message
from relais.storage.escalations import Agent, Escalation
from relais.storage.messages import add_system


class QueueError(Conflict):
    """A queue action that cannot be done (shown to the agent as is)."""


def open_escalation_for(session: Session, conversation_id: str) -> Escalation | None:
    return (
        session.execute(
            select(Escalation)
            .where(
                Escalation.conversation_id == conversation_id, Escalation.status.in_(OPEN_STATUSES)
            )
            .order_by(Escalation.id.desc())
            .limit(1)
        )
        .scalars()
        .first()
    )


# --- the queue ------------------------------------------------------------------------------

_ORDER = (Escalation.priority, Escalation.deadline, Escalation.id)


def waiting(session: Session, limit: int = 200) -> list[Escalation]:
    """The queue, first to be served first."""
    return list(
        session.execute(
            select(Escalation)
            .where(Escalation.status == EscalationStatus.WAITING)
            .order_by(*_ORDER)
            .limit(limit)
        ).scalars()
    )


def position(session: Session, escalation: Escalation) -> int:
    """1 for the next conversation an agent will get."""
    ahead = session.execute(
        select(func.count())
        .select_from(Escalation)
        .where(
            Escalation.status == EscalationStatus.WAITING,
            (Escalation.priority < escalation.priority)
            | (
                (Escalation.priority == escalation.priority)
                & (
                    (Escalation.deadline < escalation.deadline)
                    | (
                        (Escalation.deadline == escalation.deadline)
                        & (Escalation.id < escalation.id)
                    )
                )
            ),
        )
    ).scalar_one()
    return int(ahead) + 1


def held_by(session: Session, agent_id: int) -> int:
    """How many conversations the agent holds now."""
    return int(
        session.execute(
            select(func.count())
            .select_from(Escalation)
            .where(Escalation.agent_id == agent_id, Escalation.status == EscalationStatus.CLAIMED)
        ).scalar_one()
    )


# On PostgreSQL a claim is one round trip: the agent's row locked, then the claim as one
# statement, both prepared once per connection (PREPARE … EXECUTE) from SQLAlchemy Core on the
# tables. `make bench-queue` showed that building, compiling, parsing and planning the claim on
# every call, and the round trips between statements, cost more than PostgreSQL's work on the
# rows. Only the arguments change from one claim to the next.
_E: Table = Escalation.__table__
_C: Table = Conversation.__table__
_M: Table = Message.__table__
_A: Table = Agent.__table__

#: The prepared statements' parameters, in the order of PostgreSQL's placeholders ($1, $2…),
#: with their types: line is the transcript's text, now the caller's clock, wall the time the
#: line is written; escalation_id is `claim`'s only.
_PARAMETERS = {
    "agent_id": "integer",
    "line": "text",
    "now": "timestamp",
    "wall": "timestamp",
    "escalation_id": "integer",
}


def _arg(name: str) -> ColumnElement[Any]:
    """The placeholder of a prepared statement's parameter (a new element at each use: a
    SELECT keeps one of two identical columns)."""
    return literal_column(f"${list(_PARAMETERS).index(name) + 1}")


def _agent_row(agent_id: ColumnElement[Any]) -> Select:
    """The agent's row, locked until the transaction ends (on PostgreSQL; SQLite has one
    writer): two claims by the same agent in parallel take turns, so the second counts what
    the first took. `FOR NO KEY UPDATE` leaves alone the key-share locks that rows referring
    to the agent take (their messages, notes, escalations)."""
    return (
        select(_A.c.active, _A.c.capacity)
        .where(_A.c.id == agent_id)
        .with_for_update(key_share=True)
    )


def _claim_statement(which: ColumnElement[bool], first: bool) -> Select:
    """The claim as one statement: gives the agent the waiting escalation `which` selects
    (the first in the queue's order if `first`, passing over the rows other claims have
    locked), if the agent is active and has room; hands its conversation to the agent; writes
    the transcript's line; returns the escalation, or no row.

    Room is counted in a subquery that depends on no row, so PostgreSQL checks it once
    before reading the queue: an agent with no room locks no row that others would pass
    over. The UPDATE re-checks `status = 'waiting'` on the row as it is once locked, so of
    two agents racing for one conversation exactly one gets it.
    """
    capacity = (
        select(_A.c.capacity)
        .where(_A.c.id == _arg("agent_id"), _A.c.active.is_(true()))
        .scalar_subquery()
    )
    held = (
        select(func.count())
        .select_from(_E)
        .where(_E.c.agent_id == _arg("agent_id"), _E.c.status == EscalationStatus.CLAIMED)
        .scalar_subquery()
    )
    pick = select(_E.c.id).where(which, _E.c.status == EscalationStatus.WAITING, held < capacity)
    if first:
        pick = pick.order_by(*_ORDER).limit(1).with_for_update(skip_locked=True)
    taken = (
        update(_E)
        .where(_E.c.id == pick.scalar_subquery(), _E.c.status == EscalationStatus.WAITING)
        .values(
            status=EscalationStatus.CLAIMED,
            agent_id=_arg("agent_id"),
            claimed_at=func.coalesce(_E.c.claimed_at, _arg("now")),
            last_agent_activity_at=_arg("now"),
        )
        .returning(*_E.c)
        .cte("taken")
    )
    handed = (
        update(_C)
        .where(_C.c.id == taken.c.conversation_id)
        .values(state=State.WITH_AGENT, agent_id=_arg("agent_id"), updated_at=_arg("wall"))
        .returning(_C.c.id, _C.c.channel)
        .cte("handed")
    )
    # What `add_system` writes, column for column (Core applies no Python-side defaults here).
    line = insert(_M).from_select(
        [
            "conversation_id",
            "author",
            "agent_id",
            "channel",
            "text",
            "details",
            "attachments",
            "buttons",
            "in_tracker",
            "sent_to_rasa",
            "sent_at",
            "created_at",
        ],
        select(
            handed.c.id,
            literal(Author.SYSTEM, _M.c.author.type),
            _arg("agent_id"),
            handed.c.channel,
            _arg("line"),
            func.json_build_object("event", "claimed", "escalation_id", taken.c.id),
            literal_column("'[]'"),
            literal_column("'[]'"),
            false(),
            false(),
            _arg("wall"),
            _arg("wall"),
        ).select_from(handed.join(taken, true())),
    )
    return select(taken).add_cte(handed).add_cte(line.cte("line"))


#: The prepared statements: name -> (statement, its parameters).
_PREPARED: dict[str, tuple[Select, tuple[str, ...]]] = {
    "relais_lock_agent": (_agent_row(_arg("agent_id")), ("agent_id",)),
    "relais_claim_next": (
        _claim_statement(true(), first=True),
        ("agent_id", "line", "now", "wall"),
    ),
    "relais_claim": (
        _claim_statement(_E.c.id == _arg("escalation_id"), first=False),
        ("agent_id", "line", "now", "wall", "escalation_id"),
    ),
}


def _execute(name: str) -> str:
    return f"EXECUTE {name}({', '.join(':' + p for p in _PREPARED[name][1])})"


#: Each claim in one round trip (psycopg2 sends the two statements as one query), read into an
#: Escalation. PostgreSQL runs them one after the other, each with a snapshot of its own, so
#: the claim counts what the agent's other claims committed while this one waited for the lock.
_CLAIM = {
    name: select(Escalation).from_statement(
        text(f"{_execute('relais_lock_agent')}; {_execute(name)}").columns(*_E.c)
    )
    for name in ("relais_claim_next", "relais_claim")
}
#: The agent's row (SQLite's claims, transfers, and why a claim on PostgreSQL took nothing).
_AGENT = _agent_row(bindparam("agent_id"))


def claim_next(session: Session, agent: Agent, now: datetime) -> Escalation | None:
    """Gives the agent the first conversation in the queue, or None if it is empty."""
    if session.get_bind().dialect.name == "postgresql":
        escalation = _claim(session, "relais_claim_next", agent, now)
        if escalation is None:
            _check_room(session, agent.id)
        return escalation
    _check_room(session, agent.id)
    for _ in range(20):
        escalation_id = session.execute(
            select(Escalation.id)
            .where(Escalation.status == EscalationStatus.WAITING)
            .order_by(*_ORDER)
            .limit(1)
        ).scalar()
        if escalation_id is None:
            return None
        escalation = _take(session, escalation_id, agent, now)
        if escalation is not None:
            return escalation
    return None


def claim(session: Session, agent: Agent, escalation_id: int, now: datetime) -> Escalation:
    """Gives the agent this conversation from the list, if nobody has taken it meanwhile."""
    if session.get_bind().dialect.name == "postgresql":
        escalation = _claim(session, "relais_claim", agent, now, escalation_id=escalation_id)
        if escalation is None:
            _check_room(session, agent.id)
    else:
        _check_room(session, agent.id)
        escalation = _take(session, escalation_id, agent, now)
    if escalation is None:
        raise QueueError("Another agent has just taken this conversation.")
    return escalation


def _check_room(session: Session, agent_id: int) -> None:
    """Raises if the agent may not take one more conversation (locking the agent's row)."""
    row = session.execute(_AGENT, {"agent_id": agent_id}).first()
    if row is None or not row.active:
        raise QueueError("This agent account is disabled.")
    if held_by(session, agent_id) >= row.capacity:
        raise QueueError(f"You already hold {row.capacity} conversations (your capacity).")


def _claimed_line(agent: Agent) -> str:
    return f"{agent.display_name} took the conversation."


def _claim(
    session: Session, prepared: str, agent: Agent, now: datetime, **more: int
) -> Escalation | None:
    """PostgreSQL: runs a claim of `_CLAIM`; the escalation the agent now holds, or None."""
    connection = session.connection()
    if not connection.info.get("relais_prepared"):
        _prepare(connection)
    escalation: Escalation | None = (
        session.execute(
            _CLAIM[prepared],
            {
                "agent_id": agent.id,
                "line": _claimed_line(agent),
                "now": now,
                "wall": utcnow(),
                **more,
            },
            execution_options={"populate_existing": True},
        )
        .scalars()
        .first()
    )
    if escalation is not None:
        # The conversation changed behind the ORM's back: a copy this session holds is stale.
        stale = session.identity_map.get(identity_key(Conversation, escalation.conversation_id))
        if stale is not None:
            session.expire(stale)
    return escalation


def _prepare(connection: Connection) -> None:
    """Prepares `_PREPARED` on the connection (its first claim). A prepared statement lives as
    long as its connection, whatever becomes of the transaction that prepared it, and the
    connection's `info` is emptied when the pool replaces the connection. (So a pooler that
    hands one client's transactions to different server connections cannot sit in between.)"""
    statements = []
    for name, (statement, parameters) in _PREPARED.items():
        types = ", ".join(_PARAMETERS[p] for p in parameters)
        sql = statement.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True})
        statements.append(f"PREPARE {name} ({types}) AS {sql}")
    connection.exec_driver_sql("; ".join(statements))
    connection.info["relais_prepared"] = True


def _take(session: Session, escalation_id: int, agent: Agent, now: datetime) -> Escalation | None:
    """SQLite: the escalation, now the agent's (a conditional UPDATE); None if someone took
    it first."""
    taken = (
        session.execute(
            update(Escalation)
            .where(Escalation.id == escalation_id, Escalation.status == EscalationStatus.WAITING)
            .values(
                status=EscalationStatus.CLAIMED,
                agent_id=agent.id,
                claimed_at=func.coalesce(Escalation.claimed_at, now),
                last_agent_activity_at=now,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        == 1
    )
    if not taken:
        return None
    # One read, which also replaces a copy this session may hold from before the UPDATE.
    escalation = session.get(Escalation, escalation_id, populate_existing=True)
    assert escalation is not None
    conversation = session.get(Conversation, escalation.conversation_id)
    assert conversation is not None
    conversation.state = State.WITH_AGENT
    conversation.agent_id = agent.id
    add_system(
        session,
        conversation,
        _claimed_line(agent),
        {"event": "claimed", "escalation_id": escalation_id},
        agent_id=agent.id,
    )
    return escalation


def requeue(
    session: Session, escalation: Escalation, why: str, agent_id: int | None = None
) -> None:
    """Back to the queue, keeping its place (priority and deadline do not change)."""
    if escalation.status != EscalationStatus.CLAIMED:
        raise QueueError("Only a conversation someone holds can go back to the queue.")
    escalation.status = EscalationStatus.WAITING
    escalation.agent_id = None
    escalation.requeued += 1
    conversation = session.get(Conversation, escalation.conversation_id)
    assert conversation is not None
    conversation.state = State.WAITING
    conversation.agent_id = None
    add_system(
        session,
        conversation,
        why,
        {"event": "requeued", "escalation_id": escalation.id},
        agent_id=agent_id,
    )


def transfer(session: Session, escalation: Escalation, to: Agent, by: Agent, now: datetime) -> None:
    """Hands a held conversation to another agent with room for it."""
    if escalation.status != EscalationStatus.CLAIMED:
        raise QueueError("Only a conversation someone holds can be transferred.")
    if to.id == escalation.agent_id:
        raise QueueError(f"{to.display_name} already holds this conversation.")
    _check_room(session, to.id)
    escalation.agent_id = to.id
    escalation.last_agent_activity_at = now
    conversation = session.get(Conversation, escalation.conversation_id)
    assert conversation is not None
    conversation.agent_id = to.id
    add_system(
        session,
        conversation,
        f"{by.display_name} transferred the conversation to {to.display_name}.",
        {"event": "transferred", "to": to.id},
        agent_id=by.id,
    )


def requeue_silent(session: Session, now: datetime, settings: HandoffSettings) -> list[int]:
    """Conversations whose agent went silent past the limit go back to the queue."""
    limit = now - timedelta(minutes=settings.agent_silence_minutes)
    silent = list(
        session.execute(
            select(Escalation).where(
                Escalation.status == EscalationStatus.CLAIMED,
                Escalation.last_agent_activity_at < limit,
            )
        ).scalars()
    )
    for escalation in silent:
        requeue(
            session,
            escalation,
            f"Back to the queue: no agent activity for {settings.agent_silence_minutes:g} minutes.",
        )
    return [e.id for e in silent]
