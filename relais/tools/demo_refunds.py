"""The generated refunds (crowd.yml: refunds)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from relais.core.types import BookingStatus, FlightStatus, RefundStatus
from relais.storage.records import Booking, Refund
from relais.tools.demo_rows import DemoRows, by_age


def add_refunds(rows: DemoRows) -> None:
    """One on each cancelled generated booking, then on confirmed ones drawn, up to the count."""
    draw, tuning = rows.draw, rows.crowd["refunds"]
    count = tuning["count"]
    generated = rows.generated_bookings()
    cancelled = [b for b in generated if b.status is BookingStatus.CANCELLED]
    others = [b for b in generated if b.status is BookingStatus.CONFIRMED]
    for booking in cancelled[:count] + draw.sample(others, max(0, count - len(cancelled))):
        reason, amount = _reason_and_amount(rows, booking)
        earliest, latest = tuning["requested_days_ago"]
        day = draw.randint(max(rows.booking_day[booking] + 1, -latest), -earliest)
        age = -day
        status = draw.by_share(by_age(tuning["status"], age)["shares"])
        requested = rows.at(day, *draw.clock(tuning["requested_hours"]))
        paid_at: datetime | None = None
        expected: date | None = None
        if status is RefundStatus.PAID:
            paid = tuning["paid"]
            after = draw.randint(paid["days_after_request"], age - 1)
            paid_at = rows.at(day + after, draw.between(paid["hours"]))
            expected = paid_at.date()
        elif days := tuning["expected_in_days"].get(status.value):
            expected = rows.anchor + timedelta(days=draw.between(days))
        rows.refunds.append(
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


def _reason_and_amount(rows: DemoRows, booking: Booking) -> tuple[str, Decimal]:
    draw, tuning = rows.draw, rows.crowd["refunds"]
    total = Decimal(booking.total_paid)
    if booking.status is BookingStatus.CONFIRMED:
        refund = draw.choice(tuning["confirmed_booking"])
        units, cents = draw.between(refund["amount"]), draw.choice(tuning["cents"])
        return refund["reason"], Decimal(f"{units}.{cents}")
    reasons = tuning["cancelled_booking"]
    if any(segment.flight.status is FlightStatus.CANCELLED for segment in booking.segments):
        return reasons["flight_cancelled"], total
    if booking.refundable:
        return reasons["refundable_fare"], total - booking.cancellation_fee
    taxes = (total * tuning["taxes_share"]).quantize(Decimal("0.01"))
    return reasons["taxes_only"], taxes
