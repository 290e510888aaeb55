"""Customer-record look-ups the actions need; all their SQL lives here."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from relais.records import Booking, Customer, Flight

#: The column that holds each channel's user id (sender ids look like "telegram:100001").
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
    """The customer behind a conversation's sender id, if the channel identity is known."""
    channel, identity = split_sender(sender_id)
    if channel is None:
        return None
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
