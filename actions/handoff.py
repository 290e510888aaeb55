"""Handing a conversation to a person: one specific message, the payload, and a pause.

The payload (relais/core/handoff.py) travels in the bot's response as a custom JSON message
`{"relais_handoff": {...}}`; the gateway (bot/) turns it into an escalation in the agents' queue.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk.events import ConversationPaused, SlotSet

from actions import lookup
from actions.context import Context
from actions.knowledge import brand_knowledge
from relais.core.handoff import HandoffPayload
from relais.core.knowledge import ranking
from relais.core.policy import Decision, load_thresholds
from relais.storage.queries import BookingView

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
    key = _message_key(topic, booking, decision)
    if key is None:
        key, values = _named_problem(ctx, topic, booking, decision)
        ctx.say(key, **values)
    else:
        ctx.say(key, **_message_values(ctx, booking))
    typed = ctx.turn.references() + [str(ctx.slot("booking_reference") or "")]
    payload = HandoffPayload(
        reasons=tuple(decision.reasons),
        priority=decision.priority,
        summary=summary(ctx, booking, topic, decision),
        language=ctx.lang,
        intent=ctx.turn.intent,
        topic=topic,
        booking_reference=booking.reference if booking else None,
        # A reference typed but not proven: the agent sees its records, marked unverified.
        typed_reference=None if booking or not typed[0] else typed[0],
        customer_id=ctx.customer.id if ctx.customer else None,
        entities=tuple(
            {"entity": e.get("entity"), "value": e.get("value")} for e in ctx.turn.entities
        ),
    )
    ctx.dispatcher.utter_message(json_message=payload.to_custom())
    ctx.events.extend(
        [SlotSet("pending_offer", None), SlotSet("misunderstood_streak", 0), ConversationPaused()]
    )


def _booking(ctx: Context, topic: str) -> BookingView | None:
    """The booking this is about, if it is known without asking anything."""
    return lookup.resolve(ctx, topic, lookup.relevant_for(ctx, topic), ask=False)


#: Intents that say how the customer feels or what they want done, not what it is about.
_NOT_TOPICS = frozenset({"human_request", "complaint", "out_of_scope", "nlu_fallback"})
#: A request this likely in the message's ranking names its topic ("you lost my suitcase
#: and nobody answers" is a complaint first, and about a bag).
_TOPIC_IN_RANKING = 0.2
#: The longest quote of the customer's words a handover message repeats, and the fewest
#: words worth quoting ("agent please" describes nothing).
_QUOTE_CHARS = 80
_QUOTE_MIN_WORDS = 4


def _topic(ctx: Context) -> str:
    """What the customer wants: this message's request (or, for a complaint, the request it
    is about), else the latest one before it."""
    if _is_topic(ctx.turn.intent):
        return ctx.turn.intent
    for ranked in ctx.turn.ranking:
        name = str(ranked.get("name") or "")
        if _is_topic(name) and float(ranked.get("confidence") or 0) >= _TOPIC_IN_RANKING:
            return name
    for event in reversed(ctx.tracker.events):
        if event.get("event") == "user":
            name = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            if _is_topic(str(name)):
                return str(name)
    return ctx.turn.intent


def _is_topic(intent: str) -> bool:
    return intent in _TOPICS_EN and intent not in _NOT_TOPICS


def _message_key(topic: str, booking: BookingView | None, decision: Decision) -> str | None:
    """The text for what the records say; None when the message names the problem the
    customer described instead (`_named_problem`)."""
    if booking is not None and decision.reasons == ("human_request",):
        return "handoff.asked_with_booking"
    if booking is not None and topic == "lost_baggage" and booking.baggage_reports:
        return "handoff.lost_baggage"
    if booking is not None and topic == "refund_status" and booking.refunds:
        return "handoff.refund"
    return None


def _named_problem(
    ctx: Context, topic: str, booking: BookingView | None, decision: Decision
) -> tuple[str, dict[str, Any]]:
    """The handover text naming what the customer described: their request's topic, else the
    knowledge article their message is about, else their own words; with the booking or the
    flight they named."""
    if _is_topic(topic):
        problem = ctx.say_text(f"problem.{topic}")
    elif title := _article_title(ctx):
        problem = ctx.say_text("problem.article", title=title)
    elif len(ctx.turn.text.split()) >= _QUOTE_MIN_WORDS and "human_request" not in decision.reasons:
        problem = ctx.say_text("problem.quoted", quote=_quote(ctx.turn.text))
    else:
        # "agent please", "yes": nothing described that a handover could name.
        upset = bool(_UPSET & set(decision.reasons))
        return ("handoff.plain_upset" if upset else "handoff.plain"), {}
    suffix = ""  # the catalog's texts are stripped: the space before "(booking …)" is here
    if booking is not None:
        suffix = " " + ctx.say_text("handoff.booking_suffix", ref=booking.reference)
    elif ctx.turn.flight_numbers():
        suffix = " " + ctx.say_text("handoff.flight_suffix", flight=ctx.turn.flight_numbers()[0])
    if "human_request" in decision.reasons and not _UPSET & set(decision.reasons):
        key = "handoff.asked_problem"
    elif _UPSET & set(decision.reasons):
        key = "handoff.problem_upset"
    else:
        key = "handoff.problem"
    return key, {"problem": problem, "booking": suffix}


def _article_title(ctx: Context) -> str:
    """The title of the knowledge article the message is most about, if it is plausible."""
    matches = ranking(ctx.tracker.latest_message)
    found = brand_knowledge(ctx)
    if not matches or found is None or matches[0].score < load_thresholds().knowledge_answer:
        return ""
    article = found.article(matches[0].article, ctx.lang)
    return article.title if article else ""


def _quote(text: str) -> str:
    """The customer's words, cut at a word boundary: what the handover repeats to them."""
    words = " ".join(text.split())
    if len(words) <= _QUOTE_CHARS:
        return words.rstrip(".!? ")
    return words[:_QUOTE_CHARS].rsplit(" ", 1)[0].rstrip(",;:.!? ") + "…"


def _message_values(ctx: Context, booking: BookingView | None) -> dict[str, Any]:
    values: dict[str, Any] = {"name": ctx.first_name}
    if booking is not None:
        flight = booking.segments[0].flight if booking.segments else None
        values.update(
            ref=booking.reference,
            flight=flight.number if flight else booking.reference,
            city=flight.destination_city if flight else "",
        )
    return values


def summary(ctx: Context, booking: BookingView | None, topic: str, decision: Decision) -> str:
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
