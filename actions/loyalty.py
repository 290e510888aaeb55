"""Loyalty tier and points, from the customer record."""

from __future__ import annotations

from actions import formatting as fmt
from actions import lookup
from actions.base import RelaisAction
from actions.context import Context


class LoyaltyPoints(RelaisAction):
    """The customer's tier and balance; an unidentified customer proves they hold a booking
    (its reference and their surname: a passenger's shows the trip, not the holder's account)."""

    intent = "loyalty_points"

    def answer(self, ctx: Context) -> None:
        customer = ctx.customer
        if customer is None:
            booking = lookup.resolve(ctx, self.intent)
            if booking is None:
                return
            if not lookup.is_proven(ctx, booking.reference, holder=True):
                ctx.say("loyalty.holder_only", ref=booking.reference)
                ctx.set("pending_intent", self.intent)
                return
            customer = booking.customer
        ctx.say(
            "loyalty.balance",
            name=customer.full_name.split()[0],
            tier=ctx.say_text(f"tier.{customer.loyalty_tier}"),
            points=fmt.number(customer.loyalty_points, ctx.lang),
        )
