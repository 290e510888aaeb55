"""Flight status and check-in, from the flight records."""

from __future__ import annotations

from datetime import timedelta

from actions import formatting as fmt
from actions import lookup
from actions.base import RelaisAction
from actions.context import Context
from relais.storage.queries import BookingView, FlightView, SegmentView

#: Online check-in window, before departure.
CHECK_IN_OPENS = timedelta(hours=30)
CHECK_IN_CLOSES = timedelta(hours=1)


def next_segment(ctx: Context, booking: BookingView) -> SegmentView | None:
    """The booking's next flight, or its last one when the trip is over."""
    horizon = ctx.now - timedelta(hours=12)
    ahead = [s for s in booking.segments if s.flight.scheduled_departure >= horizon]
    if ahead:
        return ahead[0]
    return booking.segments[-1] if booking.segments else None


def flight_values(ctx: Context, flight: FlightView) -> dict[str, str]:
    """The pieces every flight sentence uses, in the conversation's language."""
    departure = fmt.local(flight.scheduled_departure, flight.origin_tz)
    estimated = fmt.local(
        flight.estimated_departure or flight.scheduled_departure, flight.origin_tz
    )
    return {
        "flight": flight.number,
        "origin": flight.origin_city,
        "destination": flight.destination_city,
        "date": fmt.day(departure, ctx.lang),
        "time": fmt.time(departure, ctx.lang),
        "new_time": fmt.time(estimated, ctx.lang),
        "gate": flight.gate or ctx.say_text("flight.gate_unknown"),
        "terminal": flight.terminal or "—",
    }


def tell_status(ctx: Context, flight: FlightView, booking: BookingView | None) -> None:
    values = flight_values(ctx, flight)
    if flight.status == "cancelled":
        ctx.say(
            "flight.cancelled",
            link=ctx.brand.links["manage_booking"],
            ref=booking.reference if booking else flight.number,
            **values,
        )
        ctx.set("pending_offer", "handoff")
    elif flight.scheduled_departure < ctx.now - timedelta(hours=2):
        arrival = fmt.local(
            flight.estimated_arrival or flight.scheduled_arrival, flight.destination_tz
        )
        values["arrival"] = fmt.time(arrival, ctx.lang)
        ctx.say("flight.departed", **values)
    elif flight.status == "delayed":
        ctx.say("flight.delayed", delay=fmt.minutes(flight.delay_minutes, ctx.lang), **values)
    else:
        ctx.say("flight.on_time", **values)


class FlightStatus(RelaisAction):
    """'Is my flight on time?' — by flight number, reference, conversation or account."""

    intent = "flight_status"

    def answer(self, ctx: Context) -> None:
        for number in ctx.turn.flight_numbers():
            flight = ctx.records.next_flight(number, ctx.now)
            if flight is None:
                ctx.say("flight.unknown_number", flight=number)
            else:
                tell_status(ctx, flight, None)
            return
        booking = lookup.resolve(ctx, self.intent, lookup.upcoming(ctx))
        if booking is None:
            return
        segment = next_segment(ctx, booking)
        if segment is None:
            ctx.say("booking.no_flights", ref=booking.reference)
            return
        tell_status(ctx, segment.flight, booking)


class CheckIn(RelaisAction):
    """When online check-in opens and closes for the customer's next flight."""

    intent = "check_in"

    def answer(self, ctx: Context) -> None:
        booking = lookup.resolve(ctx, self.intent, lookup.upcoming(ctx))
        if booking is None:
            return
        segment = next_segment(ctx, booking)
        if segment is None:
            ctx.say("booking.no_flights", ref=booking.reference)
            return
        flight = segment.flight
        values = flight_values(ctx, flight)
        if flight.status == "cancelled":
            tell_status(ctx, flight, booking)
            return
        departure = flight.estimated_departure or flight.scheduled_departure
        opens, closes = departure - CHECK_IN_OPENS, departure - CHECK_IN_CLOSES
        link = ctx.brand.links["manage_booking"]
        if ctx.now < opens:
            ctx.say(
                "check_in.not_yet",
                opens=fmt.day_time(fmt.local(opens, flight.origin_tz), ctx.lang),
                link=link,
                **values,
            )
        elif ctx.now < closes:
            ctx.say(
                "check_in.open",
                closes=fmt.time(fmt.local(closes, flight.origin_tz), ctx.lang),
                link=link,
                **values,
            )
        else:
            ctx.say("check_in.closed", **values)
