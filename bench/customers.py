"""Load-test customers: each benchmark conversation is a customer with a booking of their own.

The demo records (`relais seed`) hold six customers; a benchmark needs as many as it has
conversations, so that every answer is looked up in that customer's own records. Each load
customer gets a copy of a demo booking (same flights, new reference "XYL###", their own
name as passenger) and a web chat id "load-###".
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from relais.core.types import Language, LoyaltyTier
from relais.storage.records import Booking, Customer, Passenger, Segment

#: Demo bookings copied for load customers: (reference, language of the customer).
TEMPLATES = (("XY7T2M", Language.EN), ("XY9QW1", Language.FR))
FIRST = ("Alex", "Camille", "Sam", "Louise", "Jordan", "Hugo", "Robin", "Chloé")
LAST = ("Martin", "Bernard", "Petit", "Moreau", "Lefèvre", "Garnier", "Roux", "Fontaine")


def load_sender(index: int) -> str:
    return f"load-{index:03d}"


def add_load_customers(session: Session, count: int) -> list[str]:
    """Adds `count` load customers (idempotent: existing ones are kept); returns their web ids."""
    if count > 1000:
        raise ValueError("at most 1000 load customers (references XYL000-XYL999)")
    templates = []
    for reference, language in TEMPLATES:
        booking = session.execute(
            select(Booking).where(Booking.reference == reference)
        ).scalar_one()
        templates.append((booking, language))
    senders = []
    for index in range(count):
        sender = load_sender(index)
        senders.append(sender)
        if session.execute(select(Customer.id).where(Customer.web_chat_id == sender)).first():
            continue
        template, language = templates[index % len(templates)]
        name = f"{FIRST[index % len(FIRST)]} {LAST[(index // len(FIRST)) % len(LAST)]}"
        customer = Customer(
            full_name=name,
            email=f"{sender}@example.org",
            preferred_language=language,
            loyalty_tier=LoyaltyTier.BASIC,
            loyalty_points=1000 + index,
            web_chat_id=sender,
        )
        booking = Booking(
            reference=f"XYL{index:03d}",
            customer=customer,
            fare_family=template.fare_family,
            changeable=template.changeable,
            change_fee=template.change_fee,
            refundable=template.refundable,
            cancellation_fee=template.cancellation_fee,
            total_paid=template.total_paid,
            currency=template.currency,
            checked_bags_included=template.checked_bags_included,
            cabin_bag_kg=template.cabin_bag_kg,
            status=template.status,
        )
        booking.passengers.append(Passenger(full_name=name))
        for segment in template.segments:
            booking.segments.append(Segment(flight=segment.flight, sequence=segment.sequence))
        session.add(customer)
    session.flush()
    return senders
