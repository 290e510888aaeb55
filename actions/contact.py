"""Support hours, and whether the team is there right now."""

from __future__ import annotations

from datetime import timezone

from actions import formatting as fmt
from actions.base import RelaisAction
from actions.context import Context


class ContactHours(RelaisAction):
    """Opening hours from brand.yml, with 'open now' or when the team is back."""

    intent = "contact_hours"

    def answer(self, ctx: Context) -> None:
        brand = ctx.brand
        now = ctx.now.replace(tzinfo=timezone.utc)
        hours = brand.hours_text(ctx.lang)
        if brand.is_open(now):
            ctx.say("contact.open", hours=hours)
        else:
            back = brand.next_opening(now)
            ctx.say("contact.closed", hours=hours, back=fmt.day_time(back, ctx.lang))
