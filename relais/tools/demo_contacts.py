"""The generated past contacts with customer service (crowd.yml: contacts)."""

from __future__ import annotations

from collections.abc import Sequence

from relais.core.types import Channel, HandledBy
from relais.storage.records import Booking, Customer
from relais.tools.demo_rows import DemoRows


def add_contacts(rows: DemoRows) -> None:
    draw, tuning = rows.draw, rows.crowd["contacts"]
    repeat = tuning["repeat"]
    for index, customer in enumerate(draw.sample(rows.generated_customers(), tuning["customers"])):
        bookings = list(customer.bookings)
        channels = list(tuning["channels"])
        if customer.telegram_user_id:
            channels.append(Channel.TELEGRAM)
        if customer.x_user_id:
            channels.append(Channel.X)
        if index < repeat["customers"] and bookings:
            booking = draw.choice(bookings)
            topic = _booking_topic(rows, booking)
            days_ago = draw.between(repeat["recent_days_ago"])
            _contact(rows, customer, booking, topic, -days_ago, channels)
            if draw.chance(repeat["again_chance"]):
                days_ago = draw.between(repeat["earlier_days_ago"])
                _contact(rows, customer, booking, topic, -days_ago, channels)
        for _ in range(draw.choice(tuning["others"])):
            about_booking = bool(bookings) and draw.chance(tuning["about_booking_chance"])
            booking = draw.choice(bookings) if about_booking else None
            if booking is not None:
                topic = _booking_topic(rows, booking)
            else:
                topic = draw.choice(tuning["topics"]["general"])
            days_ago = draw.between(tuning["days_ago"])
            _contact(rows, customer, booking, topic, -days_ago, channels)


def _booking_topic(rows: DemoRows, booking: Booking) -> str:
    topics = rows.crowd["contacts"]["topics"]
    drawn_from = list(topics["booking"])
    if booking.refunds:
        drawn_from += topics["with_refund"]
    if booking.baggage_reports:
        drawn_from += topics["with_bag_report"]
    return rows.draw.choice(drawn_from)


def _contact(
    rows: DemoRows,
    customer: Customer,
    booking: Booking | None,
    topic: str,
    day: int,
    channels: Sequence[Channel],
) -> None:
    draw, tuning = rows.draw, rows.crowd["contacts"]
    if booking is not None:
        # After the booking was made, before the anchor.
        day = min(max(day, rows.booking_day[booking] + 1), -1)
    channel = draw.choice(channels)
    bot = channel in tuning["bot_chance"] and draw.chance(tuning["bot_chance"][channel])
    handled_by = HandledBy.BOT if bot else HandledBy.AGENT
    rows.contact(
        customer, booking, channel, topic, handled_by, rows.at(day, *draw.clock(tuning["hours"]))
    )
