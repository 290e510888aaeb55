"""The agents' queue: intake of escalations, ordering, atomic claims, wait estimates.

Order: priority (1 first), then the first-response deadline, then arrival. A claim is a
conditional UPDATE (`… WHERE status = 'waiting'`), so of two agents racing for the same
conversation exactly one gets it, on SQLite and on PostgreSQL; on PostgreSQL the candidate row
is also read `FOR UPDATE SKIP LOCKED`, so racing agents take different conversations instead
of queueing behind one another.

Functions take a Session and leave the commit to the caller, except `run_atomic`, which owns
its transaction and retries it when SQLite reports a busy database.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from handoff.settings import HandoffSettings
from relais.core.errors import Conflict
from relais.core.types import OPEN_STATUSES, EscalationStatus, State
from relais.storage.conversations import Conversation
from relais.storage.escalations import Agent, Escalation
from relais.storage.messages import add_system

T = TypeVar("T")


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


def claim_next(session: Session, agent: Agent, now: datetime) -> Escalation | None:
    """Gives the agent the first conversation in the queue, or None if it is empty."""
    _check_capacity(session, agent)
    postgres = session.get_bind().dialect.name == "postgresql"
    for _ in range(20):
        query = (
            select(Escalation.id)
            .where(Escalation.status == EscalationStatus.WAITING)
            .order_by(*_ORDER)
            .limit(1)
        )
        if postgres:
            query = query.with_for_update(skip_locked=True)
        escalation_id = session.execute(query).scalar()
        if escalation_id is None:
            return None
        escalation = _take(session, escalation_id, agent, now)
        if escalation is not None:
            return escalation
    return None


def claim(session: Session, agent: Agent, escalation_id: int, now: datetime) -> Escalation:
    """Gives the agent this conversation from the list, if nobody has taken it meanwhile."""
    _check_capacity(session, agent)
    escalation = _take(session, escalation_id, agent, now)
    if escalation is None:
        raise QueueError("Another agent has just taken this conversation.")
    return escalation


def _check_capacity(session: Session, agent: Agent) -> None:
    if not agent.active:
        raise QueueError("This agent account is disabled.")
    if held_by(session, agent.id) >= agent.capacity:
        raise QueueError(f"You already hold {agent.capacity} conversations (your capacity).")


def _take(session: Session, escalation_id: int, agent: Agent, now: datetime) -> Escalation | None:
    """The escalation, now the agent's (a conditional UPDATE); None if someone took it first."""
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
        f"{agent.display_name} took the conversation.",
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
    _check_capacity(session, to)
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
