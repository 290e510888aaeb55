"""Intake: the bot's handoff payload becomes a queued escalation, and the customer hears the wait.

The gateway reaches the human side through `hand_over` alone.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from handoff.queue import open_escalation_for
from handoff.settings import HandoffSettings
from handoff.wait import estimate_wait, wait_message
from relais.core.brand import Brand
from relais.core.handoff import HandoffPayload
from relais.core.types import Author, EscalationStatus, State
from relais.storage.conversations import Conversation
from relais.storage.escalations import Escalation
from relais.storage.messages import add_outgoing, add_system


def hand_over(
    session: Session,
    conversation: Conversation,
    payload: HandoffPayload,
    now: datetime,
    brand: Brand,
    settings: HandoffSettings,
) -> Escalation | None:
    """Queues the conversation from the bot's handoff payload and tells the customer the wait.

    Returns the new escalation, or None when one was already open (its reasons and priority
    are updated; the customer was told the wait already).
    """
    escalation, created = open_escalation(session, conversation, payload, now, brand)
    if not created:
        return None
    estimate = estimate_wait(session, escalation, now, brand, settings)
    escalation.estimate_seconds = estimate.seconds
    lang = escalation.language or brand.default_language
    add_outgoing(
        session,
        conversation,
        Author.BOT,
        wait_message(estimate, lang, brand, now),
        details={
            "kind": "wait_estimate",
            "seconds": estimate.seconds,
            "position": estimate.position,
            "agents_online": estimate.agents_online,
            "measured": estimate.measured,
        },
    )
    return escalation


def open_escalation(
    session: Session,
    conversation: Conversation,
    payload: HandoffPayload,
    now: datetime,
    brand: Brand,
) -> tuple[Escalation, bool]:
    """The open escalation for this conversation, created from the bot's handoff payload.

    A second payload while one is open (the customer insisted before an agent came) adds its
    reasons to the open one rather than queueing the conversation twice.
    """
    # A payload read off the wire was given safe defaults already (HandoffPayload.from_dict).
    reasons, priority = list(payload.reasons), payload.priority
    existing = open_escalation_for(session, conversation.id)
    if existing is not None:
        existing.reasons = list(dict.fromkeys([*existing.reasons, *reasons]))
        if payload.typed_reference:
            existing.typed_reference = payload.typed_reference
        if priority < existing.priority:
            existing.priority = priority
            existing.deadline = min(
                existing.deadline,
                _deadline(existing.created_at, conversation.channel, priority, brand),
            )
        return existing, False
    escalation = Escalation(
        conversation_id=conversation.id,
        channel=conversation.channel,
        status=EscalationStatus.WAITING,
        reasons=reasons,
        priority=priority,
        intent=payload.intent,
        language=payload.language or conversation.language,
        summary=payload.summary,
        context=payload.to_dict(),
        # Not proven: the console shows its records marked "not verified" (records_view).
        typed_reference=payload.typed_reference,
        created_at=now,
        deadline=_deadline(now, conversation.channel, priority, brand),
    )
    session.add(escalation)
    conversation.state = State.WAITING
    conversation.agent_id = None
    if escalation.language:
        conversation.language = escalation.language
    session.flush()
    add_system(
        session,
        conversation,
        "Handed over to a person: " + ", ".join(reasons) + f" (priority {priority}).",
        {
            "event": "handoff",
            "escalation_id": escalation.id,
            "reasons": reasons,
            "priority": priority,
        },
    )
    return escalation, True


def _deadline(start: datetime, channel: str, priority: int, brand: Brand) -> datetime:
    channel_key = channel if channel in brand.first_response.by_channel else None
    return start + timedelta(
        minutes=brand.first_response.minutes(channel=channel_key, priority=priority)
    )
