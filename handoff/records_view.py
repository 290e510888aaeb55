"""What the console shows of a customer's records, and replies suggested from them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from relais.core.texts import LANGUAGES, say
from relais.storage.conversations import Conversation
from relais.storage.escalations import Escalation
from relais.storage.queries import booking_by_reference
from relais.storage.records import Booking, Contact, Customer


def customer(session: Session, customer_id: int | None) -> dict[str, Any] | None:
    found = session.get(Customer, customer_id) if customer_id else None
    if found is None:
        return None
    return {
        "id": found.id,
        "name": found.full_name,
        "email": found.email,
        "tier": str(found.loyalty_tier),
        "points": found.loyalty_points,
        "language": str(found.preferred_language),
    }


#: What the console shows over the records of a booking whose reference the customer typed
#: without proving it (no surname): whoever typed it may not be its holder.
NOT_VERIFIED = "Not verified — the customer typed this reference but has not been identified."


def records(
    session: Session,
    conversation: Conversation,
    now: datetime,
    escalation: Escalation | None = None,
) -> dict[str, Any]:
    """The customer, their bookings (flights, bags, refunds) and past contacts.

    An identified customer: all theirs. A customer the bot could not identify: the booking
    they proved with its reference and a surname (the escalation's "booking_reference"), and
    the booking whose reference they typed without proving it (`escalation.typed_reference`),
    with `verified` false and `unverified` saying so: its holder's own details are not shown,
    and no reply is suggested from it (`suggestions`).
    """
    found = session.get(Customer, conversation.customer_id) if conversation.customer_id else None
    if found is not None:
        return {
            "customer": customer(session, found.id),
            "bookings": [_booking(b, verified=True) for b in found.bookings],
            "contacts": _contacts(found.contacts),
            "unverified": None,
        }
    proven_reference = (escalation.context or {}).get("booking_reference") if escalation else None
    proven = _booking_named(session, proven_reference)
    typed_reference = escalation.typed_reference if escalation else None
    typed = None
    unverified = None
    if typed_reference and (proven is None or proven.reference != typed_reference.upper()):
        typed = _booking_named(session, typed_reference)
        unverified = {
            "reference": typed_reference.upper(),
            "known": typed is not None,
            "notice": NOT_VERIFIED,
        }
    shown = [(b, b is proven) for b in (proven, typed) if b is not None]
    return {
        "customer": None,
        "bookings": [_booking(b, verified=verified) for b, verified in shown],
        # Past contacts are the holder's history: shown only for a booking proven to be theirs.
        "contacts": _contacts([c for b, verified in shown if verified for c in b.contacts]),
        "unverified": unverified,
    }


def _booking_named(session: Session, reference: object) -> Booking | None:
    if not isinstance(reference, str) or not reference.strip():
        return None
    return booking_by_reference(session, reference.strip())


def _booking(b: Booking, *, verified: bool) -> dict[str, Any]:
    return {
        "reference": b.reference,
        "verified": verified,
        "status": str(b.status),
        "fare": str(b.fare_family),
        "paid": f"{b.total_paid} {b.currency}",
        "flights": [
            {
                "number": s.flight.number,
                "from": s.flight.origin_city,
                "to": s.flight.destination_city,
                "departure": s.flight.scheduled_departure.isoformat() + "Z",
                "status": str(s.flight.status),
                "estimated": (s.flight.estimated_departure.isoformat() + "Z")
                if s.flight.estimated_departure
                else None,
                "gate": s.flight.gate,
            }
            for s in b.segments
        ],
        "bags": [
            {
                "file": r.file_reference,
                "kind": str(r.kind),
                "status": str(r.status),
                "last_seen": r.last_seen,
            }
            for r in b.baggage_reports
        ],
        "refunds": [
            {
                "amount": f"{r.amount} {r.currency}",
                "status": str(r.status),
                "expected": r.expected_date.isoformat() if r.expected_date else None,
            }
            for r in b.refunds
        ],
    }


def _contacts(contacts: Iterable[Contact]) -> list[dict[str, Any]]:
    """The ten latest (by last activity), newest first."""
    return [
        {
            "at": c.created_at.isoformat() + "Z",
            "last_at": (c.last_at or c.created_at).isoformat() + "Z",
            "channel": str(c.channel),
            "topic": c.topic,
            "summary": c.summary,
            "handled_by": str(c.handled_by),
            "booking": c.booking.reference if c.booking else None,
        }
        for c in sorted(contacts, key=lambda c: c.last_at or c.created_at, reverse=True)[:10]
    ]


def suggestions(records: dict[str, Any], escalation: Escalation | None, lang: str) -> list[str]:
    """Replies grounded in the records, for the agent to edit and send (never sent alone)."""
    # A conversation in a language the bot does not speak still gets suggestions, in English.
    lang = lang if lang in LANGUAGES else "en"
    person = records.get("customer") or {}
    hello = say("suggest.hello", lang, name=(person.get("name") or "").split(" ")[0])
    reference = (escalation.context or {}).get("booking_reference") if escalation else None
    out: list[str] = []
    for booking in records.get("bookings") or []:
        if reference and booking["reference"] != reference:
            continue
        if booking.get("verified") is False:
            continue  # whoever typed its reference may not be its holder
        for refund in booking["refunds"]:
            out.append(
                say(
                    "suggest.refund",
                    lang,
                    hello=hello,
                    amount=refund["amount"],
                    ref=booking["reference"],
                    status=refund["status"],
                    when=refund["expected"] or say("suggest.refund_soon", lang),
                )
            )
        for bag in booking["bags"]:
            out.append(
                say(
                    "suggest.bag",
                    lang,
                    hello=hello,
                    file=bag["file"],
                    status=bag["status"],
                    seen=bag["last_seen"] or say("suggest.bag_unknown", lang),
                )
            )
        for flight in booking["flights"]:
            if flight["status"] != "on_time":
                # "on_time", the one status with an underscore, is never suggested, so the
                # French text (which quotes the raw status) reads the same.
                out.append(
                    say(
                        "suggest.flight",
                        lang,
                        hello=hello,
                        flight=flight["number"],
                        origin=flight["from"],
                        destination=flight["to"],
                        status=flight["status"].replace("_", " "),
                    )
                )
    if not out:
        out.append(say("suggest.ask_reference", lang, hello=hello))
    return out[:4]
