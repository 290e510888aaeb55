"""The two actions that don't answer a request themselves: escalate, and the fallback."""

from __future__ import annotations

from typing import Any

from rasa_sdk.events import SlotSet

from actions.base import RelaisAction
from actions.context import Context
from actions.handoff import escalate
from relais.core.policy import FALLBACK_INTENT, OUT_OF_SCOPE_INTENT

#: Intents the fallback may suggest ("did you mean…"), with their button payloads.
SUGGESTABLE = (
    "flight_status",
    "change_booking",
    "cancel_booking",
    "refund_status",
    "baggage_allowance",
    "lost_baggage",
    "check_in",
    "seat_selection",
    "special_assistance",
    "loyalty_points",
    "travel_documents",
    "contact_hours",
    "book_flight",
)


class Escalate(RelaisAction):
    """Human request or complaint: the policy decides reasons and priority, a person takes over."""

    intent = "escalate"

    def name(self) -> str:
        return "action_escalate"

    def handle(self, ctx: Context) -> None:
        decision = self.decision(ctx)
        ctx.set("language", ctx.lang)
        if not decision.handoff:
            # A rule sent us here but the policy disagrees: say what we can do instead.
            ctx.say("fallback.out_of_scope", topics=ctx.say_text("capabilities"))
            return
        escalate(ctx, decision)


class HandedBack(RelaisAction):
    """An agent gave the conversation back: one short follow-up about what it was about.

    Triggered by the gateway (intent EXTERNAL_handed_back), never by a customer message; the
    messages written while the agent held the conversation are not answered.
    """

    def name(self) -> str:
        return "action_handed_back"

    def handle(self, ctx: Context) -> None:
        reference = ctx.slot("booking_reference")
        if reference:
            ctx.say("handed_back.booking", name=ctx.first_name, ref=reference)
        else:
            ctx.say("handed_back.general", name=ctx.first_name)
        ctx.events.extend([SlotSet("misunderstood_streak", 0), SlotSet("pending_intent", None)])


class Fallback(RelaisAction):
    """Not understood or out of scope: one specific question now; a second time, a person."""

    intent = "fallback"

    def name(self) -> str:
        return "action_fallback"

    def answer(self, ctx: Context) -> None:
        suggestions = _suggestions(ctx)
        if ctx.turn.intent != OUT_OF_SCOPE_INTENT and suggestions:
            titles = [ctx.say_text(f"topic.{name}") for name in suggestions]
            ctx.say(
                "fallback.did_you_mean",
                options=ctx.say_text("list.or", first=titles[0], last=titles[1])
                if len(titles) == 2
                else titles[0],
                buttons=[
                    {"title": title, "payload": f"/{name}"}
                    for name, title in zip(suggestions, titles, strict=True)
                ],
            )
            return
        trip = None
        reference = ctx.slot("booking_reference")
        if reference:
            trip = reference
        if trip:
            ctx.say(
                "fallback.out_of_scope_with_booking", ref=trip, topics=ctx.say_text("capabilities")
            )
        else:
            ctx.say("fallback.out_of_scope", topics=ctx.say_text("capabilities"))


def _suggestions(ctx: Context) -> list[str]:
    """The two likeliest of our requests for an unclear message, if they are plausible."""
    ranked: list[dict[str, Any]] = [
        r
        for r in ctx.turn.ranking
        if r.get("name") in SUGGESTABLE and float(r.get("confidence") or 0) >= 0.15
    ]
    if ctx.turn.intent != FALLBACK_INTENT:
        return []
    return [str(r["name"]) for r in ranked[:2]]
