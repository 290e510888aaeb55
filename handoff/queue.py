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

import contextlib
import math
import statistics
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from bot.models import Conversation, State
from bot.store import add_system
from handoff.models import OPEN_STATUSES, Agent, Escalation, EscalationStatus
from handoff.settings import HandoffSettings
from relais.brand import Brand
from relais.db import session_scope

T = TypeVar("T")


class QueueError(Exception):
    """A queue action that cannot be done (shown to the agent as is)."""


#: One lock per SQLite database file: this process's transactions on it take turns.
_SQLITE_TURNS: dict[str, threading.Lock] = {}
_SQLITE_TURNS_LOCK = threading.Lock()


def _turn(engine: Engine) -> Any:
    """SQLite lets one writer in at a time and makes the others sleep and retry (for 1, 2,
    5… 100 ms); threads of one process queue far faster on a lock of their own. PostgreSQL
    needs none: its row locks do the work."""
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    key = str(engine.url)
    with _SQLITE_TURNS_LOCK:
        return _SQLITE_TURNS.setdefault(key, threading.Lock())


def run_atomic(engine: Engine, work: Callable[[Session], T], attempts: int = 8) -> T:
    """Runs `work` in its own transaction; retries when SQLite says the database is busy
    (another process, such as the action server, writing)."""
    for attempt in range(attempts):
        try:
            with _turn(engine), session_scope(engine) as session:
                return work(session)
        except OperationalError as error:
            if "locked" not in str(error).lower() or attempt == attempts - 1:
                raise
            time.sleep(0.02 * (attempt + 1))
    raise AssertionError("unreachable")


# --- intake ---------------------------------------------------------------------------------

def open_escalation(session: Session, conversation: Conversation, payload: dict[str, Any],
                    now: datetime, brand: Brand) -> tuple[Escalation, bool]:
    """The open escalation for this conversation, created from the bot's handoff payload.

    A second payload while one is open (the customer insisted before an agent came) adds its
    reasons to the open one rather than queueing the conversation twice.
    """
    reasons = [str(r) for r in payload.get("reasons") or []] or ["human_request"]
    priority = int(payload.get("priority") or 3)
    if priority not in (1, 2, 3, 4):
        priority = 3
    existing = open_escalation_for(session, conversation.id)
    if existing is not None:
        existing.reasons = list(dict.fromkeys([*existing.reasons, *reasons]))
        if priority < existing.priority:
            existing.priority = priority
            existing.deadline = min(existing.deadline, _deadline(existing.created_at, conversation.channel, priority, brand))
        return existing, False
    escalation = Escalation(
        conversation_id=conversation.id, channel=conversation.channel,
        status=EscalationStatus.WAITING, reasons=reasons, priority=priority,
        intent=payload.get("intent"), language=payload.get("language") or conversation.language,
        summary=str(payload.get("summary") or ""), context=dict(payload), created_at=now,
        deadline=_deadline(now, conversation.channel, priority, brand),
    )
    session.add(escalation)
    conversation.state = State.WAITING
    conversation.agent_id = None
    if escalation.language:
        conversation.language = escalation.language
    session.flush()
    add_system(session, conversation, "Handed over to a person: " + ", ".join(reasons)
               + f" (priority {priority}).", {"event": "handoff", "escalation_id": escalation.id,
                                               "reasons": reasons, "priority": priority})
    return escalation, True


def _deadline(start: datetime, channel: str, priority: int, brand: Brand) -> datetime:
    channel_key = channel if channel in brand.first_response.by_channel else None
    return start + timedelta(minutes=brand.first_response.minutes(channel=channel_key,
                                                                  priority=priority))


def open_escalation_for(session: Session, conversation_id: str) -> Escalation | None:
    return session.execute(
        select(Escalation).where(Escalation.conversation_id == conversation_id,
                                 Escalation.status.in_(OPEN_STATUSES))
        .order_by(Escalation.id.desc()).limit(1)
    ).scalars().first()


# --- the queue ------------------------------------------------------------------------------

_ORDER = (Escalation.priority, Escalation.deadline, Escalation.id)


def waiting(session: Session, limit: int = 200) -> list[Escalation]:
    """The queue, first to be served first."""
    return list(session.execute(
        select(Escalation).where(Escalation.status == EscalationStatus.WAITING)
        .order_by(*_ORDER).limit(limit)
    ).scalars())


def position(session: Session, escalation: Escalation) -> int:
    """1 for the next conversation an agent will get."""
    ahead = session.execute(
        select(func.count()).select_from(Escalation).where(
            Escalation.status == EscalationStatus.WAITING,
            (Escalation.priority < escalation.priority)
            | ((Escalation.priority == escalation.priority)
               & ((Escalation.deadline < escalation.deadline)
                  | ((Escalation.deadline == escalation.deadline)
                     & (Escalation.id < escalation.id)))),
        )
    ).scalar_one()
    return int(ahead) + 1


def held_by(session: Session, agent_id: int) -> int:
    """How many conversations the agent holds now."""
    return int(session.execute(
        select(func.count()).select_from(Escalation).where(
            Escalation.agent_id == agent_id, Escalation.status == EscalationStatus.CLAIMED)
    ).scalar_one())


def claim_next(session: Session, agent: Agent, now: datetime) -> Escalation | None:
    """Gives the agent the first conversation in the queue, or None if it is empty."""
    _check_capacity(session, agent)
    postgres = session.get_bind().dialect.name == "postgresql"
    for _ in range(20):
        query = (select(Escalation.id).where(Escalation.status == EscalationStatus.WAITING)
                 .order_by(*_ORDER).limit(1))
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


def _take(session: Session, escalation_id: int, agent: Agent, now: datetime
          ) -> Escalation | None:
    """The escalation, now the agent's (a conditional UPDATE); None if someone took it first."""
    taken = session.execute(
        update(Escalation)
        .where(Escalation.id == escalation_id, Escalation.status == EscalationStatus.WAITING)
        .values(status=EscalationStatus.CLAIMED, agent_id=agent.id,
                claimed_at=func.coalesce(Escalation.claimed_at, now),
                last_agent_activity_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    if not taken:
        return None
    # One read, which also replaces a copy this session may hold from before the UPDATE.
    escalation = session.get(Escalation, escalation_id, populate_existing=True)
    assert escalation is not None
    conversation = session.get(Conversation, escalation.conversation_id)
    assert conversation is not None
    conversation.state = State.WITH_AGENT
    conversation.agent_id = agent.id
    add_system(session, conversation, f"{agent.display_name} took the conversation.",
               {"event": "claimed", "escalation_id": escalation_id}, agent_id=agent.id)
    return escalation


def requeue(session: Session, escalation: Escalation, why: str, agent_id: int | None = None) -> None:
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
    add_system(session, conversation, why, {"event": "requeued", "escalation_id": escalation.id},
               agent_id=agent_id)


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
    add_system(session, conversation, f"{by.display_name} transferred the conversation to "
               f"{to.display_name}.", {"event": "transferred", "to": to.id}, agent_id=by.id)


def requeue_silent(session: Session, now: datetime, settings: HandoffSettings) -> list[int]:
    """Conversations whose agent went silent past the limit go back to the queue."""
    limit = now - timedelta(minutes=settings.agent_silence_minutes)
    silent = list(session.execute(
        select(Escalation).where(Escalation.status == EscalationStatus.CLAIMED,
                                 Escalation.last_agent_activity_at < limit)
    ).scalars())
    for escalation in silent:
        requeue(session, escalation, f"Back to the queue: no agent activity for "
                f"{settings.agent_silence_minutes:g} minutes.")
    return [e.id for e in silent]


# --- the wait estimate ----------------------------------------------------------------------

@dataclass(frozen=True)
class WaitEstimate:
    """What the customer is told. `seconds` is None outside support hours (see `back_at`)."""

    seconds: float | None
    position: int
    agents_online: int
    free_slots: int
    handling_minutes: float  #: the median handling time it used (or the default)
    measured: bool  #: True when handling and pickup times come from recent conversations
    back_at: datetime | None = None  #: when agents are back (brand's time zone), if closed


def estimate_wait(session: Session, escalation: Escalation, now: datetime, brand: Brand,
                  settings: HandoffSettings) -> WaitEstimate:
    """How long until a person answers, from the queue as it is and recent handling times.

    With free slots for everyone ahead, the wait is the usual pickup time. Otherwise each
    conversation ahead beyond the free slots must wait for a slot to free up: with S slots
    across online agents and a median handling time H, a slot frees every H / S.
    """
    place = position(session, escalation)
    online_since = now - timedelta(minutes=settings.online_minutes)
    agents = list(session.execute(
        select(Agent).where(Agent.active.is_(True), Agent.last_seen_at >= online_since)
    ).scalars())
    slots = sum(a.capacity for a in agents)
    busy = sum(held_by(session, a.id) for a in agents)
    free = max(0, slots - busy)
    handling, pickup, measured = _recent_times(session, settings)
    if not brand.is_open(now):
        return WaitEstimate(None, place, len(agents), free, handling, measured,
                            back_at=brand.next_opening(now))
    if free >= place:
        minutes = pickup
    else:
        # Nobody online yet during support hours: count one agent's worth of slots.
        capacity = slots or 3
        minutes = pickup + math.ceil((place - free) * handling / capacity)
    return WaitEstimate(minutes * 60, place, len(agents), free, handling, measured)


def _recent_times(session: Session, settings: HandoffSettings) -> tuple[float, float, bool]:
    """Median handling (claim → close) and pickup (arrival → claim) minutes, recent first."""
    rows = session.execute(
        select(Escalation.created_at, Escalation.claimed_at, Escalation.closed_at)
        .where(Escalation.closed_at.is_not(None), Escalation.claimed_at.is_not(None))
        .order_by(Escalation.closed_at.desc()).limit(settings.estimate_window)
    ).all()
    if len(rows) < 5:
        return settings.default_handling_minutes, settings.default_pickup_minutes, False
    handling = statistics.median((r.closed_at - r.claimed_at).total_seconds() / 60 for r in rows)
    pickup = statistics.median((r.claimed_at - r.created_at).total_seconds() / 60 for r in rows)
    return max(handling, 1.0), max(pickup, 0.5), True
