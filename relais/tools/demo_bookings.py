"""The generated bookings, their passengers and seats (crowd.yml: bookings; airline.yml: prices)."""

from __future__ import annotations

from collections.abc import Sequence

from relais.core.codes import brand_codes
from relais.core.types import BookingStatus, FareFamily, FlightStatus
from relais.storage.records import Customer, Flight
from relais.tools.demo_rows import DemoRows


def add_bookings(rows: DemoRows, returns: dict[Flight, Flight | None]) -> None:
    """The generated customers' bookings on the generated flights (`returns`: their returns)."""
    draw, tuning = rows.draw, rows.crowd["bookings"]
    outbounds = list(returns)
    references = {booking.reference for booking in rows.bookings}
    for customer in rows.generated_customers():
        for _ in range(draw.choice(tuning["per_customer"])):
            outbound = draw.choice(outbounds)
            flights = [outbound]
            inbound = returns[outbound]
            if inbound is not None and draw.chance(tuning["return_chance"]):
                flights.append(inbound)
            fare = draw.weighted(tuning["fares"])
            names = _travellers(rows, customer, draw.weighted(tuning["party_sizes"]))
            seats = [_seats(rows, flight, fare, len(names)) for flight in flights]
            passengers = [
                (
                    name,
                    [per_flight[i] for per_flight in seats],
                    draw.choice(tuning["assistance"])
                    if draw.chance(tuning["assistance_chance"])
                    else None,
                )
                for i, name in enumerate(names)
            ]
            day = min(rows.flight_day[outbound], 0) - draw.between(tuning["booked_days_before"])
            cancelled_flight = any(f.status is FlightStatus.CANCELLED for f in flights)
            cancelled = draw.chance(
                tuning["cancelled_chance"]["flight_cancelled" if cancelled_flight else "otherwise"]
            )
            reference = _new_reference(rows, references)
            hour, minute = draw.clock(tuning["booked_hours"])
            rows.booking(
                reference,
                customer,
                fare,
                flights,
                passengers,
                total=_price(rows, flights, fare, len(names)),
                day=day,
                hour=hour,
                minute=minute,
                status=BookingStatus.CANCELLED if cancelled else BookingStatus.CONFIRMED,
            )


def _travellers(rows: DemoRows, customer: Customer, count: int) -> list[str]:
    """The customer (usually) and companions, often of the same family."""
    draw, tuning = rows.draw, rows.crowd["bookings"]
    names = rows.crowd["names"][customer.preferred_language]
    family = customer.full_name.split()[-1]
    party = [customer.full_name] if draw.chance(tuning["customer_travels"]) else []
    while len(party) < count:
        last = family if draw.chance(tuning["same_last_name"]) else draw.choice(names["last"])
        name = f"{draw.choice(names['first'])} {last}"
        if name not in party:
            party.append(name)
    return party


def _seats(rows: DemoRows, flight: Flight, fare: FareFamily, count: int) -> list[str | None]:
    """Seats side by side for a party, or None each when they have not chosen yet."""
    draw = rows.draw
    departed = rows.flight_day[flight] < 0
    chance = 1.0 if departed else rows.crowd["bookings"]["seats_chosen"][fare]
    if not draw.chance(chance):
        return [None] * count
    long_haul = rows.long_haul(flight.origin_code, flight.destination_code)
    cabin = rows.airline["cabins"]["long_haul" if long_haul else "other"]
    last_row, letters = cabin["rows"], cabin["letters"]
    taken = rows.seats_taken[flight]
    row = draw.randint(1, last_row)
    chosen: list[str | None] = []
    for offset in range(last_row):
        for letter in letters:
            seat = f"{(row + offset - 1) % last_row + 1}{letter}"
            if seat not in taken and len(chosen) < count:
                chosen.append(seat)
        if len(chosen) == count:
            break
    return chosen + [None] * (count - len(chosen))


def _price(rows: DemoRows, flights: Sequence[Flight], fare: FareFamily, travellers: int) -> str:
    prices = rows.airline["prices"]
    one_person = sum(
        prices["per_flight"]
        + prices["per_km"] * rows.distance_km(f.origin_code, f.destination_code)
        for f in flights
    )
    return f"{round(one_person * prices['fare_factor'][fare] * travellers)}.00"


def _new_reference(rows: DemoRows, taken: set[str]) -> str:
    """A booking reference used by no booking yet, added to `taken`."""
    characters = rows.crowd["bookings"]["reference_characters"]
    pattern = brand_codes().booking_reference
    while True:
        reference = rows.airline_code + "".join(rows.draw.choice(characters) for _ in range(4))
        if reference not in taken and pattern.fullmatch(reference):
            taken.add(reference)
            return reference
