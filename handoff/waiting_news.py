"""News for a customer waiting for a person: their place in the queue and the wait now.

- A customer who writes while waiting is never answered by the bot (the message is only logged
  for the agents); they hear their current place and the updated estimate instead, at most
  once every `waiting_news_minutes` (handoff.yml; the wait told at handoff counts as news).
- When their place or the estimate changes a lot since they were last told (`changed_a_lot`),
  the background loop (`tell_queue_news`) tells them once, at the same pace.
- An agent taking the conversation is announced by name (`announce_agent`).

Every function takes a Session and leaves the commit to the caller, except `tell_queue_news`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.queue import open_escalation_for
from handoff.settings import HandoffSettings
from handoff.wait import WaitEstimate, estimate_at, estimate_wait, staffing, wait_message
from relais.core.brand import Brand, load_brand
from relais.core.texts import LANGUAGES, say
from relais.core.types import Author, EscalationStatus, State
from relais.storage.conversations import Conversation, Message
from relais.storage.db import run_atomic
from relais.storage.escalations import Agent, Escalation
from relais.storage.leases import acquire, release, route_lease
from relais.storage.messages import add_outgoing

#: `Message.details["kind"]` of what told the customer the wait: the wait at handoff
#: (handoff/intake.py), then the news.
WAIT_TOLD = "wait_estimate"
NEWS = "waiting_news"
TOLD_KINDS = (WAIT_TOLD, NEWS)
AGENT_JOINED = "agent_joined"
#: A change of the estimate is news when it is at least this share of what was told…
CHANGE_SHARE = 0.5
#: …and at least this long.
CHANGE_S = 300.0
#: The most waiting conversations the loop looks at in one tick (the front of the queue).
QUEUE_LOOK = 1000


@dataclass(frozen=True)
class Told:
    """What a waiting customer was last told, and when."""

    position: int
    seconds: float | None  #: None: told when the team is back
    at: datetime


def news_due(told: Told | None, now: datetime, settings: HandoffSettings) -> bool:
    """True when the customer may hear news again (never told, or told long enough ago)."""
    return told is None or now - told.at >= timedelta(minutes=settings.waiting_news_minutes)


def changed_a_lot(told: Told, estimate: WaitEstimate) -> str | None:
    """The text key of the news when the queue changed a lot since `told`, else None: the
    customer moved up to half their place or better, the estimate moved by half or more and
    by 5 minutes or more, or the team went away or came back."""
    if (told.seconds is None) != (estimate.seconds is None):
        return "waiting.update"
    if told.position >= 2 and estimate.position <= told.position / 2:
        return "waiting.moved_up"
    if told.seconds is None or estimate.seconds is None:
        return None
    moved = estimate.seconds - told.seconds
    if abs(moved) >= CHANGE_S and abs(moved) >= CHANGE_SHARE * told.seconds:
        return "waiting.longer" if moved > 0 else "waiting.sooner"
    return None


def news_on_message(
    session: Session, conversation_id: str, now: datetime, brand: Brand, settings: HandoffSettings
) -> Message | None:
    """The customer wrote while waiting: their place and the wait, if news is due."""
    escalation = open_escalation_for(session, conversation_id)
    if escalation is None or escalation.status != EscalationStatus.WAITING:
        return None  # an agent holds it: they answer
    if not news_due(last_told(session, conversation_id), now, settings):
        return None
    estimate = estimate_wait(session, escalation, now, brand, settings)
    return _tell(session, escalation, "waiting.news", estimate, now, brand)


def last_told(session: Session, conversation_id: str) -> Told | None:
    """What the customer was last told of the wait (the wait at handoff is always told)."""
    found = session.execute(
        select(Message.details, Message.sent_at)
        .where(
            Message.conversation_id == conversation_id,
            Message.author == Author.BOT,
            Message.details["kind"].as_string().in_(TOLD_KINDS),
        )
        .order_by(Message.id.desc())
        .limit(1)
    ).first()
    return _told(found.details, found.sent_at) if found else None


def queue_news(
    session: Session, now: datetime, brand: Brand, settings: HandoffSettings
) -> list[int]:
    """The waiting escalations whose customer should hear that the queue changed a lot: a few
    reads for the whole queue (its order, what each customer was told, the agents once)."""
    queue = session.execute(
        select(Escalation.id, Escalation.conversation_id)
        .where(Escalation.status == EscalationStatus.WAITING)
        .order_by(Escalation.priority, Escalation.deadline, Escalation.id)
        .limit(QUEUE_LOOK)
    ).all()
    if not queue:
        return []
    latest = (
        select(func.max(Message.id))
        .join(Escalation, Escalation.conversation_id == Message.conversation_id)
        .where(
            Escalation.status == EscalationStatus.WAITING,
            Message.author == Author.BOT,
            Message.details["kind"].as_string().in_(TOLD_KINDS),
        )
        .group_by(Message.conversation_id)
    )
    told = {
        row.conversation_id: _told(row.details, row.sent_at)
        for row in session.execute(
            select(Message.conversation_id, Message.details, Message.sent_at).where(
                Message.id.in_(latest)
            )
        )
    }
    staff = staffing(session, now, settings)
    due = []
    for place, row in enumerate(queue, start=1):
        last = told.get(row.conversation_id)
        if last is None or not news_due(last, now, settings):
            continue
        if changed_a_lot(last, estimate_at(place, staff, now, brand)):
            due.append(row.id)
    return due


def tell_if_changed(
    session: Session,
    escalation_id: int,
    now: datetime,
    brand: Brand,
    settings: HandoffSettings,
    owner: str,
) -> Message | None:
    """Tells the customer of a waiting escalation that the queue changed a lot, if it still
    did. Under the conversation's routing lease (taken and let go in this transaction, as
    `owner`): another worker's loop, or the router telling news on a message, tells once."""
    escalation = session.get(Escalation, escalation_id)
    if escalation is None:
        return None
    lease = route_lease(escalation.conversation_id)
    if not acquire(session, lease, owner, now):
        return None  # a message is being routed: looked at again next time
    try:
        if escalation.status != EscalationStatus.WAITING:
            return None
        last = last_told(session, escalation.conversation_id)
        if last is None or not news_due(last, now, settings):
            return None
        estimate = estimate_wait(session, escalation, now, brand, settings)
        key = changed_a_lot(last, estimate)
        return _tell(session, escalation, key, estimate, now, brand) if key else None
    finally:
        release(session, lease, owner)


def tell_queue_news(
    engine: Engine, now: datetime, brand: Brand, settings: HandoffSettings, owner: str
) -> int:
    """The background loop's tick: tells the customers whose wait changed a lot; returns how
    many were told. Each in its own transaction."""
    told = 0
    for escalation_id in run_atomic(engine, lambda s: queue_news(s, now, brand, settings)):
        message = run_atomic(
            engine,
            functools.partial(
                tell_if_changed,
                escalation_id=escalation_id,
                now=now,
                brand=brand,
                settings=settings,
                owner=owner,
            ),
        )
        told += message is not None
    return told


def announce_agent(session: Session, escalation: Escalation, agent: Agent) -> Message:
    """Tells the customer, in their language, the name of the agent who took their
    conversation (a claim, or a transfer)."""
    conversation = session.get(Conversation, escalation.conversation_id)
    assert conversation is not None
    return add_outgoing(
        session,
        conversation,
        Author.BOT,
        say(
            "waiting.agent_joined",
            _language(escalation, conversation, None),
            agent=agent.display_name,
        ),
        details={"kind": AGENT_JOINED, "agent_id": agent.id, "escalation_id": escalation.id},
    )


def _tell(
    session: Session,
    escalation: Escalation,
    key: str,
    estimate: WaitEstimate,
    now: datetime,
    brand: Brand,
) -> Message | None:
    conversation = session.get(Conversation, escalation.conversation_id)
    if conversation is None or conversation.state != State.WAITING:
        return None
    lang = _language(escalation, conversation, brand)
    return add_outgoing(
        session,
        conversation,
        Author.BOT,
        say(key, lang, wait=wait_message(estimate, lang, brand, now)),
        details={
            "kind": NEWS,
            "news": key,
            "position": estimate.position,
            "seconds": estimate.seconds,
        },
    )


def _told(details: dict[str, object] | None, sent_at: datetime) -> Told:
    found = details or {}
    position = found.get("position")
    seconds = found.get("seconds")
    return Told(
        position=int(position) if isinstance(position, (int, float)) else 1,
        seconds=float(seconds) if isinstance(seconds, (int, float)) else None,
        at=sent_at,
    )


def _language(escalation: Escalation, conversation: Conversation, brand: Brand | None) -> str:
    """The customer's language: the one the bot read at handoff, else the conversation's,
    else the brand's default."""
    for lang in (escalation.language, conversation.language):
        if lang in LANGUAGES:
            return str(lang)
    return (brand or load_brand()).default_language
