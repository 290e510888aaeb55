"""Finding the booking a message is about: the reference typed, the conversation, the account.

When it can't be found for sure, the customer gets one specific question and the action stops.
"""

from __future__ import annotations

from collections.abc import Callable

from actions import formatting as fmt
from actions.context import Context, booking_city, fold
from relais.storage import queries
from relais.storage.records import Booking

BookingFilter = Callable[[Booking], bool]
MAX_CHOICES = 3
#: Failed references before the bot offers a person.
FAILURES_BEFORE_OFFER = 2


def any_booking(booking: Booking) -> bool:
    return True


def departure(booking: Booking):  # type: ignore[no-untyped-def]
    return booking.segments[0].flight.scheduled_departure if booking.segments else None


def upcoming(ctx: Context) -> BookingFilter:
    """Bookings with a flight still ahead (or that left less than a day ago)."""
    from datetime import timedelta

    horizon = ctx.now - timedelta(days=1)

    def keep(booking: Booking) -> bool:
        return any(s.flight.scheduled_departure >= horizon for s in booking.segments)

    return keep


def recent(ctx: Context) -> BookingFilter:
    """Bookings with a flight in the last 30 days or the next day."""
    from datetime import timedelta

    start, end = ctx.now - timedelta(days=30), ctx.now + timedelta(days=1)

    def keep(booking: Booking) -> bool:
        return any(start <= s.flight.scheduled_departure <= end for s in booking.segments)

    return keep


def has_report(booking: Booking) -> bool:
    return bool(booking.baggage_reports)


def has_refund(booking: Booking) -> bool:
    return bool(booking.refunds)


def relevant_for(ctx: Context, intent: str) -> BookingFilter:
    """Which of the customer's bookings a request can be about."""
    if intent == "lost_baggage":
        return has_report
    if intent == "refund_status":
        return has_refund
    return upcoming(ctx)


def describe(ctx: Context, booking: Booking) -> str:
    """'XY4K2P to Lyon on Wed 2 Dec' — how the bot names a trip."""
    if not booking.segments:
        return booking.reference
    flight = booking.segments[0].flight
    when = fmt.day(fmt.local(flight.scheduled_departure, flight.origin_tz), ctx.lang)
    return ctx.say_text("trip.name", ref=booking.reference, city=flight.destination_city, date=when)


def resolve(
    ctx: Context,
    intent: str,
    relevant: BookingFilter = any_booking,
    ask: bool = True,
) -> Booking | None:
    """The booking this message is about, or None after asking the customer one question.

    With `ask=False` nothing is said when the booking is unknown (the caller answers generally).
    """
    typed = ctx.turn.references()
    if typed:
        return _from_reference(ctx, intent, typed[0], ask)

    remembered = ctx.slot("booking_reference")
    if remembered:
        booking = queries.booking_by_reference(ctx.session, remembered)
        if booking is not None and _visible(ctx, booking):
            return booking

    if ctx.customer is None:
        if ask:
            ctx.say("booking.ask_reference")
            ctx.set("pending_intent", intent)
        return None

    candidates = sorted(
        (b for b in ctx.customer.bookings if relevant(b)),
        key=lambda b: (departure(b) is None, departure(b)),
    )
    if len(candidates) == 1:
        return _chosen(ctx, candidates[0])
    if not candidates:
        if ask:
            ctx.say("booking.none_on_account", name=ctx.first_name)
            ctx.set("pending_intent", intent)
        return None
    named = [
        b
        for b in candidates
        if fold(booking_city(b)) and fold(booking_city(b)) in fold(ctx.turn.text)
    ]
    if len(named) == 1:
        return _chosen(ctx, named[0])
    if ask:
        options = candidates[:MAX_CHOICES]
        trips = [describe(ctx, b) for b in options]
        ctx.say(
            "booking.which",
            trips=ctx.say_text("list.or", first=", ".join(trips[:-1]), last=trips[-1]),
            buttons=[{"title": b.reference, "payload": b.reference} for b in options],
        )
        ctx.set("pending_intent", intent)
    return None


def _visible(ctx: Context, booking: Booking) -> bool:
    """An identified customer sees only their own bookings; others need the reference."""
    return ctx.customer is None or booking.customer_id == ctx.customer.id


def _chosen(ctx: Context, booking: Booking) -> Booking:
    ctx.set("booking_reference", booking.reference)
    ctx.set("pending_intent", None)
    ctx.set("reference_failures", 0)
    return booking


def _from_reference(ctx: Context, intent: str, reference: str, ask: bool) -> Booking | None:
    booking = queries.booking_by_reference(ctx.session, reference)
    if booking is not None and _visible(ctx, booking):
        return _chosen(ctx, booking)
    if not ask:
        return None
    failures = int(ctx.slot("reference_failures") or 0) + 1
    ctx.set("reference_failures", failures)
    ctx.set("pending_intent", intent)
    if failures >= FAILURES_BEFORE_OFFER:
        ctx.say("booking.not_found_offer_person", ref=reference)
        ctx.set("pending_offer", "handoff")
    else:
        key = "booking.not_found_on_account" if ctx.customer else "booking.not_found"
        ctx.say(key, ref=reference)
    return None
