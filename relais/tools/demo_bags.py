"""The generated baggage reports (crowd.yml: baggage_reports)."""

from __future__ import annotations

from datetime import datetime, timedelta

from relais.core.types import BaggageKind, BaggageStatus, BookingStatus, FlightStatus
from relais.storage.records import BaggageReport
from relais.tools.demo_rows import DemoRows, by_age


def add_baggage_reports(rows: DemoRows) -> None:
    draw, tuning = rows.draw, rows.crowd["baggage_reports"]
    files = {report.file_reference for report in rows.reports}
    landed = [
        (booking, segment.flight)
        for booking in rows.generated_bookings()
        if booking.status is BookingStatus.CONFIRMED
        for segment in booking.segments[-1:]
        if rows.flight_day[segment.flight] <= -tuning["landed_days_ago"]
        and segment.flight.status is not FlightStatus.CANCELLED
    ]
    for booking, flight in draw.sample(landed, tuning["count"]):
        age = -rows.flight_day[flight]
        damaged = draw.chance(tuning["damaged_chance"])
        kind = BaggageKind.DAMAGED if damaged else BaggageKind.DELAYED
        status = draw.one_of(by_age(tuning["status"][kind], age)["statuses"])
        landed_at = flight.estimated_arrival or flight.scheduled_arrival
        created = landed_at + timedelta(
            minutes=draw.between(tuning["reported_minutes_after_landing"])
        )
        updated = created + (rows.start - created) * draw.uniform(*tuning["updated_share"])
        expected = _expected_delivery(rows, status, created)
        origin = rows.airports[flight.origin_code]
        destination = rows.airports[flight.destination_code]
        rows.reports.append(
            BaggageReport(
                file_reference=_new_file_reference(rows, destination.code, files),
                booking=booking,
                flight=flight,
                kind=kind,
                status=status,
                description=draw.choice(
                    tuning["descriptions"][booking.customer.preferred_language]
                ),
                last_seen=(origin if status is BaggageStatus.SEARCHING else destination).label,
                expected_delivery=expected,
                created_at=created.replace(second=0, microsecond=0),
                updated_at=updated.replace(second=0, microsecond=0),
            )
        )


def _expected_delivery(
    rows: DemoRows, status: BaggageStatus, reported: datetime
) -> datetime | None:
    draw, tuning = rows.draw, rows.crowd["baggage_reports"]
    if status is BaggageStatus.DELIVERED:
        days = draw.between(tuning["delivered_days_after_report"])
        return min(reported + timedelta(days=days), rows.start)
    when = tuning["expected"].get(status.value)
    if when is None:
        return None
    return rows.at(draw.fixed_or_between(when["day"]), draw.fixed_or_between(when["hour"]))


def _new_file_reference(rows: DemoRows, station: str, taken: set[str]) -> str:
    """A baggage file reference used by no report yet, added to `taken`."""
    while True:
        reference = f"{station}{rows.airline_code}{rows.draw.randint(10_000, 99_999)}"
        if reference not in taken:
            taken.add(reference)
            return reference
