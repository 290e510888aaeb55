"""Baggage allowance per fare and missing or damaged bags, from the records."""

from __future__ import annotations

from actions import formatting as fmt
from actions import knowledge, lookup
from actions.base import RelaisAction
from actions.context import Context


class BaggageAllowance(RelaisAction):
    """The allowance of the customer's fare, or of each fare when the booking is unknown."""

    intent = "baggage_allowance"

    def answer(self, ctx: Context) -> None:
        # A visitor who typed a reference is asked for the surname that unlocks it: answering
        # "send me your reference" to someone who just did would be a blanket reply.
        typed = ctx.customer is None and bool(ctx.turn.references())
        booking = lookup.resolve(ctx, self.intent, lookup.upcoming(ctx), ask=typed)
        link = ctx.brand.links["baggage_policy"]
        if booking is None:
            if not typed and not knowledge.general_answer(ctx, self.intent):
                ctx.say("baggage.allowance_general", link=link)
            return
        ctx.say(
            "baggage.allowance",
            ref=booking.reference,
            fare=ctx.say_text(f"fare.{booking.fare_family}"),
            bags=booking.checked_bags_included,
            cabin_kg=booking.cabin_bag_kg,
            link=link,
        )


class LostBaggage(RelaisAction):
    """Where the customer's bag is, from their baggage report."""

    intent = "lost_baggage"

    def answer(self, ctx: Context) -> None:
        # Bookings with a report first; with none, the trip just flown, else the next one.
        relevant = lookup.has_report
        if ctx.customer is not None:
            for keep in (lookup.has_report, lookup.recent(ctx), lookup.upcoming(ctx)):
                if any(keep(b) for b in ctx.customer.bookings):
                    relevant = keep
                    break
        booking = lookup.resolve(ctx, self.intent, relevant)
        if booking is None:
            return
        link = ctx.brand.links["baggage_policy"]
        if not booking.baggage_reports:
            ctx.say("baggage.no_report", ref=booking.reference, link=link)
            ctx.set("pending_offer", "handoff")
            return
        report = max(booking.baggage_reports, key=lambda r: r.created_at)
        expected = "—"
        if report.expected_delivery is not None:
            expected = fmt.day_time(fmt.local(report.expected_delivery, "Europe/Paris"), ctx.lang)
        ctx.say(
            f"baggage.report_{report.status}",
            file=report.file_reference,
            flight=report.flight_number,
            description=report.description or "",
            last_seen=report.last_seen or "—",
            expected=expected,
        )
