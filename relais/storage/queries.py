"""Customer-record look-ups the actions need, and the contacts recorded in conversations;
all their SQL lives here.

The action server reads the records through `RecordReader`: SQLAlchemy Core selects of the
columns the actions use, into read-only views (`CustomerView`, `BookingView`…), each row read
once per request. A customer comes with their bookings, flights included, in one statement;
passengers, seats, refunds and baggage reports are read when first used. `make profile` had
the ORM's entity loading (identity map, lazy loads, one statement per relationship) as most
of the action server's time. The ORM functions below (`customer_for_sender`,
`booking_by_reference`, `record_contact`) are what the gateway and the console use.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any, TypeVar

from sqlalchemy import Column, bindparam, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement, FromClause, Select

from relais.core.types import (
    BaggageStatus,
    BookingStatus,
    Channel,
    FareFamily,
    FlightStatus,
    HandledBy,
    Language,
    LoyaltyTier,
    RefundStatus,
    utcnow,
)
from relais.storage.conversations import Conversation
from relais.storage.identity import bound_customer, is_visitor_id
from relais.storage.records import (
    BaggageReport,
    Booking,
    Contact,
    Customer,
    Flight,
    Passenger,
    Refund,
    SeatAssignment,
    Segment,
    delay_minutes,
)

#: How long without a message before a conversation counts as a new one: Rasa's session
#: expiration (`session_expiration_time` in domain.yml). The callers pass escalation.yml's
#: `conversation_gap_minutes`; this is `recent_contact`'s default (a unit test keeps the
#: three equal).
CONVERSATION_GAP = timedelta(minutes=240)
#: The longest topic a contact holds (`Contact.topic`).
_MAX_TOPIC = 64

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


# --- what the actions read: views of the records, read with Core -----------------------------


@dataclass(frozen=True, eq=False)
class FlightView:
    """A flight as the actions read it (`Flight`'s columns)."""

    id: int
    number: str
    origin_code: str
    origin_city: str
    destination_code: str
    destination_city: str
    destination_country: str
    origin_tz: str
    destination_tz: str
    scheduled_departure: datetime
    scheduled_arrival: datetime
    estimated_departure: datetime | None
    estimated_arrival: datetime | None
    gate: str | None
    terminal: str | None
    status: FlightStatus

    @property
    def delay_minutes(self) -> int:
        """Minutes the departure is expected late (0 when on time, cancelled or unknown)."""
        return delay_minutes(self.scheduled_departure, self.estimated_departure)


@dataclass(frozen=True, eq=False)
class PassengerView:
    """A person travelling on a booking (`Passenger`'s columns)."""

    id: int
    full_name: str
    special_assistance: str | None


@dataclass(frozen=True, eq=False)
class SeatView:
    """A passenger's seat on one segment; `seat` is None until one is chosen."""

    passenger_name: str
    seat: str | None


@dataclass(frozen=True, eq=False)
class RefundView:
    """Money owed back on a booking (`Refund`'s columns)."""

    id: int
    amount: Decimal
    currency: str
    status: RefundStatus
    reason: str
    requested_at: datetime
    expected_date: date | None
    paid_at: datetime | None


@dataclass(frozen=True, eq=False)
class BaggageReportView:
    """A report on a late or damaged bag (`BaggageReport`'s columns, and its flight's number)."""

    id: int
    file_reference: str
    status: BaggageStatus
    description: str
    last_seen: str | None
    expected_delivery: datetime | None
    created_at: datetime
    flight_number: str


@dataclass(frozen=True, eq=False)
class SegmentView:
    """One flight of a booking, in travel order; its seats are read when first used."""

    id: int
    sequence: int
    flight: FlightView
    reader: RecordReader = field(repr=False)

    @cached_property
    def seats(self) -> tuple[SeatView, ...]:
        return self.reader.seats(self.id)


@dataclass(frozen=True, eq=False)
class BookingView:
    """A booking with its flights; passengers, refunds, baggage reports and the holder are
    read when first used."""

    id: int
    reference: str
    customer_id: int
    fare_family: FareFamily
    changeable: bool
    change_fee: Decimal
    refundable: bool
    cancellation_fee: Decimal
    total_paid: Decimal
    currency: str
    checked_bags_included: int
    cabin_bag_kg: int
    status: BookingStatus
    segments: tuple[SegmentView, ...]
    reader: RecordReader = field(repr=False)

    @cached_property
    def customer(self) -> CustomerView:
        found = self.reader.customer(self.customer_id)
        if found is None:  # a foreign key: only a concurrent deletion gets here
            raise LookupError(f"booking {self.reference} has no customer {self.customer_id}")
        return found

    @cached_property
    def passengers(self) -> tuple[PassengerView, ...]:
        return self.reader.passengers(self.id)

    @cached_property
    def refunds(self) -> tuple[RefundView, ...]:
        return self.reader.refunds(self.id)

    @cached_property
    def baggage_reports(self) -> tuple[BaggageReportView, ...]:
        return self.reader.baggage_reports(self.id)


@dataclass(frozen=True, eq=False)
class CustomerView:
    """A customer; their bookings are read with them by `RecordReader.customer_for_sender`."""

    id: int
    full_name: str
    preferred_language: Language
    loyalty_tier: LoyaltyTier
    loyalty_points: int
    reader: RecordReader = field(repr=False)

    @property
    def bookings(self) -> tuple[BookingView, ...]:
        return self.reader.bookings_of(self.id)


def _columns(view: type, table: FromClause, *skip: str) -> list[Column[Any]]:
    """`table`'s columns named like the fields of `view` (but `skip`), in the fields' order."""
    return [table.c[f.name] for f in fields(view) if f.name not in skip]


# The statements are built once: SQLAlchemy then finds each one's compiled form in its cache
# without building the statement and its cache key again (most of a query's cost here).
_FLIGHTS, _BOOKINGS, _CUSTOMERS = Flight.__table__, Booking.__table__, Customer.__table__
_SEGMENTS, _CONVERSATIONS = Segment.__table__, Conversation.__table__
_PASSENGERS, _SEATS = Passenger.__table__, SeatAssignment.__table__
_REFUNDS, _REPORTS = Refund.__table__, BaggageReport.__table__
_FLIGHT = _columns(FlightView, _FLIGHTS)
_BOOKING = _columns(BookingView, _BOOKINGS, "segments", "reader")
_CUSTOMER = _columns(CustomerView, _CUSTOMERS, "reader")
_SEGMENT = [_SEGMENTS.c.id, _SEGMENTS.c.sequence]


def _with_flights(source: FromClause) -> FromClause:
    """`source` (holding bookings) with each booking's segments and their flights, outer-joined
    one after the other (a nested join made SQLite build the join of every booking)."""
    return source.outerjoin(_SEGMENTS, _SEGMENTS.c.booking_id == _BOOKINGS.c.id).outerjoin(
        _FLIGHTS, _FLIGHTS.c.id == _SEGMENTS.c.flight_id
    )


#: Bookings in the order they were made, each one's segments in travel order.
_BOOKING_ORDER = (_BOOKINGS.c.id, _SEGMENTS.c.sequence)


def _customer_with_bookings(source: FromClause, condition: ColumnElement[bool]) -> Select:
    return (
        select(*_CUSTOMER, *_BOOKING, *_SEGMENT, *_FLIGHT)
        .select_from(
            _with_flights(source.outerjoin(_BOOKINGS, _BOOKINGS.c.customer_id == _CUSTOMERS.c.id))
        )
        .where(condition)
        .order_by(*_BOOKING_ORDER)
    )


#: A customer with their bookings, by channel identity (:identity), and for a web chat
#: visitor the customer their conversation (:sender) was bound to (identity.py).
_CUSTOMER_BY_IDENTITY = {
    channel: _customer_with_bookings(_CUSTOMERS, _CUSTOMERS.c[column.key] == bindparam("identity"))
    for channel, column in IDENTITY_COLUMNS.items()
}
_CUSTOMER_OF_VISITOR = _customer_with_bookings(
    _CONVERSATIONS.join(_CUSTOMERS, _CUSTOMERS.c.id == _CONVERSATIONS.c.customer_id),
    _CONVERSATIONS.c.id == bindparam("sender"),
)
_CUSTOMER_BY_ID = select(*_CUSTOMER).where(_CUSTOMERS.c.id == bindparam("customer_id"))
_BOOKINGS_WITH_FLIGHTS = (
    select(*_BOOKING, *_SEGMENT, *_FLIGHT)
    .select_from(_with_flights(_BOOKINGS))
    .order_by(*_BOOKING_ORDER)
)
_BOOKINGS_OF = _BOOKINGS_WITH_FLIGHTS.where(_BOOKINGS.c.customer_id == bindparam("customer_id"))
_BOOKING_BY_REFERENCE = _BOOKINGS_WITH_FLIGHTS.where(
    _BOOKINGS.c.reference == bindparam("reference")
)
_FLIGHTS_BY_NUMBER = (
    select(*_FLIGHT)
    .where(_FLIGHTS.c.number == bindparam("number"))
    .order_by(_FLIGHTS.c.scheduled_departure)
)
_PASSENGERS_OF = (
    select(*_columns(PassengerView, _PASSENGERS))
    .where(_PASSENGERS.c.booking_id == bindparam("booking_id"))
    .order_by(_PASSENGERS.c.id)
)
_SEATS_ON = (
    select(_PASSENGERS.c.full_name, _SEATS.c.seat)
    .join_from(_SEATS, _PASSENGERS, _PASSENGERS.c.id == _SEATS.c.passenger_id)
    .where(_SEATS.c.segment_id == bindparam("segment_id"))
    .order_by(_SEATS.c.id)
)
_REFUNDS_OF = (
    select(*_columns(RefundView, _REFUNDS))
    .where(_REFUNDS.c.booking_id == bindparam("booking_id"))
    .order_by(_REFUNDS.c.requested_at)
)
_REPORTS_OF = (
    select(*_columns(BaggageReportView, _REPORTS, "flight_number"), _FLIGHTS.c.number)
    .join_from(_REPORTS, _FLIGHTS, _FLIGHTS.c.id == _REPORTS.c.flight_id)
    .where(_REPORTS.c.booking_id == bindparam("booking_id"))
    .order_by(_REPORTS.c.created_at)
)
V = TypeVar("V")


def _view(view: Callable[..., V], values: Sequence[Any], **more: Any) -> V:
    """A view from a row's values, in its fields' order (then the fields given by name)."""
    return view(*values, **more)


class RecordReader:
    """The records one request of the action server reads, on one connection and its
    transaction: each customer and booking is read once, then served from here."""

    def __init__(self, db: Connection) -> None:
        self.db = db
        self._customers: dict[int, CustomerView | None] = {}
        self._bookings_of: dict[int, tuple[BookingView, ...]] = {}
        self._by_reference: dict[str, BookingView | None] = {}
        self._flights: dict[int, FlightView] = {}

    def _rows(self, query: Select, **params: Any) -> Sequence[Row]:
        return self.db.execute(query, params).all()

    # -- customers and their bookings ---------------------------------------------------

    def customer_for_sender(self, sender_id: str) -> CustomerView | None:
        """The customer behind a conversation's sender id (as `customer_for_sender`), read
        with their bookings and flights in one statement."""
        channel, identity = split_sender(sender_id)
        if channel is None:
            return None
        if channel == "web" and is_visitor_id(identity):
            rows = self._rows(_CUSTOMER_OF_VISITOR, sender=sender_id)
        else:
            rows = self._rows(_CUSTOMER_BY_IDENTITY[channel], identity=identity)
        if not rows:
            return None
        customer = _view(CustomerView, rows[0][: len(_CUSTOMER)], reader=self)
        self._customers[customer.id] = customer
        self._bookings_of[customer.id] = self._bookings(rows, len(_CUSTOMER))
        return customer

    def customer(self, customer_id: int) -> CustomerView | None:
        if customer_id not in self._customers:
            row = self.db.execute(_CUSTOMER_BY_ID, {"customer_id": customer_id}).first()
            self._customers[customer_id] = (
                None if row is None else _view(CustomerView, row, reader=self)
            )
        return self._customers[customer_id]

    def bookings_of(self, customer_id: int) -> tuple[BookingView, ...]:
        """A customer's bookings, in the order they were made, each with its flights."""
        if customer_id not in self._bookings_of:
            rows = self._rows(_BOOKINGS_OF, customer_id=customer_id)
            self._bookings_of[customer_id] = self._bookings(rows, 0)
        return self._bookings_of[customer_id]

    def booking_by_reference(self, reference: str) -> BookingView | None:
        """A booking by its reference (case-insensitive; bound parameter, never formatted SQL)."""
        reference = reference.upper()
        if reference not in self._by_reference:
            found = self._bookings(self._rows(_BOOKING_BY_REFERENCE, reference=reference), 0)
            self._by_reference[reference] = found[0] if found else None
        return self._by_reference[reference]

    def _bookings(self, rows: Sequence[Row], start: int) -> tuple[BookingView, ...]:
        """Bookings from rows holding, from `start`, a booking's, a segment's and a flight's
        columns (outer-joined: None where the customer has no booking or the booking no
        segment), in booking order."""
        segment_at = start + len(_BOOKING)
        flight_at = segment_at + len(_SEGMENT)
        found: dict[int, tuple[Row, list[SegmentView]]] = {}
        for row in rows:
            booking_id = row[start]
            if booking_id is None:
                continue
            _, segments = found.setdefault(booking_id, (row, []))
            if row[segment_at] is not None:
                flight = self._flight(row[flight_at:])
                segments.append(
                    _view(SegmentView, row[segment_at:flight_at], flight=flight, reader=self)
                )
        bookings = tuple(
            _view(BookingView, row[start:segment_at], segments=tuple(segments), reader=self)
            for row, segments in found.values()
        )
        for booking in bookings:
            self._by_reference[booking.reference] = booking
        return bookings

    def _flight(self, values: Sequence[Any]) -> FlightView:
        flight = self._flights.get(values[0])
        if flight is None:
            flight = self._flights[values[0]] = _view(FlightView, values)
        return flight

    # -- flights ---------------------------------------------------------------------------

    def next_flight(self, number: str, now: datetime) -> FlightView | None:
        """The next departure of a flight number (or its latest one if none is ahead)."""
        number = number.replace(" ", "").upper()
        flights = [self._flight(row) for row in self._rows(_FLIGHTS_BY_NUMBER, number=number)]
        upcoming = [f for f in flights if f.scheduled_departure >= now - timedelta(hours=12)]
        if upcoming:
            return upcoming[0]
        return flights[-1] if flights else None

    # -- what a booking holds, read when first used ----------------------------------------

    def passengers(self, booking_id: int) -> tuple[PassengerView, ...]:
        return self._views(PassengerView, _PASSENGERS_OF, booking_id=booking_id)

    def seats(self, segment_id: int) -> tuple[SeatView, ...]:
        return self._views(SeatView, _SEATS_ON, segment_id=segment_id)

    def refunds(self, booking_id: int) -> tuple[RefundView, ...]:
        return self._views(RefundView, _REFUNDS_OF, booking_id=booking_id)

    def baggage_reports(self, booking_id: int) -> tuple[BaggageReportView, ...]:
        return self._views(BaggageReportView, _REPORTS_OF, booking_id=booking_id)

    def _views(self, view: Callable[..., V], query: Select, **params: Any) -> tuple[V, ...]:
        return tuple(_view(view, row) for row in self._rows(query, **params))


# --- contacts --------------------------------------------------------------------------------

_CONTACTS = Contact.__table__
_CONTACT_LAST_ACTIVITY = func.coalesce(_CONTACTS.c.last_at, _CONTACTS.c.created_at)


@functools.cache
def _recent_contact_query(by_references: bool, current_conversation: bool) -> Select:
    """`recent_contact`'s statement: by booking references (:references) or by customer
    and topic; with `current_conversation`, without the contacts of the conversation going
    on (:conversation_id, active since :current_since)."""
    last = _CONTACT_LAST_ACTIVITY
    query = select(_CONTACTS.c.id).where(last >= bindparam("since"))
    if by_references:
        query = query.join_from(
            _CONTACTS, _BOOKINGS, _CONTACTS.c.booking_id == _BOOKINGS.c.id
        ).where(_BOOKINGS.c.reference.in_(bindparam("references", expanding=True)))
    else:
        query = query.where(
            _CONTACTS.c.customer_id == bindparam("customer_id"),
            _CONTACTS.c.topic == bindparam("topic"),
        )
    if current_conversation:
        query = query.where(
            or_(
                _CONTACTS.c.conversation_id.is_(None),
                _CONTACTS.c.conversation_id != bindparam("conversation_id"),
                last < bindparam("current_since"),
            )
        )
    return query.limit(1)


def recent_contact(
    session: Session | Connection,
    *,
    references: list[str],
    customer: Customer | CustomerView | None,
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
    params: dict[str, Any] = {"since": since}
    if refs:
        params["references"] = refs
    elif customer is not None:
        params.update(customer_id=customer.id, topic=topic)
    else:
        return False
    if conversation_id is not None:
        params["conversation_id"] = conversation_id
        params["current_since"] = (utcnow() if now is None else now) - (
            CONVERSATION_GAP if gap is None else gap
        )
    query = _recent_contact_query(bool(refs), conversation_id is not None)
    return session.execute(query, params).first() is not None


#: The contact of a conversation on a booking still going on, locked: two workers recording
#: the same contact update it one after the other.
_CURRENT_CONTACT = (
    select(_CONTACTS.c.id, _CONTACTS.c.last_at, _CONTACTS.c.created_at)
    .where(
        _CONTACTS.c.conversation_id == bindparam("conversation_id"),
        _CONTACTS.c.booking_id == bindparam("booking_id"),
        _CONTACT_LAST_ACTIVITY >= bindparam("since"),
    )
    .order_by(_CONTACT_LAST_ACTIVITY.desc(), _CONTACTS.c.id.desc())
    .limit(1)
    .with_for_update()
)
#: Sets the columns named by the parameters (but :contact_id) of one contact.
_UPDATE_CONTACT = update(_CONTACTS).where(_CONTACTS.c.id == bindparam("contact_id"))
_INSERT_CONTACT = insert(_CONTACTS)


def touch_contact(
    db: Session | Connection,
    *,
    conversation_id: str,
    booking: Booking | BookingView,
    topic: str,
    handled_by: HandledBy,
    summary: str,
    now: datetime,
    gap: timedelta,
) -> int:
    """Records that conversation `conversation_id` was about `booking`: one contact per
    conversation and booking while the conversation goes on; returns the contact's id.

    A contact of this conversation on this booking active within `gap` of `now` is updated
    (last activity, topic, summary; once a person handled it, it stays handled by an agent);
    otherwise a new one is added for the booking's customer.
    """
    channel, _ = split_sender(conversation_id)
    if channel is None:
        raise ValueError(f"record_contact: not a conversation id: {conversation_id!r}")
    topic = topic.strip()[:_MAX_TOPIC]
    summary = summary.strip()
    current = db.execute(
        _CURRENT_CONTACT,
        {"conversation_id": conversation_id, "booking_id": booking.id, "since": now - gap},
    ).first()
    if current is not None:
        contact_id, last_at, created_at = current
        values: dict[str, Any] = {
            "contact_id": contact_id,
            "last_at": max(now, last_at or created_at),
            "topic": topic,
            "summary": summary,
        }
        if handled_by == HandledBy.AGENT:
            values["handled_by"] = HandledBy.AGENT
        db.execute(_UPDATE_CONTACT, values)
        return int(contact_id)
    inserted = db.execute(
        _INSERT_CONTACT,
        {
            "customer_id": booking.customer_id,
            "booking_id": booking.id,
            "conversation_id": conversation_id,
            "channel": Channel(channel),
            "topic": topic,
            "summary": summary,
            "handled_by": handled_by,
            "created_at": now,
            "last_at": now,
        },
    )
    return int(inserted.inserted_primary_key[0])


def record_contact(
    session: Session,
    *,
    conversation_id: str,
    booking: Booking | BookingView,
    topic: str,
    handled_by: HandledBy,
    summary: str,
    now: datetime,
    gap: timedelta,
) -> Contact:
    """`touch_contact`, for a caller working with the ORM: returns the contact as stored."""
    contact_id = touch_contact(
        session,
        conversation_id=conversation_id,
        booking=booking,
        topic=topic,
        handled_by=handled_by,
        summary=summary,
        now=now,
        gap=gap,
    )
    contact = session.get(Contact, contact_id, populate_existing=True)
    assert contact is not None  # written in this transaction
    return contact
