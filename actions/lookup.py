"""Finding the booking a message is about: the reference typed, the conversation, the account.

When it can't be found for sure, the customer gets one specific question and the action stops.

A customer the bot cannot identify (no verified channel identity) proves a booking is theirs
with its reference and the surname of a passenger on it: a reference alone unlocks nothing.
The bot asks for the surname when only the reference came, says the same whether or not the
reference exists, and counts failed checks per conversation and per client network
(relais/storage/identity.py); past the limit it checks nothing more for a while.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

from actions import formatting as fmt
from actions import knowledge
from actions.context import Context, booking_city, fold
from relais.core.config import settings
from relais.storage.db import run_atomic
from relais.storage.identity import (
    CheckLimits,
    check_allowed,
    check_passed,
    client_network,
    proven,
    start_check,
)
from relais.storage.queries import BookingView

BookingFilter = Callable[[BookingView], bool]
MAX_CHOICES = 3
#: Failed references before the bot offers a person.
FAILURES_BEFORE_OFFER = 2
#: Requests that show the booking holder's own account, not only the trip: for a customer
#: the bot cannot identify, only the holder's surname proves it.
HOLDER_INTENTS = frozenset({"loyalty_points"})
#: Requests: a short message read as one of these with this confidence is not a surname.
REQUEST_INTENTS = frozenset(
    {
        "flight_status",
        "change_booking",
        "cancel_booking",
        "refund_status",
        "baggage_allowance",
        "lost_baggage",
        "check_in",
        "seat_selection",
        "special_assistance",
        "loyalty_points",
        "travel_documents",
        "contact_hours",
        "book_flight",
        "human_request",
        "complaint",
    }
)
REQUEST_CONFIDENCE = 0.6
#: A surname is at most this many words, in a message of at most MAX_ANSWER_WORDS besides
#: the reference ("my name is Miller", "c'est Dubois").
MAX_SURNAME_WORDS = 4
MAX_ANSWER_WORDS = 6
#: Words around a surname that are not part of it, in English and French (folded). The same
#: are dropped from the records' names, so "de la Fontaine" and "Fontaine" still match.
_NOT_NAME = frozenset(
    "my name is its it s the surname last family passenger passengers and i am im "
    "of on for under reference ref booking mr mrs ms miss dr "
    "mon nom est c cest je m mappelle appelle suis de du la le famille passager passagere "
    "et reference reservation monsieur madame mme mlle".split()
)


def name_words(text: str) -> list[str]:
    """The words of a name as compared: folded ("Ó" → "o"), letters only ("O'Connor" is
    "o", "connor"), without the words around names."""
    return [w for w in re.findall(r"[a-z]+", fold(text)) if w not in _NOT_NAME]


def surnames(full_name: str) -> set[str]:
    """What matches a person's surname: their last words, joined ("Liam O'Connor" →
    "oconnor", "connor"), and their whole name ("liamoconnor")."""
    words = name_words(full_name)
    return {"".join(words[i:]) for i in range(len(words))} - {""}


def surname_attempt(ctx: Context) -> str | None:
    """The surname this message gives, as compared (see `name_words`); None when it gives
    none: no name-like words, a sentence, or a request ("where is my refund")."""
    turn = ctx.turn
    if turn.intent in REQUEST_INTENTS and turn.confidence >= REQUEST_CONFIDENCE:
        return None
    rest = turn.codes.reference_in_text.sub(" ", turn.text)
    if len(rest.split()) > MAX_ANSWER_WORDS:
        return None
    words = name_words(rest)
    if not 1 <= len(words) <= MAX_SURNAME_WORDS:
        return None
    return "".join(words)


def check_limits() -> CheckLimits:
    found = settings()
    return CheckLimits(
        failures=found.reference_check_limit,
        window=timedelta(minutes=found.reference_check_window_minutes),
    )


def is_proven(ctx: Context, reference: str, holder: bool = False) -> bool:
    """Whether this conversation proved `reference` is theirs (this turn, or lately)."""
    if reference.upper() in ctx.proofs:
        return ctx.proofs[reference.upper()] or not holder
    key = ("proven", reference.upper(), holder)
    if key not in ctx.cache:
        ctx.cache[key] = proven(
            ctx.records.db, ctx.tracker.sender_id, reference, ctx.now, holder=holder
        )
    return bool(ctx.cache[key])


def awaiting_surname(ctx: Context) -> bool:
    """An unidentified customer was asked for a surname and has not proven the reference."""
    reference = ctx.slot("booking_reference")
    intent = ctx.slot("pending_intent")
    if ctx.customer is not None or not reference or not intent:
        return False
    return not is_proven(ctx, reference, holder=intent in HOLDER_INTENTS)


def any_booking(booking: BookingView) -> bool:
    return True


def departure(booking: BookingView):  # type: ignore[no-untyped-def]
    return booking.segments[0].flight.scheduled_departure if booking.segments else None


def upcoming(ctx: Context) -> BookingFilter:
    """Bookings with a flight still ahead (or that left less than a day ago)."""
    from datetime import timedelta

    horizon = ctx.now - timedelta(days=1)

    def keep(booking: BookingView) -> bool:
        return any(s.flight.scheduled_departure >= horizon for s in booking.segments)

    return keep


def recent(ctx: Context) -> BookingFilter:
    """Bookings with a flight in the last 30 days or the next day."""
    from datetime import timedelta

    start, end = ctx.now - timedelta(days=30), ctx.now + timedelta(days=1)

    def keep(booking: BookingView) -> bool:
        return any(start <= s.flight.scheduled_departure <= end for s in booking.segments)

    return keep


def has_report(booking: BookingView) -> bool:
    return bool(booking.baggage_reports)


def has_refund(booking: BookingView) -> bool:
    return bool(booking.refunds)


def relevant_for(ctx: Context, intent: str) -> BookingFilter:
    """Which of the customer's bookings a request can be about."""
    if intent == "lost_baggage":
        return has_report
    if intent == "refund_status":
        return has_refund
    return upcoming(ctx)


def describe(ctx: Context, booking: BookingView) -> str:
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
) -> BookingView | None:
    """The booking this message is about, or None after asking the customer one question.

    With `ask=False` nothing is said when the booking is unknown (the caller answers generally).
    """
    if ctx.customer is None:
        return _for_unidentified(ctx, intent, ask)
    typed = ctx.turn.references()
    if typed:
        return _from_reference(ctx, intent, typed[0], ask)

    remembered = ctx.slot("booking_reference")
    if remembered:
        booking = ctx.records.booking_by_reference(remembered)
        if booking is not None and _visible(ctx, booking):
            return booking

    candidates = sorted(
        (b for b in ctx.customer.bookings if relevant(b)),
        key=lambda b: (departure(b) is None, departure(b)),
    )
    if len(candidates) == 1:
        return _chosen(ctx, candidates[0])
    if not candidates:
        if ask and not knowledge.general_answer(ctx, intent):
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


def _visible(ctx: Context, booking: BookingView) -> bool:
    """An identified customer sees only their own bookings (others: `_for_unidentified`)."""
    return ctx.customer is not None and booking.customer_id == ctx.customer.id


def _for_unidentified(ctx: Context, intent: str, ask: bool) -> BookingView | None:
    """The booking of a customer the bot cannot identify: the reference (typed now, or the
    one the conversation is about) once proven with a surname, in this message or before."""
    typed = ctx.turn.references()
    reference = typed[0] if typed else ctx.slot("booking_reference")
    if not reference:
        if ask and not knowledge.general_answer(ctx, intent):
            ctx.dispatcher.utter_message(text=knowledge.ask_for_booking(ctx, intent))
        return None
    if typed:
        # Remembered whether or not it exists: the next message may be its surname.
        ctx.set("booking_reference", reference)
    holder = intent in HOLDER_INTENTS
    if is_proven(ctx, reference, holder=holder):
        booking = ctx.records.booking_by_reference(reference)
        if booking is not None:
            return _chosen(ctx, booking)
    if not ask:
        # Nothing is checked unless the answer can say how it went (every check counts).
        return None
    surname = surname_attempt(ctx)
    if surname is None:
        if holder and is_proven(ctx, reference):
            # A passenger's surname proved the trip; the holder's account needs the holder.
            booking = ctx.records.booking_by_reference(reference)
            if booking is not None:
                return _chosen(ctx, booking)
        ctx.say("booking.ask_surname", ref=reference)
        ctx.set("pending_intent", intent)
        return None
    return _check(ctx, intent, reference, surname)


def _check(ctx: Context, intent: str, reference: str, surname: str) -> BookingView | None:
    """One check of `reference` with `surname`, counted, and its answer when it fails.

    The failure says the same whether the reference exists or not. The check is recorded as
    failed, in its own transaction, before it is made (relais/storage/identity.py).
    """
    limits = check_limits()
    engine = ctx.records.db.engine
    sender, network = ctx.tracker.sender_id, client_network(ctx.turn.client_address)
    check_id = run_atomic(
        engine,
        lambda s: start_check(
            s,
            sender=sender,
            network=network,
            reference=reference,
            now=ctx.now,
            keep_for=limits.window,
        ),
    )
    if not run_atomic(engine, lambda s: check_allowed(s, check_id, ctx.now, limits)):
        ctx.say("booking.checks_limited")
        ctx.set("pending_intent", None)
        ctx.set("pending_offer", "handoff")
        return None
    booking = ctx.records.booking_by_reference(reference)
    holder = booking is not None and surname in surnames(booking.customer.full_name)
    matched = booking is not None and (
        holder or any(surname in surnames(p.full_name) for p in booking.passengers)
    )
    if booking is not None and matched:
        run_atomic(engine, lambda s: check_passed(s, check_id, holder))
        ctx.proofs[reference.upper()] = holder
        return _chosen(ctx, booking)
    failures = int(ctx.slot("reference_failures") or 0) + 1
    ctx.set("reference_failures", failures)
    ctx.set("pending_intent", intent)
    if failures >= FAILURES_BEFORE_OFFER:
        ctx.say("booking.check_failed_offer_person", ref=reference)
        ctx.set("pending_offer", "handoff")
    else:
        ctx.say("booking.check_failed", ref=reference)
    return None


def _chosen(ctx: Context, booking: BookingView) -> BookingView:
    ctx.booking = booking
    ctx.set("booking_reference", booking.reference)
    ctx.set("pending_intent", None)
    ctx.set("reference_failures", 0)
    return booking


def _from_reference(ctx: Context, intent: str, reference: str, ask: bool) -> BookingView | None:
    booking = ctx.records.booking_by_reference(reference)
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
        # Only an identified customer gets here (`_for_unidentified` answers the others).
        ctx.say("booking.not_found_on_account", ref=reference)
    return None
