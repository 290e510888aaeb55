"""Special assistance and travel documents for the customer's trip."""

from __future__ import annotations

from datetime import timedelta

from actions import formatting as fmt
from actions import lookup
from actions.base import RelaisAction
from actions.context import Context
from actions.flights import next_segment

#: Assistance must be requested this long before departure.
ASSISTANCE_NOTICE = timedelta(hours=48)
SCHENGEN = frozenset(
    "AT BE CH CZ DE DK EE ES FI GR HR HU IS IT LI LT LU LV MT NL NO PL PT SE SI SK".split()
)
#: Document rule per destination country; anything else: passport and check the visa rules.
DOCUMENT_RULES = {"FR": "domestic", "CA": "canada", "US": "usa", "GB": "uk"}


class SpecialAssistance(RelaisAction):
    """What assistance is booked, and by when more can be arranged for this flight."""

    intent = "special_assistance"

    def answer(self, ctx: Context) -> None:
        booking = lookup.resolve(ctx, self.intent, lookup.upcoming(ctx))
        if booking is None:
            return
        segment = next_segment(ctx, booking)
        if segment is None:
            ctx.say("booking.no_flights", ref=booking.reference)
            return
        flight = segment.flight
        deadline = fmt.local(flight.scheduled_departure - ASSISTANCE_NOTICE, flight.origin_tz)
        booked = [p for p in booking.passengers if p.special_assistance]
        values = {
            "ref": booking.reference,
            "flight": flight.number,
            "date": fmt.day(fmt.local(flight.scheduled_departure, flight.origin_tz), ctx.lang),
            "deadline": fmt.day_time(deadline, ctx.lang),
            "link": ctx.brand.links["special_assistance"],
        }
        if booked:
            listed = ", ".join(
                f"{p.full_name} ({ctx.say_text(f'assistance.{p.special_assistance}')})"
                for p in booked
            )
            ctx.say("assistance.booked", passengers=listed, **values)
        elif ctx.now > flight.scheduled_departure - ASSISTANCE_NOTICE:
            ctx.say("assistance.late", **values)
        else:
            ctx.say("assistance.none", **values)
        ctx.set("pending_offer", "handoff")


class TravelDocuments(RelaisAction):
    """The documents needed for the destination of the customer's trip."""

    intent = "travel_documents"

    def answer(self, ctx: Context) -> None:
        booking = lookup.resolve(ctx, self.intent, lookup.upcoming(ctx))
        if booking is None:
            return
        segment = next_segment(ctx, booking)
        if segment is None:
            ctx.say("booking.no_flights", ref=booking.reference)
            return
        flight = segment.flight
        country = flight.destination_country
        rule = DOCUMENT_RULES.get(country) or ("schengen" if country in SCHENGEN else "other")
        ctx.say(
            f"documents.{rule}",
            ref=booking.reference,
            city=flight.destination_city,
            country=country,
            link=ctx.brand.links["travel_documents"],
        )
