"""Greetings, thanks, goodbyes, yes and no — each tied to this customer and conversation."""

from __future__ import annotations

from actions import lookup
from actions.base import RelaisAction
from actions.context import Context
from actions.handoff import escalate
from relais.core.policy import Decision, Reason


def next_trip(ctx: Context) -> str | None:
    """'XY4K2P to Lyon on Wed 2 Dec' for the customer's next trip, if any."""
    if ctx.customer is None:
        return None
    ahead = [
        b for b in ctx.customer.bookings if lookup.upcoming(ctx)(b) and b.status != "cancelled"
    ]
    if not ahead:
        return None
    return lookup.describe(ctx, min(ahead, key=lookup.departure))


class Greet(RelaisAction):
    intent = "greet"

    def answer(self, ctx: Context) -> None:
        trip = next_trip(ctx)
        if trip:
            ctx.say("greet.with_trip", name=ctx.first_name, trip=trip)
        elif ctx.customer is not None:
            ctx.say("greet.known", name=ctx.first_name, topics=ctx.say_text("capabilities"))
        else:
            ctx.say("greet.anonymous", brand=ctx.brand.name, topics=ctx.say_text("capabilities"))


class Goodbye(RelaisAction):
    intent = "goodbye"

    def answer(self, ctx: Context) -> None:
        trip = next_trip(ctx)
        if trip:
            ctx.say("goodbye.with_trip", name=ctx.first_name, trip=trip)
        else:
            ctx.say("goodbye.plain", name=ctx.first_name)


class Thank(RelaisAction):
    intent = "thank"

    def answer(self, ctx: Context) -> None:
        reference = ctx.slot("booking_reference")
        if reference:
            ctx.say("thank.with_booking", name=ctx.first_name, ref=reference)
        else:
            ctx.say("thank.plain", name=ctx.first_name)


class Affirm(RelaisAction):
    """'Yes' accepts what the bot last offered; with nothing offered, one question follows."""

    intent = "affirm"

    def answer(self, ctx: Context) -> None:
        offer = ctx.slot("pending_offer")
        if offer == "handoff":
            escalate(ctx, Decision(handoff=True, reasons=(Reason.HUMAN_REQUEST.value,), priority=3))
            return
        reference = ctx.slot("booking_reference")
        if reference:
            ctx.say("affirm.with_booking", ref=reference)
        else:
            ctx.say("affirm.nothing_pending", topics=ctx.say_text("capabilities"))


class Deny(RelaisAction):
    """'No' declines the offer; the bot says what else it can do."""

    intent = "deny"

    def answer(self, ctx: Context) -> None:
        ctx.set("pending_offer", None)
        ctx.set("pending_intent", None)
        reference = ctx.slot("booking_reference")
        if reference:
            ctx.say("deny.with_booking", ref=reference)
        else:
            ctx.say("deny.plain", topics=ctx.say_text("capabilities"))
