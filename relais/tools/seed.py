"""Deterministic demo customer records: the fixed customers that docs and tests name, and a crowd.

The rows depend only on the anchor date: every random choice comes from one fixed seed.
"""

from __future__ import annotations

import math
import random
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from relais.core.codes import brand_codes
from relais.storage.records import (
    RECORD_MODELS,
    BaggageReport,
    Booking,
    Contact,
    Customer,
    Flight,
    Passenger,
    Refund,
    SeatAssignment,
    Segment,
)
from relais.core.types import (
    BaggageKind,
    BaggageStatus,
    BookingStatus,
    Channel,
    FareFamily,
    FlightStatus,
    HandledBy,
    Language,
    LoyaltyTier,
    RefundStatus,
)

#: The random seed of the demo data; change it and every generated row changes.
DEMO_SEED = 3_621
#: Flight numbers and booking references of the fixed records; generated ones avoid them.
FIXED_FLIGHT_NUMBERS = ("XY007", "XY123", "XY221", "XY311", "XY330", "XY456", "XY602")
FIXED_REFERENCES = ("XY4K2P", "XY9QW1", "XY7T2M", "XY3LB8", "XY5CX2", "XY8RT4", "XY2HN6")
#: Days around the anchor that flights are spread over.
FIRST_DAY, LAST_DAY = -30, 75


@dataclass(frozen=True)
class Airport:
    code: str
    city: str
    country: str
    tz: str
    latitude: float
    longitude: float
    terminals: tuple[str, ...] = ("1",)

    @property
    def label(self) -> str:
        """How a bag tag scan names it: "Lyon (LYS)"."""
        return f"{self.city} ({self.code})"


AIRPORTS: dict[str, Airport] = {
    a.code: a
    for a in (
        # France: the airline's bases first.
        Airport("CDG", "Paris", "FR", "Europe/Paris", 49.0097, 2.5479, ("2E", "2F", "2G")),
        Airport("ORY", "Paris", "FR", "Europe/Paris", 48.7262, 2.3652, ("1", "2", "3", "4")),
        Airport("LYS", "Lyon", "FR", "Europe/Paris", 45.7256, 5.0811, ("1", "2")),
        Airport("NCE", "Nice", "FR", "Europe/Paris", 43.6584, 7.2159, ("1", "2")),
        Airport("TLS", "Toulouse", "FR", "Europe/Paris", 43.6291, 1.3638, ("A", "B")),
        Airport("BOD", "Bordeaux", "FR", "Europe/Paris", 44.8283, -0.7156, ("A", "B")),
        Airport("MRS", "Marseille", "FR", "Europe/Paris", 43.4393, 5.2214, ("1A", "1B")),
        # Europe
        Airport("LHR", "London", "GB", "Europe/London", 51.4700, -0.4543, ("2", "4", "5")),
        Airport("MAD", "Madrid", "ES", "Europe/Madrid", 40.4983, -3.5676, ("1", "2", "4")),
        Airport("BCN", "Barcelona", "ES", "Europe/Madrid", 41.2974, 2.0833, ("1", "2")),
        Airport("FCO", "Rome", "IT", "Europe/Rome", 41.8003, 12.2389, ("1", "3")),
        Airport("AMS", "Amsterdam", "NL", "Europe/Amsterdam", 52.3105, 4.7683, ("1", "2", "3")),
        Airport("BER", "Berlin", "DE", "Europe/Berlin", 52.3667, 13.5033, ("1", "2")),
        Airport("LIS", "Lisbon", "PT", "Europe/Lisbon", 38.7742, -9.1342, ("1", "2")),
        Airport("ATH", "Athens", "GR", "Europe/Athens", 37.9364, 23.9445, ("A", "B")),
        Airport("DUB", "Dublin", "IE", "Europe/Dublin", 53.4213, -6.2701, ("1", "2")),
        Airport("VIE", "Vienna", "AT", "Europe/Vienna", 48.1103, 16.5697, ("1", "3")),
        Airport("CPH", "Copenhagen", "DK", "Europe/Copenhagen", 55.6180, 12.6508, ("2", "3")),
        Airport("GVA", "Geneva", "CH", "Europe/Zurich", 46.2381, 6.1090, ("1",)),
        # North America
        Airport("JFK", "New York", "US", "America/New_York", 40.6413, -73.7781, ("1", "4")),
        Airport("YUL", "Montréal", "CA", "America/Toronto", 45.4706, -73.7408, ("1",)),
        Airport("YYZ", "Toronto", "CA", "America/Toronto", 43.6777, -79.6248, ("1", "3")),
        Airport("BOS", "Boston", "US", "America/New_York", 42.3656, -71.0096, ("E",)),
        Airport("LAX", "Los Angeles", "US", "America/Los_Angeles", 33.9416, -118.4085, ("B",)),
        Airport("MIA", "Miami", "US", "America/New_York", 25.7959, -80.2870, ("N", "S")),
        Airport("ORD", "Chicago", "US", "America/Chicago", 41.9742, -87.9073, ("5",)),
        Airport("SFO", "San Francisco", "US", "America/Los_Angeles", 37.6213, -122.3790, ("I",)),
        # North Africa
        Airport("CMN", "Casablanca", "MA", "Africa/Casablanca", 33.3675, -7.5898, ("1", "2")),
        Airport("RAK", "Marrakech", "MA", "Africa/Casablanca", 31.6069, -8.0363, ("1",)),
        Airport("ALG", "Algiers", "DZ", "Africa/Algiers", 36.6910, 3.2154, ("1",)),
        Airport("ORN", "Oran", "DZ", "Africa/Algiers", 35.6239, -0.6212, ("1",)),
        Airport("TUN", "Tunis", "TN", "Africa/Tunis", 36.8510, 10.2272, ("1",)),
        Airport("DJE", "Djerba", "TN", "Africa/Tunis", 33.8750, 10.7755, ("1",)),
        Airport("CAI", "Cairo", "EG", "Africa/Cairo", 30.1219, 31.4056, ("2", "3")),
    )
}

_DESTINATIONS = {
    "CDG": "LHR MAD BCN FCO AMS BER LIS ATH DUB VIE CPH GVA YYZ BOS LAX MIA ORD SFO "
    "CMN ALG TUN CAI TLS BOD MRS",
    "ORY": "NCE TLS BCN LIS RAK ALG ORN DJE",
    "LYS": "LHR AMS FCO CMN ALG TUN YUL",
    "NCE": "JFK AMS CPH BER TUN",
}
#: Generated routes from the bases (the fixed records' routes come on top); many flights of a
#: route have a return flight some days later.
ROUTES: tuple[tuple[str, str], ...] = tuple(
    (origin, destination)
    for origin, destinations in _DESTINATIONS.items()
    for destination in destinations.split()
)

_FRENCH_FIRST = (
    "Léa Manon Chloé Inès Jade Louise Emma Zoé Juliette Clara Margaux Élise Anaïs Mathilde "
    "Pauline Lucas Louis Gabriel Arthur Jules Théo Nathan Raphaël Antoine Maxime Baptiste "
    "Julien Nicolas Thomas Mehdi Yanis Amine Yasmine Océane Benoît"
).split()
_FRENCH_LAST = (
    "Bernard Petit Robert Richard Durand Leroy Moreau Simon Laurent Lefebvre Michel Garcia "
    "David Bertrand Roux Vincent Fournier Morel Girard André Mercier Blanc Guérin Boyer "
    "Chevalier Haddad Mansouri Rousseau Faure Gauthier Lambert Lemaire Benoît Perrin"
).split()
_ENGLISH_FIRST = (
    "Emily Jessica Sarah Hannah Grace Charlotte Amelia Sophia Isabella Ava Mia Harper Ella "
    "Oliver Jack Harry George Noah Jacob Ethan Daniel Michael William Benjamin Samuel Henry "
    "Ryan Aiden Priya Raj Mei Kenji Aisha Omar Connor Sean Zoe Chloe"
).split()
_ENGLISH_LAST = (
    "Smith Johnson Williams Brown Jones Taylor Davies Wilson Evans Thompson Walker White "
    "Harris Clarke Robinson Wright Green Hall Wood Hughes Patel Nguyen Kim Murphy Kelly Walsh "
    "Campbell Anderson Scott Mitchell Cooper Khan Singh Lee Rodriguez Okafor"
).split()
_NAMES = {
    Language.FR: (_FRENCH_FIRST, _FRENCH_LAST),
    Language.EN: (_ENGLISH_FIRST, _ENGLISH_LAST),
}
_BAG_DESCRIPTIONS = {
    Language.FR: (
        "valise rigide noire",
        "valise souple rouge",
        "sac de voyage vert",
        "valise cabine grise",
        "sac à dos bleu marine",
        "valise rigide argentée avec ruban jaune",
        "housse de golf noire",
    ),
    Language.EN: (
        "black hard-shell suitcase",
        "red soft suitcase",
        "green duffel bag",
        "grey trolley case",
        "navy backpack",
        "silver suitcase with a yellow ribbon",
        "black golf bag",
    ),
}
_DELAYS = (15, 20, 25, 30, 35, 40, 45, 50, 60, 70, 80, 90, 105, 120, 150, 180, 210, 240)
_ASSISTANCE = ("WCHR", "WCHR", "WCHR", "WCHS", "WCHC", "BLND", "DEAF", "DPNA", "MAAS")
_TIER_POINTS = {
    LoyaltyTier.BASIC: (0, 4_999),
    LoyaltyTier.SILVER: (5_000, 24_999),
    LoyaltyTier.GOLD: (25_000, 79_999),
    LoyaltyTier.PLATINUM: (80_000, 250_000),
}
_EXTRA_REFUNDS = (
    ("unused seat upgrade", 40, 260),
    ("extra bag charged twice", 35, 90),
    ("lounge access not provided", 30, 60),
    ("duplicate card payment", 80, 400),
    ("special meal not served", 15, 35),
)
#: Internal notes of past contacts, per topic ({ref} is the booking reference).
_SUMMARIES = {
    "flight_status": "Asked whether the flight on {ref} was on time; gave the latest estimate.",
    "change_booking": "Wanted to move {ref} to another day; explained the change conditions.",
    "cancel_booking": "Asked how to cancel {ref}; explained the cancellation conditions.",
    "refund_status": "Asked where the refund on {ref} was; gave its status and expected date.",
    "lost_baggage": "Bag missing after the flight on {ref}; gave the baggage file and its status.",
    "seat_selection": "Wanted seats together on {ref}; pointed to Manage booking.",
    "baggage_allowance": "Asked how many bags {ref} includes; explained the fare's allowance.",
    "special_assistance": "Asked for wheelchair assistance on {ref}; request passed to the team.",
    "check_in": "Could not check in online for {ref}; explained when check-in opens.",
    "loyalty_points": "Asked about missing loyalty points; balance explained.",
    "contact_hours": "Asked when the team is available.",
    "travel_documents": "Asked which documents are needed for the trip.",
    "book_flight": "Asked about booking a new trip; sent the booking page.",
    "complaint": "Unhappy with the service on the last trip; apology and follow-up by an agent.",
}
_BOOKING_TOPICS = (
    "flight_status",
    "change_booking",
    "cancel_booking",
    "seat_selection",
    "baggage_allowance",
    "special_assistance",
    "check_in",
)
_GENERAL_TOPICS = (
    "loyalty_points",
    "contact_hours",
    "travel_documents",
    "book_flight",
    "complaint",
)
_REFERENCE_CHARACTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no O/0 or I/1 to misread


@dataclass(frozen=True)
class SeedReport:
    """What `seed` did: whether it created the records, and how many rows each table holds."""

    created: bool
    counts: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        state = "created" if self.created else "already present"
        rows = ", ".join(f"{count} {table}" for table, count in self.counts.items())
        return f"demo records {state}: {rows}"


def seed(session: Session, *, anchor: date, reset: bool = False) -> SeedReport:
    """Adds the demo records around `anchor` unless customers exist (then does nothing).

    `reset=True` first deletes every customer-record row (and forgets the session's objects).
    The caller commits, e.g. with `relais.storage.db.session_scope()`.
    """
    if reset:
        for model in reversed(RECORD_MODELS):
            session.execute(delete(model.__table__))
        session.expunge_all()
    elif session.execute(select(Customer.id).limit(1)).first() is not None:
        return SeedReport(created=False, counts=record_counts(session))

    demo = _DemoRecords(anchor)
    demo.build()
    for rows in demo.tables():
        # Always the same order of adds (and of cascades from them): the same ids everywhere.
        session.add_all(rows)
    session.flush()
    return SeedReport(created=True, counts=record_counts(session))


def record_counts(session: Session) -> dict[str, int]:
    """Rows per customer-record table."""
    return {
        model.__tablename__: session.execute(select(func.count()).select_from(model)).scalar_one()
        for model in RECORD_MODELS
    }


def _utc(day: date, at: time, tz: str) -> datetime:
    """Local wall-clock time at an airport, as the naive UTC the records hold."""
    local = datetime.combine(day, at, tzinfo=ZoneInfo(tz))
    return local.astimezone(timezone.utc).replace(tzinfo=None)


def _distance_km(a: Airport, b: Airport) -> float:
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371 * math.asin(math.sqrt(h))


def _block_time(a: Airport, b: Airport) -> timedelta:
    # Taxi, climb and descent (~35 min) plus cruise at ~780 km/h, rounded to 5 minutes.
    minutes = 35 + _distance_km(a, b) / 780 * 60
    return timedelta(minutes=5 * round(minutes / 5))


def _is_long_haul(a: Airport, b: Airport) -> bool:
    return _distance_km(a, b) > 3_500


def _fold(text: str) -> str:
    """Lower-case ASCII: "Élise O'Connor" → "elise o'connor"."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _slug(text: str) -> str:
    folded = "".join(ch if ch.isalnum() else "-" for ch in _fold(text).replace("'", ""))
    return "-".join(part for part in folded.split("-") if part)


def _email(full_name: str) -> str:
    return _slug(full_name).replace("-", ".") + "@example.com"


def _fare_terms(fare: FareFamily, long_haul: bool) -> dict[str, Any]:
    """The conditions each fare family sells (the same for the fixed and generated bookings)."""
    zero = Decimal("0.00")
    if fare is FareFamily.LIGHT:
        return dict(
            changeable=False,
            change_fee=zero,
            refundable=False,
            cancellation_fee=zero,
            checked_bags_included=0,
            cabin_bag_kg=8,
        )
    if fare is FareFamily.STANDARD:
        return dict(
            changeable=True,
            change_fee=Decimal("70.00" if long_haul else "40.00"),
            refundable=False,
            cancellation_fee=zero,
            checked_bags_included=1,
            cabin_bag_kg=12,
        )
    return dict(
        changeable=True,
        change_fee=zero,
        refundable=True,
        cancellation_fee=zero,
        checked_bags_included=2,
        cabin_bag_kg=12,
    )


class _DemoRecords:
    """Builds every demo row in memory; nothing here touches the database."""

    def __init__(self, anchor: date) -> None:
        self.anchor = anchor
        self.start = datetime.combine(anchor, time())  # the anchor's midnight, naive UTC
        self.rng = random.Random(DEMO_SEED)
        self.customers: list[Customer] = []
        self.flights: list[Flight] = []
        self.bookings: list[Booking] = []
        self.reports: list[BaggageReport] = []
        self.refunds: list[Refund] = []
        self.contacts: list[Contact] = []
        # Day offsets from the anchor, kept beside the rows so that choices never depend on
        # the anchor itself (only on the seed), and so every anchor gives the same shape.
        self.flight_day: dict[Flight, int] = {}
        self.booking_day: dict[Booking, int] = {}
        self.language: dict[Customer, Language] = {}
        self.seats_taken: dict[Flight, set[str]] = {}
        self.references = set(FIXED_REFERENCES)
        self.file_references = {"CDGXY10234"}
        # Where the generated rows start, after the fixed ones.
        self.crowd_customers = 0
        self.crowd_bookings = 0

    def tables(self) -> list[Sequence[Any]]:
        return [
            self.flights,
            self.customers,
            self.bookings,
            self.reports,
            self.refunds,
            self.contacts,
        ]

    def build(self) -> None:
        self.fixed_records()
        self.crowd_customers, self.crowd_bookings = len(self.customers), len(self.bookings)
        self.generated_customers()
        returns = self.generated_flights()
        self.generated_bookings(returns)
        self.generated_baggage_reports()
        self.generated_refunds()
        self.generated_contacts()

    # -- helpers -------------------------------------------------------------------------

    def at(self, day: int, hour: int, minute: int = 0) -> datetime:
        """A naive UTC moment `day` days from the anchor."""
        return self.start + timedelta(days=day, hours=hour, minutes=minute)

    def flight(
        self,
        number: str,
        origin: str,
        destination: str,
        day: int,
        departs: time,
        *,
        status: FlightStatus = FlightStatus.ON_TIME,
        delay: int = 0,
        gate: str | None = None,
        terminal: str | None = None,
    ) -> Flight:
        o, d = AIRPORTS[origin], AIRPORTS[destination]
        departure = _utc(self.anchor + timedelta(days=day), departs, o.tz)
        arrival = departure + _block_time(o, d)
        late = timedelta(minutes=delay)
        flight = Flight(
            number=number,
            origin_code=o.code,
            origin_city=o.city,
            destination_code=d.code,
            destination_city=d.city,
            destination_country=d.country,
            origin_tz=o.tz,
            destination_tz=d.tz,
            scheduled_departure=departure,
            scheduled_arrival=arrival,
            estimated_departure=departure + late if status is FlightStatus.DELAYED else None,
            estimated_arrival=arrival + late if status is FlightStatus.DELAYED else None,
            gate=gate,
            terminal=terminal,
            status=status,
        )
        self.flights.append(flight)
        self.flight_day[flight] = day
        self.seats_taken[flight] = set()
        return flight

    def customer(
        self,
        full_name: str,
        language: Language,
        tier: LoyaltyTier,
        points: int,
        *,
        web: str,
        telegram: str | None = None,
        x: str | None = None,
        since: int,
    ) -> Customer:
        customer = Customer(
            full_name=full_name,
            email=_email(full_name),
            preferred_language=language,
            loyalty_tier=tier,
            loyalty_points=points,
            telegram_user_id=telegram,
            x_user_id=x,
            web_chat_id=web,
            created_at=self.at(since, 10, 0),
        )
        self.customers.append(customer)
        self.language[customer] = language
        return customer

    def booking(
        self,
        reference: str,
        customer: Customer,
        fare: FareFamily,
        flights: Sequence[Flight],
        passengers: Sequence[tuple[str, Sequence[str | None], str | None]],
        *,
        total: str,
        day: int,
        hour: int = 12,
        minute: int = 0,
        status: BookingStatus = BookingStatus.CONFIRMED,
    ) -> Booking:
        """A booking; `passengers` are (name, seat per flight, assistance code)."""
        long_haul = any(
            _is_long_haul(AIRPORTS[f.origin_code], AIRPORTS[f.destination_code]) for f in flights
        )
        booking = Booking(
            reference=reference,
            customer=customer,
            fare_family=fare,
            total_paid=Decimal(total),
            currency="EUR",
            status=status,
            created_at=self.at(day, hour, minute),
            **_fare_terms(fare, long_haul),
        )
        people = [
            Passenger(full_name=name, special_assistance=assistance)
            for name, _, assistance in passengers
        ]
        booking.passengers = people
        for sequence, flight in enumerate(flights, start=1):
            segment = Segment(sequence=sequence, flight=flight)
            booking.segments.append(segment)
            for person, (_, seats, _) in zip(people, passengers, strict=True):
                seat = seats[sequence - 1]
                if seat is not None:
                    self.seats_taken[flight].add(seat)
                segment.seats.append(SeatAssignment(passenger=person, seat=seat))
        self.bookings.append(booking)
        self.booking_day[booking] = day
        self.references.add(reference)
        return booking

    # -- the fixed records (tests and docs rely on every value) ---------------------------

    def fixed_records(self) -> None:
        cdg_lys = self.flight("XY311", "CDG", "LYS", 9, time(7, 40), gate="A34", terminal="2F")
        cdg_nce = self.flight("XY221", "CDG", "NCE", 52, time(18, 5), terminal="2F")
        cdg_yul = self.flight(
            "XY123",
            "CDG",
            "YUL",
            1,
            time(13, 40),
            status=FlightStatus.DELAYED,
            delay=45,
            gate="B12",
            terminal="2E",
        )
        lys_cdg = self.flight("XY602", "LYS", "CDG", -2, time(7, 5), gate="B8", terminal="1")
        nce_lhr = self.flight(
            "XY456", "NCE", "LHR", 3, time(10, 15), status=FlightStatus.CANCELLED, terminal="2"
        )
        cdg_jfk = self.flight("XY007", "CDG", "JFK", 20, time(10, 30), terminal="2E")
        cdg_mad = self.flight("XY330", "CDG", "MAD", 33, time(9, 15), terminal="2F")

        camille = self.customer(
            "Camille Dubois",
            Language.FR,
            LoyaltyTier.GOLD,
            48_210,
            web="demo-camille",
            telegram="100001",
            x="200001",
            since=-1460,
        )
        self.booking(
            "XY4K2P",
            camille,
            FareFamily.FLEX,
            [cdg_lys],
            [("Camille Dubois", ["3A"], None)],
            total="289.00",
            day=-21,
            hour=19,
            minute=12,
        )
        self.booking(
            "XY9QW1",
            camille,
            FareFamily.LIGHT,
            [cdg_nce],
            [("Camille Dubois", ["12A"], None), ("Hugo Dubois", [None], None)],
            total="138.00",
            day=-40,
            hour=8,
            minute=47,
        )

        james = self.customer(
            "James Miller",
            Language.EN,
            LoyaltyTier.SILVER,
            12_940,
            web="demo-james",
            telegram="100002",
            x="200002",
            since=-820,
        )
        xy7t2m = self.booking(
            "XY7T2M",
            james,
            FareFamily.STANDARD,
            [cdg_yul],
            [("James Miller", ["27C"], None)],
            total="742.00",
            day=-35,
            hour=21,
            minute=3,
        )
        self.refunds.append(
            Refund(
                booking=xy7t2m,
                amount=Decimal("182.40"),
                currency="EUR",
                status=RefundStatus.PROCESSING,
                reason="unused seat upgrade",
                requested_at=self.at(-12, 9, 31),
                expected_date=self.anchor + timedelta(days=5),
            )
        )
        self.contacts.append(
            Contact(
                customer=james,
                booking=xy7t2m,
                channel=Channel.X,
                topic="refund_status",
                summary=_SUMMARIES["refund_status"].format(ref="XY7T2M"),
                handled_by=HandledBy.BOT,
                created_at=self.at(-3, 16, 20),
            )
        )

        sophie = self.customer(
            "Sophie Martin",
            Language.FR,
            LoyaltyTier.PLATINUM,
            131_500,
            web="demo-sophie",
            since=-2900,
        )
        xy3lb8 = self.booking(
            "XY3LB8",
            sophie,
            FareFamily.STANDARD,
            [lys_cdg],
            [("Sophie Martin", ["4C"], None)],
            total="118.00",
            day=-18,
            hour=14,
            minute=2,
        )
        report_time = lys_cdg.scheduled_arrival + timedelta(minutes=50)
        self.reports.append(
            BaggageReport(
                file_reference="CDGXY10234",
                booking=xy3lb8,
                flight=lys_cdg,
                kind=BaggageKind.DELAYED,
                status=BaggageStatus.SEARCHING,
                description="valise rigide bleue",
                last_seen=AIRPORTS["LYS"].label,
                expected_delivery=None,
                created_at=report_time,
                updated_at=report_time + timedelta(hours=20),
            )
        )

        liam = self.customer(
            "Liam O'Connor",
            Language.EN,
            LoyaltyTier.BASIC,
            820,
            web="demo-liam",
            since=-95,
        )
        self.booking(
            "XY5CX2",
            liam,
            FareFamily.LIGHT,
            [nce_lhr],
            [("Liam O'Connor", [None], None)],
            total="79.00",
            day=-26,
            hour=11,
            minute=40,
        )

        self.customer(
            "Nadia Benali", Language.FR, LoyaltyTier.BASIC, 0, web="demo-nadia", since=-30
        )

        olivia = self.customer(
            "Olivia Chen",
            Language.EN,
            LoyaltyTier.GOLD,
            41_275,
            web="demo-olivia",
            since=-1100,
        )
        self.booking(
            "XY8RT4",
            olivia,
            FareFamily.FLEX,
            [cdg_jfk],
            [("Olivia Chen", ["9K"], None)],
            total="1486.00",
            day=-15,
            hour=10,
            minute=5,
        )
        self.booking(
            "XY2HN6",
            olivia,
            FareFamily.STANDARD,
            [cdg_mad],
            [("Olivia Chen", ["15D"], None)],
            total="214.00",
            day=-9,
            hour=18,
            minute=44,
        )

    # -- the generated crowd --------------------------------------------------------------

    def generated_customers(self) -> None:
        rng = self.rng
        languages = [Language.FR] * 24 + [Language.EN] * 36
        rng.shuffle(languages)
        names = {c.full_name for c in self.customers}
        tiers = list(_TIER_POINTS)
        telegram_ids = (str(100_000 + n) for n in range(3, 1000))
        x_ids = (str(200_000 + n) for n in range(3, 1000))
        for language in languages:
            firsts, lasts = _NAMES[language]
            name = f"{rng.choice(firsts)} {rng.choice(lasts)}"
            while name in names:
                name = f"{rng.choice(firsts)} {rng.choice(lasts)}"
            names.add(name)
            tier = rng.choices(tiers, weights=(45, 30, 17, 8))[0]
            low, high = _TIER_POINTS[tier]
            self.customer(
                name,
                language,
                tier,
                rng.randint(low, high),
                web=f"demo-{_slug(name)}",
                telegram=next(telegram_ids) if rng.random() < 0.5 else None,
                x=next(x_ids) if rng.random() < 0.5 else None,
                since=-rng.randint(200, 2500),
            )

    def generated_flights(self) -> dict[Flight, Flight | None]:
        """Flights on ROUTES, each outbound with its return flight (or None)."""
        rng = self.rng
        numbers = _RouteNumbers()
        returns: dict[Flight, Flight | None] = {}
        # (number, day) pairs flown; two outbounds may otherwise come back on the same day.
        flown: set[tuple[str, int]] = set()
        for origin, destination in ROUTES:
            outbound_number = numbers.next_for(AIRPORTS[origin], AIRPORTS[destination])
            inbound_number = f"XY{int(outbound_number[2:]) + 1:03d}"
            outbound_time = time(rng.randint(6, 20), 5 * rng.randint(0, 11))
            inbound_time = time(rng.randint(7, 21), 5 * rng.randint(0, 11))
            days = sorted(rng.sample(range(FIRST_DAY, LAST_DAY + 1), rng.choice((1, 2, 2, 3))))
            for day in days:
                outbound = self.generated_flight(
                    outbound_number, origin, destination, day, outbound_time
                )
                inbound = None
                stay = rng.randint(2, 12)
                back = (inbound_number, day + stay)
                if rng.random() < 0.6 and day + stay <= LAST_DAY and back not in flown:
                    flown.add(back)
                    inbound = self.generated_flight(
                        inbound_number, destination, origin, day + stay, inbound_time
                    )
                returns[outbound] = inbound
        return returns

    def generated_flight(
        self, number: str, origin: str, destination: str, day: int, departs: time
    ) -> Flight:
        rng = self.rng
        draw = rng.random()
        status = (
            FlightStatus.CANCELLED
            if draw < 0.08
            else FlightStatus.DELAYED
            if draw < 0.28
            else FlightStatus.ON_TIME
        )
        delay = rng.choice(_DELAYS) if status is FlightStatus.DELAYED else 0
        terminal = rng.choice(AIRPORTS[origin].terminals)
        gate = None
        # Gates are published shortly before departure; later flights mostly have none yet.
        if status is not FlightStatus.CANCELLED and (day <= 1 or rng.random() < 0.4):
            gate = f"{rng.choice('ABCDEFGKLM')}{rng.randint(1, 60)}"
        return self.flight(
            number,
            origin,
            destination,
            day,
            departs,
            status=status,
            delay=delay,
            gate=gate,
            terminal=terminal,
        )

    def generated_bookings(self, returns: dict[Flight, Flight | None]) -> None:
        rng = self.rng
        outbounds = list(returns)
        for customer in self.customers[self.crowd_customers :]:
            language = self.language[customer]
            for _ in range(rng.choice((1, 1, 2, 2, 2, 3, 3, 4))):
                outbound = rng.choice(outbounds)
                flights = [outbound]
                inbound = returns[outbound]
                if inbound is not None and rng.random() < 0.7:
                    flights.append(inbound)
                fare = rng.choices(list(FareFamily), weights=(4, 4, 2))[0]
                names = self.travellers(
                    customer, language, rng.choices((1, 2, 3, 4), (55, 25, 12, 8))[0]
                )
                seats = [self.seats(flight, fare, len(names)) for flight in flights]
                passengers = [
                    (
                        name,
                        [per_flight[i] for per_flight in seats],
                        rng.choice(_ASSISTANCE) if rng.random() < 0.04 else None,
                    )
                    for i, name in enumerate(names)
                ]
                first_day = self.flight_day[outbound]
                day = min(first_day, 0) - rng.randint(2, 100)
                cancelled_flight = any(f.status is FlightStatus.CANCELLED for f in flights)
                cancelled = rng.random() < (0.4 if cancelled_flight else 0.06)
                self.booking(
                    self.new_reference(),
                    customer,
                    fare,
                    flights,
                    passengers,
                    total=self.price(flights, fare, len(names)),
                    day=day,
                    hour=rng.randint(6, 22),
                    minute=rng.randint(0, 59),
                    status=BookingStatus.CANCELLED if cancelled else BookingStatus.CONFIRMED,
                )

    def travellers(self, customer: Customer, language: Language, count: int) -> list[str]:
        """The customer (usually) and companions, often of the same family."""
        rng = self.rng
        firsts, lasts = _NAMES[language]
        family = customer.full_name.split()[-1]
        names = [customer.full_name] if rng.random() < 0.92 else []
        while len(names) < count:
            last = family if rng.random() < 0.6 else rng.choice(lasts)
            name = f"{rng.choice(firsts)} {last}"
            if name not in names:
                names.append(name)
        return names

    def seats(self, flight: Flight, fare: FareFamily, count: int) -> list[str | None]:
        """Seats side by side for a party, or None each when they have not chosen yet."""
        rng = self.rng
        departed = self.flight_day[flight] < 0
        chance = 1.0 if departed else (0.35 if fare is FareFamily.LIGHT else 0.8)
        if rng.random() >= chance:
            return [None] * count
        long_haul = _is_long_haul(AIRPORTS[flight.origin_code], AIRPORTS[flight.destination_code])
        rows, letters = (42, "ABCDEFGHJK") if long_haul else (30, "ABCDEF")
        taken = self.seats_taken[flight]
        row = rng.randint(1, rows)
        chosen: list[str | None] = []
        for offset in range(rows):
            for letter in letters:
                seat = f"{(row + offset - 1) % rows + 1}{letter}"
                if seat not in taken and len(chosen) < count:
                    chosen.append(seat)
            if len(chosen) == count:
                break
        return chosen + [None] * (count - len(chosen))

    def price(self, flights: Sequence[Flight], fare: FareFamily, travellers: int) -> str:
        multiplier = {FareFamily.LIGHT: 0.85, FareFamily.STANDARD: 1.0, FareFamily.FLEX: 1.45}[fare]
        one_person = sum(
            39 + 0.085 * _distance_km(AIRPORTS[f.origin_code], AIRPORTS[f.destination_code])
            for f in flights
        )
        return f"{round(one_person * multiplier * travellers)}.00"

    def new_reference(self) -> str:
        while True:
            reference = "XY" + "".join(self.rng.choice(_REFERENCE_CHARACTERS) for _ in range(4))
            if reference not in self.references and brand_codes().booking_reference.fullmatch(reference):
                return reference

    def generated_baggage_reports(self) -> None:
        rng = self.rng
        landed = [
            (booking, segment.flight)
            for booking in self.bookings[self.crowd_bookings :]
            if booking.status is BookingStatus.CONFIRMED
            for segment in booking.segments[-1:]
            # Two days back at least, so that the flight has landed whatever the time zones.
            if self.flight_day[segment.flight] <= -2
            and segment.flight.status is not FlightStatus.CANCELLED
        ]
        for booking, flight in rng.sample(landed, 17):
            age = -self.flight_day[flight]
            kind = BaggageKind.DAMAGED if rng.random() < 0.2 else BaggageKind.DELAYED
            if kind is BaggageKind.DAMAGED:
                # A damaged bag is with the repairer, then the claim is settled.
                status = BaggageStatus.CLOSED if age > 7 else BaggageStatus.LOCATED
            elif age <= 3:
                status = rng.choice((BaggageStatus.SEARCHING, BaggageStatus.LOCATED))
            elif age <= 8:
                status = rng.choice(
                    (BaggageStatus.LOCATED, BaggageStatus.ON_ITS_WAY, BaggageStatus.DELIVERED)
                )
            else:
                status = rng.choice(
                    (BaggageStatus.DELIVERED, BaggageStatus.CLOSED, BaggageStatus.SEARCHING)
                )
            landed_at = flight.estimated_arrival or flight.scheduled_arrival
            created = landed_at + timedelta(minutes=rng.randint(30, 150))
            updated = created + (self.start - created) * rng.uniform(0.3, 0.95)
            expected = None
            if status is BaggageStatus.LOCATED:
                expected = self.at(rng.randint(1, 2), rng.randint(10, 19))
            elif status is BaggageStatus.ON_ITS_WAY:
                expected = self.at(0, rng.randint(14, 20))
            elif status is BaggageStatus.DELIVERED:
                expected = min(created + timedelta(days=rng.randint(1, 3)), self.start)
            origin, destination = AIRPORTS[flight.origin_code], AIRPORTS[flight.destination_code]
            self.reports.append(
                BaggageReport(
                    file_reference=self.new_file_reference(destination.code),
                    booking=booking,
                    flight=flight,
                    kind=kind,
                    status=status,
                    description=rng.choice(_BAG_DESCRIPTIONS[self.language[booking.customer]]),
                    last_seen=(origin if status is BaggageStatus.SEARCHING else destination).label,
                    expected_delivery=expected,
                    created_at=created.replace(second=0, microsecond=0),
                    updated_at=updated.replace(second=0, microsecond=0),
                )
            )

    def new_file_reference(self, station: str) -> str:
        while True:
            reference = f"{station}XY{self.rng.randint(10_000, 99_999)}"
            if reference not in self.file_references:
                self.file_references.add(reference)
                return reference

    def generated_refunds(self) -> None:
        rng = self.rng
        generated = self.bookings[self.crowd_bookings :]
        cancelled = [b for b in generated if b.status is BookingStatus.CANCELLED]
        others = [b for b in generated if b.status is BookingStatus.CONFIRMED]
        chosen = cancelled[:24] + rng.sample(others, max(0, 24 - len(cancelled)))
        for booking in chosen:
            total = Decimal(booking.total_paid)
            if booking.status is BookingStatus.CANCELLED:
                if any(s.flight.status is FlightStatus.CANCELLED for s in booking.segments):
                    reason, amount = "flight cancelled by the airline", total
                elif booking.refundable:
                    reason, amount = (
                        "booking cancelled (refundable fare)",
                        total - booking.cancellation_fee,
                    )
                else:
                    reason = "unused airport taxes on a cancelled booking"
                    amount = (total * Decimal("0.18")).quantize(Decimal("0.01"))
            else:
                reason, low, high = rng.choice(_EXTRA_REFUNDS)
                amount = Decimal(f"{rng.randint(low, high)}.{rng.choice(('00', '50', '90'))}")
            day = rng.randint(max(self.booking_day[booking] + 1, -60), -1)
            age = -day
            draw = rng.random()
            # The older the request, the further along it is.
            if age <= 3:
                status = RefundStatus.REQUESTED
            elif age <= 9:
                status = RefundStatus.REJECTED if draw < 0.15 else RefundStatus.PROCESSING
            elif age <= 24:
                status = (
                    RefundStatus.REJECTED
                    if draw < 0.15
                    else RefundStatus.APPROVED
                    if draw < 0.65
                    else RefundStatus.PAID
                )
            else:
                status = RefundStatus.REJECTED if draw < 0.15 else RefundStatus.PAID
            requested = self.at(day, rng.randint(7, 21), rng.randint(0, 59))
            paid_at = None
            expected: date | None = None
            if status is RefundStatus.REQUESTED:
                expected = self.anchor + timedelta(days=rng.randint(10, 25))
            elif status is RefundStatus.PROCESSING:
                expected = self.anchor + timedelta(days=rng.randint(2, 12))
            elif status is RefundStatus.APPROVED:
                expected = self.anchor + timedelta(days=rng.randint(1, 7))
            elif status is RefundStatus.PAID:
                paid_at = self.at(day + rng.randint(5, age - 1), rng.randint(8, 17))
                expected = paid_at.date()
            self.refunds.append(
                Refund(
                    booking=booking,
                    amount=amount,
                    currency=booking.currency,
                    status=status,
                    reason=reason,
                    requested_at=requested,
                    expected_date=expected,
                    paid_at=paid_at,
                )
            )

    def generated_contacts(self) -> None:
        rng = self.rng
        crowd = self.customers[self.crowd_customers :]
        for index, customer in enumerate(rng.sample(crowd, 30)):
            bookings = list(customer.bookings)
            channels = [Channel.WEB, Channel.EMAIL, Channel.PHONE]
            if customer.telegram_user_id:
                channels.append(Channel.TELEGRAM)
            if customer.x_user_id:
                channels.append(Channel.X)
            if index < 10 and bookings:
                # Recent contacts about one booking: the repeat-contact case.
                booking = rng.choice(bookings)
                topic = self.booking_topic(booking)
                self.contact(customer, booking, topic, -rng.randint(1, 6), channels)
                if rng.random() < 0.5:
                    self.contact(customer, booking, topic, -rng.randint(7, 30), channels)
            for _ in range(rng.choice((1, 1, 2, 3))):
                booking = rng.choice(bookings) if bookings and rng.random() < 0.8 else None
                topic = self.booking_topic(booking) if booking else rng.choice(_GENERAL_TOPICS)
                self.contact(customer, booking, topic, -rng.randint(8, 120), channels)

    def booking_topic(self, booking: Booking) -> str:
        topics = list(_BOOKING_TOPICS)
        if booking.refunds:
            topics += ["refund_status"] * 3
        if booking.baggage_reports:
            topics += ["lost_baggage"] * 3
        return self.rng.choice(topics)

    def contact(
        self,
        customer: Customer,
        booking: Booking | None,
        topic: str,
        day: int,
        channels: Sequence[Channel],
    ) -> None:
        rng = self.rng
        if booking is not None:
            day = min(max(day, self.booking_day[booking] + 1), -1)
        channel = rng.choice(channels)
        by_bot = channel not in (Channel.EMAIL, Channel.PHONE) and rng.random() < 0.6
        self.contacts.append(
            Contact(
                customer=customer,
                booking=booking,
                channel=channel,
                topic=topic,
                summary=_SUMMARIES[topic].format(ref=booking.reference if booking else "-"),
                handled_by=HandledBy.BOT if by_bot else HandledBy.AGENT,
                created_at=self.at(day, rng.randint(7, 22), rng.randint(0, 59)),
            )
        )


class _RouteNumbers:
    """Flight numbers by kind of route: long-haul XY0xx, Europe XY1xx, Africa XY5xx, France XY6xx.

    Outbound numbers are odd and the return is the next even number, as airlines do.
    """

    _FIRST = {"long": 11, "europe": 141, "africa": 501, "france": 611}

    def __init__(self) -> None:
        self.next = dict(self._FIRST)
        self.reserved = {int(n[2:]) for n in FIXED_FLIGHT_NUMBERS}

    def next_for(self, origin: Airport, destination: Airport) -> str:
        if _is_long_haul(origin, destination) and destination.tz.startswith("America/"):
            kind = "long"
        elif destination.tz.startswith("Africa/"):
            kind = "africa"
        elif destination.country == "FR":
            kind = "france"
        else:
            kind = "europe"
        number = self.next[kind]
        while number in self.reserved or number + 1 in self.reserved:
            number += 2
        self.next[kind] = number + 2
        return f"XY{number:03d}"
