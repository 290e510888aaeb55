"""The generated flights (airline.yml: routes, days, flight numbers; crowd.yml: flights)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import time

from relais.core.types import FlightStatus
from relais.storage.records import Flight
from relais.tools.demo_data import Airport
from relais.tools.demo_rows import DemoRows


def add_flights(rows: DemoRows) -> dict[Flight, Flight | None]:
    """Flights on the routes, each outbound with its return flight (or None)."""
    draw, tuning, airline = rows.draw, rows.crowd["flights"], rows.airline
    first_day, last_day = airline["days"]
    numbers = _RouteNumbers(
        airline["flight_numbers"], [flight["number"] for flight in rows.fixed["flights"]]
    )
    step = tuning["minute_step"]

    def departure(hours: tuple[int, int]) -> time:
        return time(draw.between(hours), step * draw.randint(0, 59 // step))

    returns: dict[Flight, Flight | None] = {}
    # (number, day) pairs flown; two outbounds may otherwise come back on the same day.
    flown: set[tuple[str, int]] = set()
    for origin, destinations in airline["routes"].items():
        for destination in destinations:
            number = numbers.next_for(
                rows.airports[destination], rows.long_haul(origin, destination)
            )
            outbound_number = f"{rows.airline_code}{number:03d}"
            inbound_number = f"{rows.airline_code}{number + 1:03d}"
            outbound_time = departure(tuning["departure_hours"]["outbound"])
            inbound_time = departure(tuning["departure_hours"]["return"])
            days_flown = draw.choice(tuning["days_per_route"])
            for day in sorted(draw.sample(range(first_day, last_day + 1), days_flown)):
                outbound = _flight(rows, outbound_number, origin, destination, day, outbound_time)
                inbound = None
                back = day + draw.between(tuning["stay_days"])
                if (
                    draw.chance(tuning["return_chance"])
                    and back <= last_day
                    and (inbound_number, back) not in flown
                ):
                    flown.add((inbound_number, back))
                    inbound = _flight(rows, inbound_number, destination, origin, back, inbound_time)
                returns[outbound] = inbound
    return returns


def _flight(
    rows: DemoRows, number: str, origin: str, destination: str, day: int, departs: time
) -> Flight:
    draw, tuning = rows.draw, rows.crowd["flights"]
    gates = tuning["gates"]
    status = draw.by_share(tuning["status"])
    delay = draw.choice(tuning["delays"]) if status is FlightStatus.DELAYED else 0
    terminal = draw.choice(rows.airports[origin].terminals)
    gate = None
    # Gates are published shortly before departure; later flights mostly have none yet.
    if status is not FlightStatus.CANCELLED and (
        day <= gates["known_within_days"] or draw.chance(gates["later_chance"])
    ):
        gate = f"{draw.choice(gates['letters'])}{draw.between(gates['numbers'])}"
    return rows.flight(
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


class _RouteNumbers:
    """Flight numbers by kind of route (airline.yml): outbound numbers are odd and the return
    is the next even number, as airlines do; numbers of the fixed flights are skipped."""

    def __init__(self, first: dict[str, int], fixed: Sequence[str]) -> None:
        self.next = dict(first)
        self.reserved = {int(number[-3:]) for number in fixed}

    def next_for(self, destination: Airport, long_haul: bool) -> int:
        if long_haul and destination.tz.startswith("America/"):
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
        return number
