"""Refund status, from the refund records."""

from __future__ import annotations

from actions import formatting as fmt
from actions import lookup
from actions.base import RelaisAction
from actions.context import Context


class RefundStatus(RelaisAction):
    """Where the customer's refund is: status, amount, expected or paid date."""

    intent = "refund_status"

    def answer(self, ctx: Context) -> None:
        booking = lookup.resolve(ctx, self.intent, lookup.has_refund)
        if booking is None:
            return
        if not booking.refunds:
            key = "refund.none_refundable" if booking.refundable else "refund.none_not_refundable"
            ctx.say(key, ref=booking.reference, link=ctx.brand.links["manage_booking"])
            return
        refund = max(booking.refunds, key=lambda r: r.requested_at)
        values = {
            "ref": booking.reference,
            "amount": fmt.money(refund.amount, refund.currency, ctx.lang),
            "reason": refund.reason or "",
            "requested": fmt.day(refund.requested_at, ctx.lang),
            "expected": fmt.day(refund.expected_date, ctx.lang) if refund.expected_date else "—",
            "paid": fmt.day(refund.paid_at, ctx.lang) if refund.paid_at else "—",
        }
        ctx.say(f"refund.{refund.status}", **values)
