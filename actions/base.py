"""The base of every Relais action: context, the escalation policy, then a grounded answer."""
from __future__ import annotations

import importlib
import logging
import pkgutil
from typing import Any, ClassVar

import actions
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.context import Context, booking_city, fold
from actions.handoff import escalate
from actions.texts import say
from relais.brand import load_brand
from relais.db import session_scope
from relais.language import OTHER
from relais.policy import Decision, Signals, decide, is_misunderstood, load_thresholds

logger = logging.getLogger(__name__)

#: Answers for a pending request, by intent; filled by RelaisAction subclasses.
HANDLERS: dict[str, "type[RelaisAction]"] = {}


def handler(intent: str | None) -> "type[RelaisAction] | None":
    """The action class answering `intent`; imports every topic module the first time."""
    if not _imported:
        for module in pkgutil.iter_modules(actions.__path__):
            importlib.import_module(f"actions.{module.name}")
        _imported.append(True)
    return HANDLERS.get(intent or "")


_imported: list[bool] = []


class RelaisAction(Action):
    """Reads the turn, asks the policy whether a person should take over, otherwise answers.

    Subclasses set `intent` and implement `answer(ctx)`.
    """

    intent: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.intent:
            HANDLERS[cls.intent] = cls

    def name(self) -> str:
        return f"action_{self.intent}"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        with session_scope() as session:
            ctx = Context.build(tracker, dispatcher, session, load_brand())
            self.handle(ctx)
            return ctx.events

    def handle(self, ctx: Context) -> None:
        """The whole turn: unreadable input, the policy's decision, then the answer."""
        if not ctx.turn.text:
            ctx.say("input.empty")
            return
        if ctx.turn.detected_language == OTHER and ctx.turn.language_confidence >= 0.65:
            # We can't tell which of our two languages they read: say it in both.
            ctx.dispatcher.utter_message(
                text=f"{say('input.other_language', 'en')}\n{say('input.other_language', 'fr')}"
            )
            return
        decision = self.decision(ctx)
        ctx.set("language", ctx.lang)
        if decision.handoff:
            escalate(ctx, decision)
            return
        if not ctx.turn.has_letters and not ctx.turn.references():
            ctx.say("input.no_words", topics=ctx.say_text("capabilities"))
            return
        pending = handler(ctx.slot("pending_intent"))
        if pending is not None and pending is not type(self) and self.follows_pending(ctx):
            ctx.set("misunderstood_streak", 0)
            pending().answer(ctx)
            return
        ctx.set("misunderstood_streak", self.misunderstood_streak(ctx))
        self.answer(ctx)

    def decision(self, ctx: Context) -> Decision:
        turn = ctx.turn
        return decide(
            Signals(
                text=turn.text,
                intent=turn.intent,
                confidence=turn.confidence,
                misunderstood_before=int(ctx.tracker.get_slot("misunderstood_streak") or 0),
            )
        )

    def misunderstood_streak(self, ctx: Context) -> int:
        turn = ctx.turn
        if is_misunderstood(turn.intent, turn.confidence, load_thresholds()):
            return int(ctx.tracker.get_slot("misunderstood_streak") or 0) + 1
        return 0

    def follows_pending(self, ctx: Context) -> bool:
        """Whether this short message answers the pending question by naming a trip.

        "the Lyon one" may be classified as anything; naming one of the customer's
        destinations (or typing a reference) in a few words answers "which trip?".
        """
        text = ctx.turn.text
        if len(text.split()) > 6:
            return False
        if ctx.turn.references():
            return True
        bookings = ctx.customer.bookings if ctx.customer else []
        return any(booking_city(b) and fold(booking_city(b)) in fold(text) for b in bookings)

    def answer(self, ctx: Context) -> None:
        raise NotImplementedError
