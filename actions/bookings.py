"""New bookings, changes, cancellations, seats, and references the customer sends."""

from __future__ import annotations

from decimal import Decimal

from actions import formatting as fmt
from actions import knowledge, lookup
from actions.base import RelaisAction, handler
from actions.context import Context
from actions.flights import flight_values, next_segment
from relais.storage.queries import BookingView


def fare_name(ctx: Context, booking: BookingView) -> str:
    return ctx.say_text(f"fare.{booking.fare_family}")


def trip_values(ctx: Context, booking: BookingView) -> dict[str, str]:
    segment = next_segment(ctx, booking)
    values = flight_values(ctx, segment.flight) if segment else {}
    values.update(ref=booking.reference, fare=fare_name(ctx, booking))
    return values


def any_flight_cancelled(booking: BookingView) -> bool:
    return any(s.flight.status == "cancelled" for s in booking.segments)


class BookFlight(RelaisAction):
    """New tickets are sold on the website; the bot says so with the customer's perks."""

    intent = "book_flight"

    def answer(self, ctx: Context) -> None:
        link = ctx.brand.links["booking"]
        if ctx.customer is not None:
            ctx.say(
                "book.known",
                name=ctx.first_name,
                tier=ctx.say_text(f"tier.{ctx.customer.loyalty_tier}"),
                link=link,
            )
        else:
            ctx.say("book.anonymous", link=link)


class ChangeBooking(RelaisAction):
    """What a change costs on this booking's fare, from the record."""

    intent = "change_booking"

    def answer(self, ctx: Context) -> None:
        booking = lookup.resolve(ctx, self.intent, lookup.upcoming(ctx))
        if booking is None:
            return
        values = trip_values(ctx, booking)
        values["link"] = ctx.brand.links["manage_booking"]
        if booking.status == "cancelled":
            ctx.say("booking.already_cancelled", **values)
        elif any_flight_cancelled(booking):
            ctx.say("change.free_flight_cancelled", **values)
            ctx.set("pending_offer", "handoff")
        elif not booking.changeable:
            ctx.say("change.not_allowed", **values)
        elif Decimal(booking.change_fee) == 0:
            ctx.say("change.free", **values)
            ctx.set("pending_offer", "handoff")
        else:
            ctx.say(
                "change.fee",
                fee=fmt.money(booking.change_fee, booking.currency, ctx.lang),
                **values,
            )
            ctx.set("pending_offer", "handoff")


class CancelBooking(RelaisAction):
    """What the customer gets back if they cancel, from the fare rules of the record."""

    intent = "cancel_booking"

    def answer(self, ctx: Context) -> None:
        booking = lookup.resolve(ctx, self.intent, lookup.upcoming(ctx))
        if booking is None:
            return
        values = trip_values(ctx, booking)
        values["link"] = ctx.brand.links["manage_booking"]
        values["paid"] = fmt.money(booking.total_paid, booking.currency, ctx.lang)
        if booking.status == "cancelled":
            ctx.say("booking.already_cancelled", **values)
            return
        if any_flight_cancelled(booking):
            ctx.say("cancel.flight_cancelled", **values)
        elif booking.refundable:
            back = Decimal(booking.total_paid) - Decimal(booking.cancellation_fee)
            ctx.say(
                "cancel.refundable",
                fee=fmt.money(booking.cancellation_fee, booking.currency, ctx.lang),
                back=fmt.money(back, booking.currency, ctx.lang),
                **values,
            )
        else:
            ctx.say("cancel.not_refundable", **values)
        ctx.set("pending_offer", "handoff")


class SeatSelection(RelaisAction):
    """The seats on the customer's next flight, per passenger."""

    intent = "seat_selection"

    def answer(self, ctx: Context) -> None:
        booking = lookup.resolve(ctx, self.intent, lookup.upcoming(ctx))
        if booking is None:
            return
        segment = next_segment(ctx, booking)
        if segment is None:
            ctx.say("booking.no_flights", ref=booking.reference)
            return
        none = ctx.say_text("seat.none")
        seats = ", ".join(f"{a.passenger_name} {a.seat or none}" for a in segment.seats) or none
        values = trip_values(ctx, booking)
        key = "seat.paid" if booking.fare_family == "light" else "seat.included"
        ctx.say(key, seats=seats, link=ctx.brand.links["manage_booking"], **values)


class ProvideBookingReference(RelaisAction):
    """A reference on its own: answers the request waiting for it, or sums the booking up."""

    intent = "provide_booking_reference"

    def follows_pending(self, ctx: Context) -> bool:
        return False

    def answer(self, ctx: Context) -> None:
        if not ctx.turn.references() and not lookup.awaiting_surname(ctx):
            waiting = ctx.slot("pending_intent") or self.intent
            ctx.dispatcher.utter_message(text=knowledge.ask_for_booking(ctx, waiting))
            return
        pending = handler(ctx.slot("pending_intent"))
        if pending is not None and pending is not type(self):
            pending().answer(ctx)
            return
        booking = lookup.resolve(ctx, self.intent)
        if booking is None:
            return
        values = trip_values(ctx, booking)
        if "flight" not in values:
            ctx.say("booking.no_flights", ref=booking.reference)
            return
        ctx.say("booking.summary", **values)
