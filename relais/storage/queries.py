"""Customer-record look-ups the actions need; all their SQL lives here."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from relais.storage.identity import bound_customer, is_visitor_id
from relais.storage.records import Booking, Contact, Customer, Flight

#: The column that holds each channel's user id (sender ids look like "telegram:100001").
#: A web chat visitor ("web:v-…") is never looked up here: see `customer_for_sender`.
IDENTITY_COLUMNS = {
    "telegram": Customer.telegram_user_id,
    "x": Customer.x_user_id,
    "web": Customer.web_chat_id,
}


def split_sender(sender_id: str) -> tuple[str | None, str]:
    """'telegram:100001' → ('telegram', '100001'); an id without a known channel → (None, id)."""
    channel, _, identity = sender_id.partition(":")
    if identity and channel in IDENTITY_COLUMNS:
        return channel, identity
    return None, sender_id


def customer_for_sender(session: Session, sender_id: str) -> Customer | None:
    """The customer behind a conversation's sender id, if the channel identity is known.

    A web chat visitor's id is random and names nobody: their customer is the one their
    conversation was bound to once proven (relais/storage/identity.py). Other "web:" ids
    (a customer's web identity, as the REST channel's own callers use them) are looked up.
    """
    channel, identity = split_sender(sender_id)
    if channel is None:
        return None
    if channel == "web" and is_visitor_id(identity):
        return bound_customer(session, sender_id)
    column = IDENTITY_COLUMNS[channel]
    return session.execute(select(Customer).where(column == identity)).scalars().first()


def booking_by_reference(session: Session, reference: str) -> Booking | None:
    """A booking by its reference (case-insensitive; bound parameter, never formatted SQL)."""
    return (
        session.execute(select(Booking).where(Booking.reference == reference.upper()))
        .scalars()
        .first()
    )


def next_flight(session: Session, number: str, now: datetime) -> Flight | None:
    """The next departure of a flight number (or its latest one if none is ahead)."""
    number = number.replace(" ", "").upper()
    flights = (
        session.execute(
            select(Flight).where(Flight.number == number).order_by(Flight.scheduled_departure)
        )
        .scalars()
        .all()
    )
    upcoming = [f for f in flights if f.scheduled_departure >= now - timedelta(hours=12)]
    if upcoming:
        return upcoming[0]
    return flights[-1] if flights else None


def recent_contact(
    session: Session,
    *,
    references: list[str],
    customer: Customer | None,
    topic: str,
    since: datetime,
) -> bool:
    """Whether a past contact since `since` concerned one of these bookings (or, for a known
    customer with no booking named, the same topic)."""
    refs = [r.upper() for r in references if r]
    query = select(Contact.id).where(Contact.created_at >= since)
    if refs:
        query = query.join(Booking, Contact.booking_id == Booking.id)
        query = query.where(Booking.reference.in_(refs))
    elif customer is not None:
        query = query.where(Contact.customer_id == customer.id, Contact.topic == topic)
    else:
        return False
    return session.execute(query.limit(1)).first() is not None
