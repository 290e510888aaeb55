"""The demo records of fixed.yml: the customers, bookings and flights that docs and tests name."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from relais.core.types import BookingStatus
from relais.storage.records import BaggageReport, Refund
from relais.tools.demo_rows import DemoRows


def add_fixed_records(rows: DemoRows) -> None:
    """The records of fixed.yml, in the file's order (tests and docs rely on every value)."""

    def moment(spec: dict[str, Any]) -> datetime:
        return rows.at(spec["day"], spec["at"].hour, spec["at"].minute)

    flights = {spec["number"]: rows.flight(**spec) for spec in rows.fixed["flights"]}
    for spec in rows.fixed["customers"]:
        customer = rows.customer(**{k: v for k, v in spec.items() if k != "bookings"})
        for b in spec.get("bookings", ()):
            booked = b["booked"]
            booking = rows.booking(
                b["reference"],
                customer,
                b["fare"],
                [flights[n] for n in b["flights"]],
                [(p["name"], p["seats"], p.get("assistance")) for p in b["passengers"]],
                total=b["total"],
                day=booked["day"],
                hour=booked["at"].hour,
                minute=booked["at"].minute,
                status=b.get("status", BookingStatus.CONFIRMED),
            )
            for r in b.get("refunds", ()):
                expected = r.get("expected_in_days")
                rows.refunds.append(
                    Refund(
                        booking=booking,
                        amount=r["amount"],
                        currency=booking.currency,
                        status=r["status"],
                        reason=r["reason"],
                        requested_at=moment(r["requested"]),
                        expected_date=None
                        if expected is None
                        else rows.anchor + timedelta(days=expected),
                    )
                )
            for c in b.get("contacts", ()):
                rows.contact(
                    customer, booking, c["channel"], c["topic"], c["handled_by"], moment(c["when"])
                )
            for r in b.get("baggage_reports", ()):
                flight = flights[r["flight"]]
                reported = flight.scheduled_arrival + timedelta(minutes=r["minutes_after_arrival"])
                rows.reports.append(
                    BaggageReport(
                        file_reference=r["file_reference"],
                        booking=booking,
                        flight=flight,
                        kind=r["kind"],
                        status=r["status"],
                        description=r["description"],
                        last_seen=rows.airports[r["last_seen"]].label,
                        expected_delivery=None,
                        created_at=reported,
                        updated_at=reported + timedelta(hours=r["updated_hours_later"]),
                    )
                )
