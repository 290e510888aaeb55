"""What the console shows of a customer's records, and replies suggested from them."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from relais.storage.conversations import Conversation
from relais.storage.escalations import Escalation
from relais.storage.records import Customer


def customer(session: Session, customer_id: int | None) -> dict[str, Any] | None:
    found = session.get(Customer, customer_id) if customer_id else None
    if found is None:
        return None
    return {"id": found.id, "name": found.full_name, "email": found.email,
            "tier": str(found.loyalty_tier), "points": found.loyalty_points,
            "language": str(found.preferred_language)}


def records(session: Session, conversation: Conversation, now: datetime) -> dict[str, Any]:
    """The customer, their bookings (flights, bags, refunds) and past contacts."""
    found = session.get(Customer, conversation.customer_id) if conversation.customer_id else None
    if found is None:
        return {"customer": None, "bookings": [], "contacts": []}
    bookings = []
    for b in found.bookings:
        bookings.append({
            "reference": b.reference, "status": str(b.status), "fare": str(b.fare_family),
            "paid": f"{b.total_paid} {b.currency}",
            "flights": [{"number": s.flight.number, "from": s.flight.origin_city,
                         "to": s.flight.destination_city,
                         "departure": s.flight.scheduled_departure.isoformat() + "Z",
                         "status": str(s.flight.status),
                         "estimated": (s.flight.estimated_departure.isoformat() + "Z")
                         if s.flight.estimated_departure else None,
                         "gate": s.flight.gate} for s in b.segments],
            "bags": [{"file": r.file_reference, "kind": str(r.kind), "status": str(r.status),
                      "last_seen": r.last_seen} for r in b.baggage_reports],
            "refunds": [{"amount": f"{r.amount} {r.currency}", "status": str(r.status),
                         "expected": r.expected_date.isoformat() if r.expected_date else None}
                        for r in b.refunds],
        })
    contacts = [{"at": c.created_at.isoformat() + "Z", "channel": str(c.channel), "topic": c.topic,
                 "summary": c.summary, "handled_by": str(c.handled_by),
                 "booking": c.booking.reference if c.booking else None}
                for c in sorted(found.contacts, key=lambda c: c.created_at, reverse=True)[:10]]
    return {"customer": customer(session, found.id), "bookings": bookings, "contacts": contacts}


def suggestions(records: dict[str, Any], escalation: Escalation | None, lang: str) -> list[str]:
    """Replies grounded in the records, for the agent to edit and send (never sent alone)."""
    person = records.get("customer") or {}
    name = (person.get("name") or "").split(" ")[0]
    fr = lang == "fr"
    hello = (f"Bonjour {name}, " if fr else f"Hello {name}, ") if name else ("Bonjour, " if fr else "Hello, ")
    reference = (escalation.context or {}).get("booking_reference") if escalation else None
    out: list[str] = []
    for booking in records.get("bookings") or []:
        if reference and booking["reference"] != reference:
            continue
        for refund in booking["refunds"]:
            when = refund["expected"] or ("bientôt" if fr else "soon")
            out.append(hello + (f"votre remboursement de {refund['amount']} pour {booking['reference']} "
                                f"est au statut « {refund['status']} », date prévue : {when}."
                                if fr else
                                f"your refund of {refund['amount']} for {booking['reference']} is "
                                f"{refund['status']}; expected by {when}."))
        for bag in booking["bags"]:
            seen = bag["last_seen"] or ("inconnu" if fr else "unknown")
            out.append(hello + (f"votre dossier bagage {bag['file']} est au statut « {bag['status']} » "
                                f"(dernière position : {seen})."
                                if fr else
                                f"your baggage file {bag['file']} is {bag['status']} (last seen: {seen})."))
        for flight in booking["flights"]:
            if flight["status"] != "on_time":
                out.append(hello + (f"le vol {flight['number']} {flight['from']} → {flight['to']} "
                                    f"est au statut « {flight['status']} »."
                                    if fr else
                                    f"flight {flight['number']} {flight['from']} → {flight['to']} "
                                    f"is {flight['status'].replace('_', ' ')}."))
    if not out:
        out.append(hello + ("je m'occupe de votre demande. Pouvez-vous me donner votre référence "
                            "de réservation ?" if fr else
                            "I'm looking into this now. Could you give me your booking reference?"))
    return out[:4]
