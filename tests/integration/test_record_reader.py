"""What the action server reads of the records (relais/storage/queries.py `RecordReader`), on
SQLite and PostgreSQL: every demo customer, booking, flight, passenger, seat, refund and
baggage report as the ORM reads them; each row read once per request; and the contacts and
proofs the actions write and read on a plain connection."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from relais.core.types import HandledBy, Language, LoyaltyTier
from relais.storage.db import run_atomic, session_scope
from relais.storage.identity import bind_web_visitor, check_passed, proven, start_check
from relais.storage.queries import (
    CONVERSATION_GAP,
    BookingView,
    CustomerView,
    FlightView,
    RecordReader,
    customer_for_sender,
    recent_contact,
    touch_contact,
)
from relais.storage.records import Booking, Contact, Customer, Flight
from relais.tools.seed import seed

ANCHOR = date(2026, 12, 4)
NOW = datetime(2026, 12, 4, 12, 0)
FLIGHT_COLUMNS = [c.name for c in Flight.__table__.columns]
BOOKING_COLUMNS = [c.name for c in Booking.__table__.columns if c.name != "created_at"]


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    with session_scope(engine) as session:
        seed(session, anchor=ANCHOR)
    return engine


@pytest.fixture
def connection(seeded: Engine) -> Iterator[Connection]:
    with seeded.begin() as connection:
        yield connection


def senders(customer: Customer) -> list[str]:
    """Every sender id that names `customer` by a channel identity."""
    found = [f"telegram:{customer.telegram_user_id}"] if customer.telegram_user_id else []
    found += [f"x:{customer.x_user_id}"] if customer.x_user_id else []
    return found + ([f"web:{customer.web_chat_id}"] if customer.web_chat_id else [])


def same_flight(view: FlightView, flight: Flight) -> None:
    assert [getattr(view, c) for c in FLIGHT_COLUMNS] == [
        getattr(flight, c) for c in FLIGHT_COLUMNS
    ]
    assert view.delay_minutes == flight.delay_minutes


def same_booking(view: BookingView, booking: Booking) -> None:
    """Every column, flight, passenger, seat, refund and report the actions read."""
    assert [getattr(view, c) for c in BOOKING_COLUMNS] == [
        getattr(booking, c) for c in BOOKING_COLUMNS
    ]
    assert view.customer.id == booking.customer.id
    assert [s.sequence for s in view.segments] == [s.sequence for s in booking.segments]
    for seen, segment in zip(view.segments, booking.segments, strict=True):
        same_flight(seen.flight, segment.flight)
        assert [(a.passenger_name, a.seat) for a in seen.seats] == [
            (a.passenger.full_name, a.seat) for a in segment.seats
        ]
    assert [(p.id, p.full_name, p.special_assistance) for p in view.passengers] == [
        (p.id, p.full_name, p.special_assistance) for p in booking.passengers
    ]
    refund_fields = ("id", "amount", "currency", "status", "reason", "requested_at")
    refund_fields += ("expected_date", "paid_at")
    assert [[getattr(r, f) for f in refund_fields] for r in view.refunds] == [
        [getattr(r, f) for f in refund_fields] for r in booking.refunds
    ]
    report_fields = ("id", "file_reference", "status", "description", "last_seen")
    report_fields += ("expected_delivery", "created_at")
    assert [
        [getattr(r, f) for f in report_fields] + [r.flight_number] for r in view.baggage_reports
    ] == [
        [getattr(r, f) for f in report_fields] + [r.flight.number] for r in booking.baggage_reports
    ]


def same_customer(view: CustomerView | None, customer: Customer) -> None:
    assert view is not None
    fields = ("id", "full_name", "preferred_language", "loyalty_tier", "loyalty_points")
    assert [getattr(view, f) for f in fields] == [getattr(customer, f) for f in fields]
    assert [b.reference for b in view.bookings] == [b.reference for b in customer.bookings]
    for seen, booking in zip(view.bookings, customer.bookings, strict=True):
        same_booking(seen, booking)


def test_every_demo_customer_and_booking_reads_as_the_orm_reads_it(seeded: Engine) -> None:
    with Session(seeded, future=True) as session, seeded.connect() as connection:
        customers = session.execute(select(Customer).order_by(Customer.id)).scalars().all()
        assert customers and any(c.bookings for c in customers)
        named = 0
        for customer in customers:
            for sender in senders(customer):
                assert customer_for_sender(session, sender) is customer
                same_customer(RecordReader(connection).customer_for_sender(sender), customer)
                named += 1
            # The booking of someone the bot cannot identify, by its reference.
            for booking in customer.bookings:
                found = RecordReader(connection).booking_by_reference(booking.reference.lower())
                assert found is not None
                same_booking(found, booking)
                same_customer(found.customer, customer)
        assert named >= len(customers)
        reader = RecordReader(connection)
        assert reader.booking_by_reference("XY0000") is None
        assert reader.customer_for_sender("telegram:no-such-user") is None
        assert reader.customer_for_sender("demo") is None  # no channel: nobody


def test_a_web_visitor_reads_as_the_customer_they_were_bound_to(engine: Engine) -> None:
    visitor = "v-" + "c" * 32
    with session_scope(engine) as session:
        ada = Customer(
            full_name="Ada Example",
            email="ada@example.org",
            preferred_language=Language.FR,
            loyalty_tier=LoyaltyTier.SILVER,
            web_chat_id="ada-1",
        )
        session.add(ada)
        session.flush()
        ada_id = ada.id
    with engine.connect() as connection:
        # Not bound yet: nobody, even though the web id of a customer could look the same.
        assert RecordReader(connection).customer_for_sender(f"web:{visitor}") is None
    with session_scope(engine) as session:
        bind_web_visitor(session, visitor, session.get(Customer, ada_id))
    with engine.connect() as connection:
        found = RecordReader(connection).customer_for_sender(f"web:{visitor}")
        assert found is not None and (found.id, found.full_name) == (ada_id, "Ada Example")
        assert found.preferred_language == Language.FR and found.bookings == ()
        same = RecordReader(connection).customer_for_sender("web:ada-1")
        assert same is not None and same.id == ada_id


def statements(connection: Connection) -> list[str]:
    """The statements `connection` runs from now on."""
    seen: list[str] = []

    def count(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(connection, "before_cursor_execute", count)
    return seen


def test_one_request_reads_each_row_once(connection: Connection) -> None:
    with Session(connection, future=True) as session:
        customer = next(
            c
            for c in session.execute(select(Customer).order_by(Customer.id)).scalars()
            if c.bookings and senders(c)
        )
        sender, own = senders(customer)[0], customer.bookings[0].reference
    reader = RecordReader(connection)
    ran = statements(connection)
    found = reader.customer_for_sender(sender)
    assert found is not None and len(ran) == 1  # the customer, bookings and flights at once
    # Their own booking, by reference (in any case) and through its holder: already read.
    booking = reader.booking_by_reference(own.lower())
    assert booking is found.bookings[0] and booking.customer is found
    assert len(ran) == 1
    passengers, refunds = booking.passengers, booking.refunds
    assert len(ran) == 3  # read when first used, then kept
    assert booking.passengers is passengers and booking.refunds is refunds
    assert len(ran) == 3
    assert reader.booking_by_reference("XY0000") is None
    assert reader.booking_by_reference("xy0000") is None
    assert len(ran) == 4


def test_the_next_departure_of_a_flight_number(connection: Connection) -> None:
    with Session(connection, future=True) as session:
        numbers = set(session.execute(select(Flight.number)).scalars())
        number = min(numbers)
        flights = (
            session.execute(
                select(Flight).where(Flight.number == number).order_by(Flight.scheduled_departure)
            )
            .scalars()
            .all()
        )
    reader = RecordReader(connection)
    first, last = flights[0], flights[-1]
    # Ahead: the next one (a flight that left less than 12 hours ago still counts).
    ahead = reader.next_flight(f"{number[:2]} {number[2:].lower()}", first.scheduled_departure)
    assert ahead is not None
    same_flight(ahead, first)
    # None ahead: the latest one.
    latest = reader.next_flight(number, last.scheduled_departure + timedelta(days=1))
    assert latest is not None
    same_flight(latest, last)
    unknown = next(f"XY{n:03d}" for n in range(1000) if f"XY{n:03d}" not in numbers)
    assert reader.next_flight(unknown, NOW) is None


def test_contacts_and_proofs_on_a_plain_connection(seeded: Engine) -> None:
    conversation = "telegram:424242"
    with seeded.begin() as connection:
        reader = RecordReader(connection)
        customer = next(
            c
            for c in connection.execute(select(Customer.id, Customer.web_chat_id)).all()
            if c.web_chat_id and reader.bookings_of(c.id)
        )
        booking = reader.bookings_of(customer.id)[0]

        def touch(at: datetime, handled_by: HandledBy = HandledBy.BOT) -> int:
            return touch_contact(
                connection,
                conversation_id=conversation,
                booking=booking,
                topic=" flight_status ",
                handled_by=handled_by,
                summary="asked",
                now=at,
                gap=CONVERSATION_GAP,
            )

        def repeat(at: datetime, conversation_id: str | None) -> bool:
            return recent_contact(
                connection,
                references=[booking.reference.lower()],
                customer=None,
                topic="flight_status",
                since=at - timedelta(days=7),
                conversation_id=conversation_id,
                gap=CONVERSATION_GAP,
                now=at,
            )

        first = touch(NOW)
        assert touch(NOW + timedelta(minutes=5), HandledBy.AGENT) == first
        assert touch(NOW + timedelta(minutes=10)) == first
        assert not repeat(NOW + timedelta(minutes=15), conversation)
        assert repeat(NOW + timedelta(minutes=15), "telegram:other")
        with pytest.raises(ValueError, match="not a conversation id"):
            touch_contact(
                connection,
                conversation_id="demo",
                booking=booking,
                topic="x",
                handled_by=HandledBy.BOT,
                summary="",
                now=NOW,
                gap=CONVERSATION_GAP,
            )
        assert not proven(connection, conversation, booking.reference, NOW)
    with session_scope(seeded) as session:
        contact = session.execute(
            select(Contact).where(Contact.conversation_id == conversation)
        ).scalar_one()
        assert contact.id == first and contact.booking_id == booking.id
        assert contact.customer_id == booking.customer_id and contact.channel == "telegram"
        assert (contact.topic, contact.handled_by) == ("flight_status", HandledBy.AGENT)
        assert (contact.created_at, contact.last_at) == (NOW, NOW + timedelta(minutes=10))
    check_id = run_atomic(
        seeded,
        lambda s: start_check(
            s, sender=conversation, network=None, reference=booking.reference, now=NOW
        ),
    )
    run_atomic(seeded, lambda s: check_passed(s, check_id, holder=True))
    with seeded.connect() as connection:
        assert proven(connection, conversation, booking.reference.lower(), NOW, holder=True)
        assert not proven(connection, "telegram:other", booking.reference, NOW)
