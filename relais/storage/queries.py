"""Customer-record look-ups the actions need, and the contacts recorded in conversations;
all their SQL lives here."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from relais.core.types import Channel, HandledBy, utcnow
from relais.storage.identity import bound_customer, is_visitor_id
from relais.storage.records import Booking, Contact, Customer, Flight

#: How long without a message before a conversation counts as a new one: Rasa's session
#: expiration (`session_expiration_time` in domain.yml). The callers pass escalation.yml's
#: `conversation_gap_minutes`; this is `recent_contact`'s default (a unit test keeps the
#: three equal).
CONVERSATION_GAP = timedelta(minutes=240)
#: The longest topic a contact holds (`Contact.topic`).
_MAX_TOPIC = 64
#: A contact's last activity: `last_at`, or `created_at` for one never updated.
_LAST_ACTIVITY = func.coalesce(Contact.last_at, Contact.created_at)

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
    conversation_id: str | None = None,
    gap: timedelta | None = None,
    now: datetime | None = None,
) -> bool:
    """Whether a past contact active since `since` concerned one of these bookings (or, for
    a known customer with no booking named, the same topic).

    With `conversation_id`, the contacts of that conversation active within `gap` (default
    `CONVERSATION_GAP`) of `now` (default: the clock) are not counted: they are the
    conversation going on now, and neither it nor a person's handling of it counts against
    the customer. That conversation's contacts from longer ago, and other conversations',
    still count.
    """
    refs = [r.upper() for r in references if r]
    last = _LAST_ACTIVITY
    query = select(Contact.id).where(last >= since)
    if refs:
        query = query.join(Booking, Contact.booking_id == Booking.id)
        query = query.where(Booking.reference.in_(refs))
    elif customer is not None:
        query = query.where(Contact.customer_id == customer.id, Contact.topic == topic)
    else:
        return False
    if conversation_id is not None:
        current_since = (utcnow() if now is None else now) - (
            CONVERSATION_GAP if gap is None else gap
        )
        query = query.where(
            or_(
                Contact.conversation_id.is_(None),
                Contact.conversation_id != conversation_id,
                last < current_since,
            )
        )
    return session.execute(query.limit(1)).first() is not None


def record_contact(
    session: Session,
    *,
    conversation_id: str,
    booking: Booking,
    topic: str,
    handled_by: HandledBy,
    summary: str,
    now: datetime,
    gap: timedelta,
) -> Contact:
    """Records that conversation `conversation_id` was about `booking`: one contact per
    conversation and booking while the conversation goes on.

    A contact of this conversation on this booking active within `gap` of `now` is updated
    (last activity, topic, summary; once a person handled it, it stays handled by an agent);
    otherwise a new one is added for the booking's customer. Returns the contact (flushed).
    """
    channel, _ = split_sender(conversation_id)
    if channel is None:
        raise ValueError(f"record_contact: not a conversation id: {conversation_id!r}")
    topic = topic.strip()[:_MAX_TOPIC]
    summary = summary.strip()
    last = _LAST_ACTIVITY
    current = (
        session.execute(
            select(Contact)
            .where(
                Contact.conversation_id == conversation_id,
                Contact.booking_id == booking.id,
                last >= now - gap,
            )
            .order_by(last.desc(), Contact.id.desc())
            .limit(1)
            # Two workers recording the same contact update it one after the other.
            .with_for_update()
        )
        .scalars()
        .first()
    )
    if current is not None:
        current.last_at = max(now, current.last_at or current.created_at)
        current.topic = topic
        current.summary = summary
        if handled_by == HandledBy.AGENT:
            current.handled_by = HandledBy.AGENT
        session.flush()
        return current
    contact = Contact(
        customer_id=booking.customer_id,
        booking_id=booking.id,
        conversation_id=conversation_id,
        channel=Channel(channel),
        topic=topic,
        summary=summary,
        handled_by=handled_by,
        created_at=now,
        last_at=now,
    )
    session.add(contact)
    session.flush()
    return contact
