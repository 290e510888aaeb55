"""Handing a conversation to a person: one specific message, the payload, and a pause.

The payload (relais/core/handoff.py) travels in the bot's response as a custom JSON message
`{"relais_handoff": {...}}`; the gateway (bot/) turns it into an escalation in the agents' queue.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk.events import ConversationPaused, SlotSet

from actions import lookup
from actions.context import Context
from relais.core.handoff import HandoffPayload
from relais.core.policy import Decision
from relais.storage.records import Booking

_TOPICS_EN = {
    "flight_status": "the status of a flight",
    "book_flight": "booking a new flight",
    "change_booking": "changing a booking",
    "cancel_booking": "cancelling a booking",
    "refund_status": "a refund",
    "baggage_allowance": "baggage allowance",
    "lost_baggage": "a missing or damaged bag",
    "check_in": "check-in",
    "seat_selection": "seats",
    "special_assistance": "special assistance",
    "loyalty_points": "loyalty points",
    "travel_documents": "travel documents",
    "contact_hours": "how to reach support",
    "human_request": "speaking to a person",
    "complaint": "a complaint",
    "out_of_scope": "something outside what the bot handles",
}
#: Reasons that call for an apology before the handover, when no booking says what went wrong.
_UPSET = frozenset({"complaint", "anger"})


def escalate(ctx: Context, decision: Decision) -> None:
    """Tells the customer, once and specifically, that a colleague takes over; pauses the bot."""
    topic = _topic(ctx)
    booking = _booking(ctx, topic)
    ctx.say(_message_key(topic, booking, decision), **_message_values(ctx, booking))
    payload = HandoffPayload(
        reasons=tuple(decision.reasons),
        priority=decision.priority,
        summary=summary(ctx, booking, topic, decision),
        language=ctx.lang,
        intent=ctx.turn.intent,
        topic=topic,
        booking_reference=booking.reference if booking else None,
        customer_id=ctx.customer.id if ctx.customer else None,
        entities=tuple(
            {"entity": e.get("entity"), "value": e.get("value")} for e in ctx.turn.entities
        ),
    )
    ctx.dispatcher.utter_message(json_message=payload.to_custom())
    ctx.events.extend(
        [SlotSet("pending_offer", None), SlotSet("misunderstood_streak", 0), ConversationPaused()]
    )


def _booking(ctx: Context, topic: str) -> Booking | None:
    """The booking this is about, if it is known without asking anything."""
    return lookup.resolve(ctx, topic, lookup.relevant_for(ctx, topic), ask=False)


def _topic(ctx: Context) -> str:
    """What the customer wants: this message's request, else the latest one before it."""
    if ctx.turn.intent in _TOPICS_EN and ctx.turn.intent not in ("human_request", "complaint"):
        return ctx.turn.intent
    for event in reversed(ctx.tracker.events):
        if event.get("event") == "user":
            name = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            if name in _TOPICS_EN and name not in ("human_request", "complaint"):
                return str(name)
    return ctx.turn.intent


def _message_key(topic: str, booking: Booking | None, decision: Decision) -> str:
    if booking is None:
        return "handoff.complaint" if _UPSET & set(decision.reasons) else "handoff.general"
    if decision.reasons == ("human_request",):
        return "handoff.asked_with_booking"
    if topic == "lost_baggage" and booking.baggage_reports:
        return "handoff.lost_baggage"
    if topic == "refund_status" and booking.refunds:
        return "handoff.refund"
    return "handoff.booking"


def _message_values(ctx: Context, booking: Booking | None) -> dict[str, Any]:
    values: dict[str, Any] = {"name": ctx.first_name}
    if booking is not None:
        flight = booking.segments[0].flight if booking.segments else None
        values.update(
            ref=booking.reference,
            flight=flight.number if flight else booking.reference,
            city=flight.destination_city if flight else "",
        )
    return values


def summary(ctx: Context, booking: Booking | None, topic: str, decision: Decision) -> str:
    """One paragraph for the agent: who, what they want, the booking, what the bot saw."""
    who = "An unidentified customer"
    if ctx.customer is not None:
        c = ctx.customer
        who = f"{c.full_name} ({c.loyalty_tier} tier, prefers {c.preferred_language})"
    wanted = _TOPICS_EN.get(topic, topic or "an unclear request")
    if "complaint" in decision.reasons and topic in ("out_of_scope", "nlu_fallback"):
        wanted = "a complaint the bot could not place"
    parts = [f"{who} wants help with {wanted}."]
    if booking is not None:
        legs = ", ".join(
            f"{s.flight.number} {s.flight.origin_city} → {s.flight.destination_city} "
            f"{s.flight.scheduled_departure:%d %b %H:%M} UTC ({s.flight.status})"
            for s in booking.segments
        )
        parts.append(f"Booking {booking.reference}, {booking.fare_family} fare: {legs}.")
    entities = [f"{e.get('entity')}={e.get('value')}" for e in ctx.turn.entities]
    if entities:
        parts.append("Entities: " + ", ".join(entities) + ".")
    parts.append(f'Last message ({ctx.lang}): "{ctx.turn.text[:300]}".')
    parts.append("Reasons: " + ", ".join(decision.reasons) + f"; priority {decision.priority}.")
    return " ".join(parts)
