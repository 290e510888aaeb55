"""The customer-records schema and the demo seed, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from relais.core.codes import brand_codes
from relais.core.config import settings
from relais.core.types import (
    BaggageStatus,
    FareFamily,
    FlightStatus,
    Language,
    LoyaltyTier,
    RefundStatus,
)
from relais.storage.db import create_all, make_engine, session_scope
from relais.storage.records import (
    RECORD_TABLES,
    BaggageReport,
    Booking,
    Contact,
    Customer,
    Flight,
    Refund,
)
from relais.tools.seed import fixed_references, seed

#: A Thursday; anchor+9 is the Saturday before the clocks go forward in Europe.
ANCHOR = date(2025, 3, 20)
MIDNIGHT = datetime.combine(ANCHOR, time())


@pytest.fixture
def seeded(session: Session) -> Session:
    report = seed(session, anchor=ANCHOR)
    session.commit()
    assert report.created
    return session


def local(moment: datetime, tz: str) -> datetime:
    """A naive UTC datetime from the records as naive local time at `tz`."""
    return moment.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(tz)).replace(tzinfo=None)


def on(day: int, hour: int, minute: int) -> datetime:
    """Naive local wall-clock time `day` days after the anchor."""
    return datetime.combine(ANCHOR + timedelta(days=day), time(hour, minute))


def all_of(session: Session, model: type[Any]) -> list[Any]:
    return list(session.execute(select(model).order_by(model.id)).scalars())


def customer(session: Session, web_chat_id: str) -> Customer:
    return session.execute(select(Customer).where(Customer.web_chat_id == web_chat_id)).scalar_one()


def booking(session: Session, reference: str) -> Booking:
    return session.execute(select(Booking).where(Booking.reference == reference)).scalar_one()


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as connection:
        return {
            table.name: [
                tuple(row) for row in connection.execute(select(table).order_by(table.c.id))
            ]
            for table in RECORD_TABLES
        }


def seed_into(url: str, anchor: date) -> Engine:
    engine = make_engine(url)
    create_all(engine)
    with Session(engine, future=True) as session:
        seed(session, anchor=anchor)
        session.commit()
    return engine


# -- the database layer ---------------------------------------------------------------------


def test_foreign_keys_and_status_checks_are_enforced(seeded: Session) -> None:
    seeded.add(
        Contact(
            customer_id=999_999,
            channel="web",
            topic="greet",
            summary="-",
            handled_by="bot",
            created_at=MIDNIGHT,
        )
    )
    with pytest.raises(IntegrityError):
        seeded.flush()
    seeded.rollback()
    with pytest.raises(IntegrityError):
        seeded.execute(text("UPDATE flights SET status = 'late'"))
    seeded.rollback()


def test_session_scope_commits_or_rolls_back(engine: Engine) -> None:
    with session_scope(engine) as session:
        seed(session, anchor=ANCHOR)
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        session.execute(text("DELETE FROM contacts"))
        raise RuntimeError("the block failed")
    with session_scope(engine) as session:
        assert session.execute(select(Contact)).first() is not None


def test_the_sqlite_directory_is_made_with_the_engine_not_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "var" / "relais.db"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{database}")
    settings.cache_clear()
    try:
        assert settings().database_url == f"sqlite:///{database}"
        assert not database.parent.exists()
        engine = make_engine()
        assert database.parent.is_dir()
        engine.dispose()
    finally:
        settings.cache_clear()


# -- determinism and idempotence -----------------------------------------------------------


def test_seeding_two_fresh_databases_gives_identical_rows(
    db_url: str, new_database: Callable[[], str]
) -> None:
    first, second = seed_into(db_url, ANCHOR), seed_into(new_database(), ANCHOR)
    try:
        rows = dump(first)
        assert rows == dump(second)
        assert all(rows.values())
    finally:
        first.dispose()
        second.dispose()


def test_the_anchor_moves_dates_but_not_the_records(
    db_url: str, new_database: Callable[[], str]
) -> None:
    march, august = seed_into(db_url, ANCHOR), seed_into(new_database(), date(2025, 8, 14))
    try:
        with Session(march, future=True) as a, Session(august, future=True) as b:
            references = select(Booking.reference).order_by(Booking.id)
            assert a.execute(references).scalars().all() == b.execute(references).scalars().all()
            names = select(Customer.full_name).order_by(Customer.id)
            assert a.execute(names).scalars().all() == b.execute(names).scalars().all()
            first_flight = select(Flight).where(Flight.number == "XY311")
            a_flight, b_flight = (
                a.execute(first_flight).scalar_one(),
                b.execute(first_flight).scalar_one(),
            )
            assert local(a_flight.scheduled_departure, "Europe/Paris") == on(9, 7, 40)
            assert local(b_flight.scheduled_departure, "Europe/Paris") == datetime(
                2025, 8, 23, 7, 40
            )
    finally:
        march.dispose()
        august.dispose()


def test_seeding_again_does_nothing_and_reset_recreates(session: Session) -> None:
    first = seed(session, anchor=ANCHOR)
    session.commit()
    again = seed(session, anchor=ANCHOR + timedelta(days=3))
    session.commit()
    assert first.created and not again.created
    assert again.counts == first.counts

    reset = seed(session, anchor=ANCHOR, reset=True)
    session.commit()
    assert reset.created
    assert reset.counts == first.counts
    assert (
        len(session.execute(select(Customer).where(Customer.full_name == "Camille Dubois")).all())
        == 1
    )


# -- the shape of the demo data ------------------------------------------------------------


def test_counts_meet_the_minimums(session: Session) -> None:
    counts = seed(session, anchor=ANCHOR).counts
    assert counts["customers"] >= 60
    assert counts["bookings"] >= 130
    assert counts["flights"] >= 40
    assert counts["baggage_reports"] >= 15
    assert counts["refunds"] >= 20
    assert counts["contacts"] > 0
    assert counts["passengers"] >= counts["bookings"]


def test_customers_speak_both_languages_in_every_tier(seeded: Session) -> None:
    customers = all_of(seeded, Customer)
    languages = Counter(c.preferred_language for c in customers)
    assert set(languages) == {Language.EN, Language.FR}
    assert 0.3 <= languages[Language.FR] / len(customers) <= 0.5
    assert set(Counter(c.loyalty_tier for c in customers)) == set(LoyaltyTier)
    for c in customers:
        assert c.created_at < MIDNIGHT
        assert "@" in c.email


def test_channel_identities(seeded: Session) -> None:
    customers = all_of(seeded, Customer)
    assert all(c.web_chat_id.startswith("demo-") for c in customers)
    assert len({c.web_chat_id for c in customers}) == len(customers)
    telegram = [c.telegram_user_id for c in customers if c.telegram_user_id]
    x = [c.x_user_id for c in customers if c.x_user_id]
    for ids in (telegram, x):
        assert 0.35 <= len(ids) / len(customers) <= 0.65
        assert all(i.isdigit() for i in ids)
    assert all(i.startswith("1000") for i in telegram)


def test_flights_are_consistent(seeded: Session) -> None:
    flights = all_of(seeded, Flight)
    statuses = Counter(f.status for f in flights)
    assert all(statuses[status] >= 3 for status in FlightStatus)
    assert (
        statuses[FlightStatus.ON_TIME]
        > statuses[FlightStatus.DELAYED]
        > statuses[FlightStatus.CANCELLED]
    )
    assert {"CDG", "ORY", "LYS", "NCE"} <= {f.origin_code for f in flights}
    countries = {f.destination_country for f in flights}
    assert {"GB", "ES", "IT", "DE"} <= countries  # Europe
    assert {"US", "CA"} <= countries  # North America
    assert {"MA", "DZ", "TN"} <= countries  # North Africa
    for f in flights:
        assert brand_codes().flight_number.fullmatch(f.number)
        assert len(f.origin_code) == len(f.destination_code) == 3
        for tz in (f.origin_tz, f.destination_tz):
            ZoneInfo(tz)  # raises for an unknown zone
        assert f.scheduled_arrival > f.scheduled_departure
        day = (local(f.scheduled_departure, f.origin_tz).date() - ANCHOR).days
        assert -30 <= day <= 75
        if f.status is FlightStatus.DELAYED:
            assert 15 <= f.delay_minutes <= 240
            assert (
                f.estimated_arrival - f.scheduled_arrival
                == f.estimated_departure - f.scheduled_departure
            )
        else:
            assert f.estimated_departure is None and f.delay_minutes == 0
    days = [(f.scheduled_departure - MIDNIGHT).days for f in flights]
    assert min(days) < -20 and max(days) > 60


def test_bookings_are_consistent(seeded: Session) -> None:
    bookings = all_of(seeded, Booking)
    assert {b.fare_family for b in bookings} == set(FareFamily)
    seats: list[str | None] = []
    taken: set[tuple[int, str]] = set()
    for b in bookings:
        assert brand_codes().booking_reference.fullmatch(b.reference)
        assert 1 <= len(b.passengers) <= 4
        assert b.segments and [s.sequence for s in b.segments] == list(
            range(1, len(b.segments) + 1)
        )
        assert b.currency == "EUR" and b.total_paid > 0
        assert b.created_at < b.segments[0].flight.scheduled_departure
        assert b.changeable is (b.fare_family is not FareFamily.LIGHT)
        assert b.refundable is (b.fare_family is FareFamily.FLEX)
        for segment in b.segments:
            assert sorted(a.passenger_id for a in segment.seats) == sorted(
                p.id for p in b.passengers
            )
            for assignment in segment.seats:
                seats.append(assignment.seat)
                if assignment.seat is not None:
                    assert (segment.flight_id, assignment.seat) not in taken
                    taken.add((segment.flight_id, assignment.seat))
    unassigned = seats.count(None)
    assert 0 < unassigned < len(seats) / 3


def test_baggage_reports_and_refunds_in_every_state(seeded: Session) -> None:
    reports = all_of(seeded, BaggageReport)
    assert len({r.status for r in reports}) >= 4
    for r in reports:
        assert brand_codes().baggage_file.fullmatch(r.file_reference)
        assert r.file_reference.startswith(r.flight.destination_code)
        assert r.flight in [s.flight for s in r.booking.segments]
        assert r.flight.scheduled_arrival < r.created_at <= r.updated_at < MIDNIGHT
        if r.status is BaggageStatus.SEARCHING:
            assert r.expected_delivery is None

    refunds = all_of(seeded, Refund)
    assert {r.status for r in refunds} == set(RefundStatus)
    for r in refunds:
        assert r.amount > 0 and r.requested_at < MIDNIGHT
        assert (r.paid_at is not None) is (r.status is RefundStatus.PAID)
        assert (r.expected_date is None) is (r.status is RefundStatus.REJECTED)


def test_past_contacts_include_recent_ones_on_a_booking(seeded: Session) -> None:
    contacts = all_of(seeded, Contact)
    customers = all_of(seeded, Customer)
    with_contacts = {c.customer_id for c in contacts}
    assert 0.35 <= len(with_contacts) / len(customers) <= 0.65
    recent = [
        c
        for c in contacts
        if c.booking_id and MIDNIGHT - timedelta(days=7) <= c.created_at < MIDNIGHT
    ]
    assert len(recent) >= 5
    for c in contacts:
        assert c.created_at < MIDNIGHT
        if c.booking is not None:
            assert c.booking.customer_id == c.customer_id
            assert c.created_at > c.booking.created_at


def test_generated_records_never_reuse_the_fixed_ones(seeded: Session) -> None:
    references = [b.reference for b in all_of(seeded, Booking)]
    assert len(set(references)) == len(references)
    assert set(fixed_references()) <= set(references)
    numbers = Counter(f.number for f in all_of(seeded, Flight))
    for number in ("XY007", "XY123", "XY221", "XY311", "XY330", "XY456", "XY602"):
        assert numbers[number] == 1


# -- the fixed records (docs and tests elsewhere rely on each value) -------------------------


def test_camille(seeded: Session) -> None:
    camille = customer(seeded, "demo-camille")
    assert (
        camille.full_name,
        camille.preferred_language,
        camille.loyalty_tier,
        camille.loyalty_points,
    ) == ("Camille Dubois", Language.FR, LoyaltyTier.GOLD, 48_210)
    assert (camille.telegram_user_id, camille.x_user_id) == ("100001", "200001")
    assert [b.reference for b in camille.bookings] == ["XY4K2P", "XY9QW1"]
    assert camille.contacts == []

    lyon = booking(seeded, "XY4K2P")
    [segment] = lyon.segments
    f = segment.flight
    assert (f.number, f.origin_code, f.origin_city, f.destination_code, f.destination_city) == (
        "XY311",
        "CDG",
        "Paris",
        "LYS",
        "Lyon",
    )
    assert f.status is FlightStatus.ON_TIME
    assert local(f.scheduled_departure, f.origin_tz) == on(9, 7, 40)
    assert (f.gate, f.terminal) == ("A34", "2F")
    assert lyon.fare_family is FareFamily.FLEX
    assert (lyon.changeable, lyon.change_fee, lyon.refundable, lyon.cancellation_fee) == (
        True,
        Decimal("0.00"),
        True,
        Decimal("0.00"),
    )
    assert [(a.passenger.full_name, a.seat) for a in segment.seats] == [("Camille Dubois", "3A")]

    nice = booking(seeded, "XY9QW1")
    [segment] = nice.segments
    f = segment.flight
    assert (f.number, f.origin_code, f.destination_code, f.destination_city) == (
        "XY221",
        "CDG",
        "NCE",
        "Nice",
    )
    assert f.status is FlightStatus.ON_TIME
    assert local(f.scheduled_departure, f.origin_tz) == on(52, 18, 5)
    assert nice.fare_family is FareFamily.LIGHT
    assert (nice.changeable, nice.refundable, nice.change_fee) == (False, False, Decimal("0.00"))
    assert [(a.passenger.full_name, a.seat) for a in segment.seats] == [
        ("Camille Dubois", "12A"),
        ("Hugo Dubois", None),
    ]


def test_james(seeded: Session) -> None:
    james = customer(seeded, "demo-james")
    assert (
        james.full_name,
        james.preferred_language,
        james.loyalty_tier,
        james.loyalty_points,
    ) == ("James Miller", Language.EN, LoyaltyTier.SILVER, 12_940)
    assert (james.telegram_user_id, james.x_user_id) == ("100002", "200002")
    [b] = james.bookings
    assert b.reference == "XY7T2M"
    [segment] = b.segments
    f = segment.flight
    assert (
        f.number,
        f.origin_code,
        f.destination_code,
        f.destination_city,
        f.destination_country,
    ) == ("XY123", "CDG", "YUL", "Montréal", "CA")
    assert f.status is FlightStatus.DELAYED
    assert local(f.scheduled_departure, f.origin_tz) == on(1, 13, 40)
    assert local(f.estimated_departure, f.origin_tz) == on(1, 14, 25)
    assert f.delay_minutes == 45
    assert (f.gate, f.terminal) == ("B12", "2E")
    assert b.fare_family is FareFamily.STANDARD
    assert (b.changeable, b.change_fee, b.refundable) == (True, Decimal("70.00"), False)
    assert [(a.passenger.full_name, a.seat) for a in segment.seats] == [("James Miller", "27C")]

    [refund] = b.refunds
    assert (refund.amount, refund.currency, refund.status, refund.reason) == (
        Decimal("182.40"),
        "EUR",
        RefundStatus.PROCESSING,
        "unused seat upgrade",
    )
    assert refund.requested_at.date() == ANCHOR - timedelta(days=12)
    assert refund.expected_date == ANCHOR + timedelta(days=5)

    [contact] = james.contacts
    assert (contact.booking, contact.topic, contact.channel) == (b, "refund_status", "x")
    assert contact.created_at.date() == ANCHOR - timedelta(days=3)


def test_sophie(seeded: Session) -> None:
    sophie = customer(seeded, "demo-sophie")
    assert (
        sophie.full_name,
        sophie.preferred_language,
        sophie.loyalty_tier,
        sophie.loyalty_points,
    ) == ("Sophie Martin", Language.FR, LoyaltyTier.PLATINUM, 131_500)
    assert sophie.telegram_user_id is None and sophie.x_user_id is None
    [b] = sophie.bookings
    assert (b.reference, b.fare_family) == ("XY3LB8", FareFamily.STANDARD)
    f = b.segments[0].flight
    assert (f.number, f.origin_code, f.destination_code, f.status) == (
        "XY602",
        "LYS",
        "CDG",
        FlightStatus.ON_TIME,
    )
    assert local(f.scheduled_departure, f.origin_tz).date() == ANCHOR - timedelta(days=2)
    [report] = b.baggage_reports
    assert (
        report.file_reference,
        report.kind,
        report.status,
        report.last_seen,
        report.description,
    ) == ("CDGXY10234", "delayed", BaggageStatus.SEARCHING, "Lyon (LYS)", "valise rigide bleue")
    assert report.flight == f


def test_liam(seeded: Session) -> None:
    liam = customer(seeded, "demo-liam")
    assert (liam.full_name, liam.preferred_language, liam.loyalty_tier, liam.loyalty_points) == (
        "Liam O'Connor",
        Language.EN,
        LoyaltyTier.BASIC,
        820,
    )
    [b] = liam.bookings
    assert (b.reference, b.fare_family) == ("XY5CX2", FareFamily.LIGHT)
    f = b.segments[0].flight
    assert (f.number, f.origin_code, f.destination_code, f.destination_city, f.status) == (
        "XY456",
        "NCE",
        "LHR",
        "London",
        FlightStatus.CANCELLED,
    )
    assert local(f.scheduled_departure, f.origin_tz) == on(3, 10, 15)


def test_nadia_and_olivia(seeded: Session) -> None:
    nadia = customer(seeded, "demo-nadia")
    assert (
        nadia.full_name,
        nadia.preferred_language,
        nadia.loyalty_tier,
        nadia.loyalty_points,
    ) == ("Nadia Benali", Language.FR, LoyaltyTier.BASIC, 0)
    assert nadia.bookings == []

    olivia = customer(seeded, "demo-olivia")
    assert (olivia.full_name, olivia.preferred_language, olivia.loyalty_tier) == (
        "Olivia Chen",
        Language.EN,
        LoyaltyTier.GOLD,
    )
    trips = {b.reference: (b.segments[0].flight, b.fare_family) for b in olivia.bookings}
    assert set(trips) == {"XY8RT4", "XY2HN6"}
    new_york, fare = trips["XY8RT4"]
    assert (new_york.number, new_york.destination_code, new_york.destination_city, fare) == (
        "XY007",
        "JFK",
        "New York",
        FareFamily.FLEX,
    )
    assert local(new_york.scheduled_departure, "Europe/Paris").date() == ANCHOR + timedelta(days=20)
    madrid, fare = trips["XY2HN6"]
    assert (madrid.number, madrid.destination_code, madrid.destination_city, fare) == (
        "XY330",
        "MAD",
        "Madrid",
        FareFamily.STANDARD,
    )
    assert local(madrid.scheduled_departure, "Europe/Paris").date() == ANCHOR + timedelta(days=33)
    for f in (new_york, madrid):
        assert f.status is FlightStatus.ON_TIME and f.scheduled_departure > MIDNIGHT
