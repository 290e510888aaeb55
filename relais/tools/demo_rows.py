"""The demo rows being built, in memory, and what every part of the demo generator shares.

The parts (`demo_fixed`, `demo_customers`, `demo_flights`…) add rows to one `DemoRows`; all
their random draws come from its one `Draws`, so they must run in the same order every time.
"""

from __future__ import annotations

import math
import random
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from relais.core.codes import brand_codes
from relais.core.types import (
    BookingStatus,
    Channel,
    FareFamily,
    FlightStatus,
    HandledBy,
    Language,
    LoyaltyTier,
)
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
)
from relais.tools.demo_data import Airport, DemoData

T = TypeVar("T")


class Draws(random.Random):
    """The crowd's one random generator, with the kinds of draw crowd.yml speaks of."""

    def chance(self, chance: float) -> bool:
        return self.random() < chance

    def between(self, span: tuple[int, int]) -> int:
        return self.randint(*span)

    def fixed_or_between(self, value: int | tuple[int, int]) -> int:
        return value if isinstance(value, int) else self.randint(*value)

    def weighted(self, weights: Mapping[T, int]) -> T:
        return self.choices(list(weights), weights=list(weights.values()))[0]

    def by_share(self, shares: Mapping[T, float]) -> T:
        """One outcome, each by its share (in order); the last takes the rest."""
        draw, total = self.random(), 0.0
        *firsts, last = shares
        for outcome in firsts:
            total += shares[outcome]
            if draw < total:
                return outcome
        return last

    def one_of(self, options: Sequence[T]) -> T:
        """One of `options`, drawn only if there is a choice (so a single one uses no draw)."""
        return options[0] if len(options) == 1 else self.choice(options)

    def clock(self, hours: tuple[int, int]) -> tuple[int, int]:
        """An hour between `hours`, and any minute."""
        return self.randint(*hours), self.randint(0, 59)


def by_age(lines: Sequence[dict[str, Any]], age: int) -> dict[str, Any]:
    """The first line of a table by age in days (crowd.yml) that `age` fits."""
    return next(line for line in lines if age <= line.get("up_to_days", age))


def slug(text: str) -> str:
    """Lower-case ASCII words joined by "-": "Élise O'Connor" → "elise-oconnor"."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).replace("'", "")
    return "-".join(
        part for part in "".join(ch if ch.isalnum() else "-" for ch in folded).split("-") if part
    )


def _distance_km(a: Airport, b: Airport) -> float:
    """Great-circle distance."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371 * math.asin(math.sqrt(h))


def _utc(day: date, at: time, tz: str) -> datetime:
    """Local wall-clock time at an airport, as the naive UTC the records hold."""
    local = datetime.combine(day, at, tzinfo=ZoneInfo(tz))
    return local.astimezone(timezone.utc).replace(tzinfo=None)


class DemoRows:
    """Every demo row, per table in the order they are added; nothing here touches the database."""

    def __init__(self, anchor: date, demo: DemoData) -> None:
        self.anchor, self.airports, self.airline = anchor, demo.airports, demo.airline
        self.fixed, self.crowd = demo.fixed, demo.crowd
        self.start = datetime.combine(anchor, time())  # the anchor's midnight, naive UTC
        self.draw = Draws(self.crowd["seed"])
        # The brand's airline code starts every flight number, reference and baggage file.
        self.airline_code = brand_codes().airline
        self.flights: list[Flight] = []
        self.customers: list[Customer] = []
        self.bookings: list[Booking] = []
        self.reports: list[BaggageReport] = []
        self.refunds: list[Refund] = []
        self.contacts: list[Contact] = []
        # Day offsets from the anchor, kept beside the rows so that choices never depend on
        # the anchor itself (only on the seed), and so every anchor gives the same shape.
        self.flight_day: dict[Flight, int] = {}
        self.booking_day: dict[Booking, int] = {}
        self.seats_taken: dict[Flight, set[str]] = {}

    def tables(self) -> list[Sequence[Any]]:
        """The rows, table by table, in the order they are to be added to the session."""
        return [
            self.flights,
            self.customers,
            self.bookings,
            self.reports,
            self.refunds,
            self.contacts,
        ]

    def generated_customers(self) -> list[Customer]:
        """The customers after those of fixed.yml."""
        return self.customers[len(self.fixed["customers"]) :]

    def generated_bookings(self) -> list[Booking]:
        """The bookings after those of fixed.yml."""
        fixed = sum(len(customer.get("bookings", ())) for customer in self.fixed["customers"])
        return self.bookings[fixed:]

    def at(self, day: int, hour: int, minute: int = 0) -> datetime:
        """A naive UTC moment `day` days from the anchor."""
        return self.start + timedelta(days=day, hours=hour, minutes=minute)

    def distance_km(self, origin: str, destination: str) -> float:
        """Between two airports (codes)."""
        return _distance_km(self.airports[origin], self.airports[destination])

    def long_haul(self, origin: str, destination: str) -> bool:
        return self.distance_km(origin, destination) > self.airline["long_haul_km"]

    def block_time(self, origin: Airport, destination: Airport) -> timedelta:
        block = self.airline["block_time"]
        cruise = _distance_km(origin, destination) / block["cruise_kmh"] * 60
        minutes, step = block["taxi_climb_descent_minutes"] + cruise, block["round_to"]
        return timedelta(minutes=step * round(minutes / step))

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
        arrival = departure + self.block_time(o, d)
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
            email=f"{slug(full_name).replace('-', '.')}@{self.airline['email_domain']}",
            preferred_language=language,
            loyalty_tier=tier,
            loyalty_points=points,
            telegram_user_id=telegram,
            x_user_id=x,
            web_chat_id=web,
            created_at=self.at(since, 10, 0),
        )
        self.customers.append(customer)
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
        booking = Booking(
            reference=reference,
            customer=customer,
            fare_family=fare,
            total_paid=Decimal(total),
            currency=self.airline["currency"],
            status=status,
            created_at=self.at(day, hour, minute),
            **self.fare_terms(
                fare, any(self.long_haul(f.origin_code, f.destination_code) for f in flights)
            ),
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
        return booking

    def fare_terms(self, fare: FareFamily, long_haul: bool) -> dict[str, Any]:
        """The conditions the fare sells (airline.yml), as Booking columns."""
        terms = dict(self.airline["fares"][fare])
        long_haul_fee = terms.pop("long_haul_change_fee", terms["change_fee"])
        return {**terms, "change_fee": long_haul_fee} if long_haul else terms

    def contact(
        self,
        customer: Customer,
        booking: Booking | None,
        channel: Channel,
        topic: str,
        handled_by: HandledBy,
        created_at: datetime,
    ) -> None:
        """A past contact, noted with its topic's summary (crowd.yml)."""
        summary = self.crowd["contacts"]["summaries"][topic]
        self.contacts.append(
            Contact(
                customer=customer,
                booking=booking,
                channel=channel,
                topic=topic,
                summary=summary.format(ref=booking.reference if booking else "-"),
                handled_by=handled_by,
                created_at=created_at,
            )
        )
