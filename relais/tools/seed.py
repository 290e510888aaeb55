"""Deterministic demo customer records: the fixed customers that docs and tests name, and a crowd.

The content lives in the YAML files of `relais/tools/demo/`: the airports; the routes, flight
numbers, cabins and fares; the fixed records; what the crowd is drawn from. They are checked
when read. The rows depend only on those files and the anchor date: every random choice comes
from one fixed seed, in a fixed order.
"""

from __future__ import annotations

import math
import random
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from relais.core.codes import brand_codes
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
from relais.tools.demo_data import Airport, DemoData, load_demo


@lru_cache(maxsize=1)
def demo() -> DemoData:
    """The shipped demo files, read and checked on first use (never at import)."""
    return load_demo()


def fixed_references() -> tuple[str, ...]:
    """Booking references of the fixed records (generated ones avoid them)."""
    return demo().references


def fixed_flight_numbers() -> tuple[str, ...]:
    """Flight numbers of the fixed records (generated ones avoid them)."""
    return tuple(sorted(f["number"] for f in demo().fixed["flights"]))


# -- the rows ----------------------------------------------------------------------------------


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

    records = _DemoRecords(anchor, demo())
    records.build()
    for rows in records.tables():
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


def _slug(text: str) -> str:
    """Lower-case ASCII words joined by "-": "Élise O'Connor" → "elise-oconnor"."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).replace("'", "")
    return "-".join(
        part for part in "".join(ch if ch.isalnum() else "-" for ch in folded).split("-") if part
    )


class _DemoRecords:
    """Builds every demo row in memory; nothing here touches the database."""

    def __init__(self, anchor: date, demo: DemoData) -> None:
        self.anchor, self.airports, self.airline = anchor, demo.airports, demo.airline
        self.fixed, self.crowd = demo.fixed, demo.crowd
        self.start = datetime.combine(anchor, time())  # the anchor's midnight, naive UTC
        self.rng = random.Random(self.crowd["seed"])
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
        self.references = set(demo.references)
        self.file_references = {
            report["file_reference"]
            for customer in self.fixed["customers"]
            for booking in customer.get("bookings", ())
            for report in booking.get("baggage_reports", ())
        }
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
        o, d = self.airports[origin], self.airports[destination]
        departure = _utc(self.anchor + timedelta(days=day), departs, o.tz)
        arrival = departure + _block_time(o, d)
        late, delayed = timedelta(minutes=delay), status is FlightStatus.DELAYED
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
            estimated_departure=departure + late if delayed else None,
            estimated_arrival=arrival + late if delayed else None,
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
            email=_slug(full_name).replace("-", ".") + "@example.com",
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
        total: str | Decimal,
        day: int,
        hour: int = 12,
        minute: int = 0,
        status: BookingStatus = BookingStatus.CONFIRMED,
    ) -> Booking:
        """A booking; `passengers` are (name, seat per flight, assistance code)."""
        long_haul = any(self.long_haul(f) for f in flights)
        booking = Booking(
            reference=reference,
            customer=customer,
            fare_family=fare,
            total_paid=Decimal(total),
            currency="EUR",
            status=status,
            created_at=self.at(day, hour, minute),
            **self.fare_terms(fare, long_haul),
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

    def fare_terms(self, fare: FareFamily, long_haul: bool) -> dict[str, Any]:
        """The conditions the fare sells (airline.yml), as Booking columns."""
        terms = dict(self.airline["fares"][fare])
        long_haul_fee = terms.pop("long_haul_change_fee", terms["change_fee"])
        return {**terms, "change_fee": long_haul_fee} if long_haul else terms

    def moment(self, moment: dict[str, Any]) -> datetime:
        """A {day, at} of fixed.yml as a naive UTC datetime."""
        return self.at(moment["day"], moment["at"].hour, moment["at"].minute)

    def long_haul(self, flight: Flight) -> bool:
        return _is_long_haul(
            self.airports[flight.origin_code], self.airports[flight.destination_code]
        )

    def fixed_records(self) -> None:
        """The records of fixed.yml, in the file's order (tests and docs rely on every value)."""
        flights = {spec["number"]: self.flight(**spec) for spec in self.fixed["flights"]}
        for spec in self.fixed["customers"]:
            customer = self.customer(**{k: v for k, v in spec.items() if k != "bookings"})
            for b in spec.get("bookings", ()):
                day, at = b["booked"]["day"], b["booked"]["at"]
                booking = self.booking(
                    b["reference"],
                    customer,
                    b["fare"],
                    [flights[n] for n in b["flights"]],
                    [(p["name"], p["seats"], p.get("assistance")) for p in b["passengers"]],
                    total=b["total"],
                    day=day,
                    hour=at.hour,
                    minute=at.minute,
                    status=b.get("status", BookingStatus.CONFIRMED),
                )
                for r in b.get("refunds", ()):
                    expected = r.get("expected_in_days")
                    self.refunds.append(
                        Refund(
                            booking=booking,
                            amount=r["amount"],
                            currency="EUR",
                            status=r["status"],
                            reason=r["reason"],
                            requested_at=self.moment(r["requested"]),
                            expected_date=None
                            if expected is None
                            else self.anchor + timedelta(days=expected),
                        )
                    )
                for c in b.get("contacts", ()):
                    self.contacts.append(
                        Contact(
                            customer=customer,
                            booking=booking,
                            channel=c["channel"],
                            topic=c["topic"],
                            summary=self.crowd["summaries"][c["topic"]].format(
                                ref=booking.reference
                            ),
                            handled_by=c["handled_by"],
                            created_at=self.moment(c["when"]),
                        )
                    )
                for r in b.get("baggage_reports", ()):
                    flight = flights[r["flight"]]
                    reported = flight.scheduled_arrival + timedelta(
                        minutes=r["minutes_after_arrival"]
                    )
                    self.reports.append(
                        BaggageReport(
                            file_reference=r["file_reference"],
                            booking=booking,
                            flight=flight,
                            kind=r["kind"],
                            status=r["status"],
                            description=r["description"],
                            last_seen=self.airports[r["last_seen"]].label,
                            expected_delivery=None,
                            created_at=reported,
                            updated_at=reported + timedelta(hours=r["updated_hours_later"]),
                        )
                    )

    # -- the generated crowd: every draw in a fixed order, so the same rows every time ---------

    def generated_customers(self) -> None:
        rng, crowd = self.rng, self.crowd
        languages = [
            language for language, count in crowd["customers"].items() for _ in range(count)
        ]
        rng.shuffle(languages)
        names = {c.full_name for c in self.customers}
        tiers = list(crowd["tiers"])
        weights = [tier["weight"] for tier in crowd["tiers"].values()]
        telegram_ids = (str(100_000 + n) for n in range(3, 1000))
        x_ids = (str(200_000 + n) for n in range(3, 1000))
        for language in languages:
            firsts, lasts = self.name_lists(language)
            name = f"{rng.choice(firsts)} {rng.choice(lasts)}"
            while name in names:
                name = f"{rng.choice(firsts)} {rng.choice(lasts)}"
            names.add(name)
            tier = rng.choices(tiers, weights=weights)[0]
            low, high = crowd["tiers"][tier]["points"]
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
        """Flights on the routes, each outbound with its return flight (or None)."""
        rng = self.rng
        first_day, last_day = self.airline["days"]
        numbers = _RouteNumbers(
            self.airline["flight_numbers"], [flight["number"] for flight in self.fixed["flights"]]
        )
        returns: dict[Flight, Flight | None] = {}
        # (number, day) pairs flown; two outbounds may otherwise come back on the same day.
        flown: set[tuple[str, int]] = set()
        routes = [
            (origin, destination)
            for origin, destinations in self.airline["routes"].items()
            for destination in destinations
        ]
        for origin, destination in routes:
            outbound_number = numbers.next_for(self.airports[origin], self.airports[destination])
            inbound_number = f"XY{int(outbound_number[2:]) + 1:03d}"
            outbound_time = time(rng.randint(6, 20), 5 * rng.randint(0, 11))
            inbound_time = time(rng.randint(7, 21), 5 * rng.randint(0, 11))
            days = sorted(rng.sample(range(first_day, last_day + 1), rng.choice((1, 2, 2, 3))))
            for day in days:
                outbound = self.generated_flight(
                    outbound_number, origin, destination, day, outbound_time
                )
                inbound = None
                stay = rng.randint(2, 12)
                back = (inbound_number, day + stay)
                if rng.random() < 0.6 and day + stay <= last_day and back not in flown:
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
        delay = rng.choice(self.crowd["delays"]) if status is FlightStatus.DELAYED else 0
        terminal = rng.choice(self.airports[origin].terminals)
        gate = None
        # Gates are published shortly before departure; later flights mostly have none yet.
        if status is not FlightStatus.CANCELLED and (day <= 1 or rng.random() < 0.4):
            gate = f"{rng.choice(self.crowd['gate_letters'])}{rng.randint(1, 60)}"
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
                        rng.choice(self.crowd["assistance"]) if rng.random() < 0.04 else None,
                    )
                    for i, name in enumerate(names)
                ]
                day = min(self.flight_day[outbound], 0) - rng.randint(2, 100)
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
        firsts, lasts = self.name_lists(language)
        family = customer.full_name.split()[-1]
        names = [customer.full_name] if rng.random() < 0.92 else []
        while len(names) < count:
            last = family if rng.random() < 0.6 else rng.choice(lasts)
            name = f"{rng.choice(firsts)} {last}"
            if name not in names:
                names.append(name)
        return names

    def name_lists(self, language: Language) -> tuple[list[str], list[str]]:
        """First names and last names to draw from for people speaking `language`."""
        names = self.crowd["names"][language]
        return names["first"], names["last"]

    def seats(self, flight: Flight, fare: FareFamily, count: int) -> list[str | None]:
        """Seats side by side for a party, or None each when they have not chosen yet."""
        rng = self.rng
        departed = self.flight_day[flight] < 0
        chance = 1.0 if departed else (0.35 if fare is FareFamily.LIGHT else 0.8)
        if rng.random() >= chance:
            return [None] * count
        cabin = self.airline["cabins"]["long_haul" if self.long_haul(flight) else "other"]
        rows, letters = cabin["rows"], cabin["letters"]
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
            39
            + 0.085 * _distance_km(self.airports[f.origin_code], self.airports[f.destination_code])
            for f in flights
        )
        return f"{round(one_person * multiplier * travellers)}.00"

    def new_reference(self) -> str:
        codes = brand_codes()
        while True:
            reference = "XY" + "".join(
                self.rng.choice(self.crowd["reference_characters"]) for _ in range(4)
            )
            if reference not in self.references and codes.booking_reference.fullmatch(reference):
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
            origin = self.airports[flight.origin_code]
            destination = self.airports[flight.destination_code]
            self.reports.append(
                BaggageReport(
                    file_reference=self.new_file_reference(destination.code),
                    booking=booking,
                    flight=flight,
                    kind=kind,
                    status=status,
                    description=rng.choice(self.crowd["bags"][self.language[booking.customer]]),
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
                    reason = "booking cancelled (refundable fare)"
                    amount = total - booking.cancellation_fee
                else:
                    reason = "unused airport taxes on a cancelled booking"
                    amount = (total * Decimal("0.18")).quantize(Decimal("0.01"))
            else:
                extra = rng.choice(self.crowd["extra_refunds"])
                reason, (low, high) = extra["reason"], extra["amount"]
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
                topic = (
                    self.booking_topic(booking)
                    if booking
                    else rng.choice(self.crowd["topics"]["general"])
                )
                self.contact(customer, booking, topic, -rng.randint(8, 120), channels)

    def booking_topic(self, booking: Booking) -> str:
        topics = list(self.crowd["topics"]["booking"])
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
                summary=self.crowd["summaries"][topic].format(
                    ref=booking.reference if booking else "-"
                ),
                handled_by=HandledBy.BOT if by_bot else HandledBy.AGENT,
                created_at=self.at(day, rng.randint(7, 22), rng.randint(0, 59)),
            )
        )


class _RouteNumbers:
    """Flight numbers by kind of route (airline.yml): outbound numbers are odd and the return
    is the next even number, as airlines do; numbers of the fixed flights are skipped."""

    def __init__(self, first: dict[str, int], fixed: Sequence[str]) -> None:
        self.next = dict(first)
        self.reserved = {int(number[2:]) for number in fixed}

    def next_for(self, origin: Airport, destination: Airport) -> str:
        if _is_long_haul(origin, destination) and destination.tz.startswith("America/"):
            kind = "long_haul"
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
