"""The base of every Relais action: context, the escalation policy, then a grounded answer."""

from __future__ import annotations

import importlib
import logging
import pkgutil
import re
from dataclasses import replace
from datetime import timedelta
from typing import Any, ClassVar

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

import actions
from actions import knowledge, lookup
from actions.context import Context, booking_city, fold
from actions.handoff import escalate
from relais.core.brand import load_brand
from relais.core.language import OTHER, SUPPORTED
from relais.core.policy import (
    REMARK_INTENTS,
    Decision,
    Signals,
    Thresholds,
    decide,
    is_misunderstood,
    load_thresholds,
)
from relais.core.texts import has_text, say
from relais.core.types import HandledBy
from relais.storage import queries
from relais.storage.db import get_engine
from relais.storage.queries import RecordReader

logger = logging.getLogger(__name__)

#: Answers for a pending request, by intent; filled by RelaisAction subclasses.
HANDLERS: dict[str, type[RelaisAction]] = {}


def handler(intent: str | None) -> type[RelaisAction] | None:
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
        # One transaction on a plain connection (Core statements: no ORM session needed).
        with get_engine().begin() as connection:
            ctx = Context.build(tracker, dispatcher, RecordReader(connection), load_brand())
            self.handle(ctx)
            return ctx.events

    def handle(self, ctx: Context) -> None:
        """The whole turn: unreadable input, the policy's decision, then the answer."""
        if not ctx.turn.text:
            ctx.say("input.empty")
            return
        surname_given = lookup.awaiting_surname(ctx) and lookup.surname_attempt(ctx) is not None
        previous = ctx.tracker.get_slot("language")
        if surname_given and previous in SUPPORTED:
            # A surname says nothing of the language the customer reads ("Miller" may look
            # French, "Dubois" anything): the conversation's stays.
            ctx.lang = str(previous)
        elif ctx.turn.detected_language == OTHER and ctx.turn.language_confidence >= 0.65:
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
        if mildly_annoyed(ctx):
            ctx.say(
                f"apology.{self.intent}"
                if has_text(f"apology.{self.intent}")
                else "apology.general"
            )
        pending = handler(ctx.slot("pending_intent"))
        if pending is not None and pending is not type(self) and self.follows_pending(ctx):
            ctx.set("misunderstood_streak", 0)
            pending().answer(ctx)
            finish(ctx, pending.intent)
            return
        ctx.set("misunderstood_streak", self.misunderstood_streak(ctx))
        other_topic = knowledge.answers_another_topic(ctx)
        if other_topic is None or not knowledge.say_match(ctx, other_topic):
            self.answer(ctx)
        finish(ctx, ctx.turn.intent)

    def decision(self, ctx: Context) -> Decision:
        """The policy's decision, from the parse, the conversation and the records."""
        thresholds = load_thresholds()
        turn = ctx.turn
        signals = Signals.from_parse(
            turn.text,
            ctx.tracker.latest_message or {},
            misunderstood_before=int(ctx.tracker.get_slot("misunderstood_streak") or 0),
            loyalty_tier=str(ctx.customer.loyalty_tier) if ctx.customer else None,
            answerable=knowledge.chosen(ctx) is not None,
            # A surname the bot asked for is an answer, not the same request again:
            # failed checks have limits of their own (actions/lookup.py).
            same_request_before=0
            if lookup.awaiting_surname(ctx) and lookup.surname_attempt(ctx) is not None
            else same_request_before(ctx),
        )
        decision = decide(signals, thresholds)
        # Whether this is a repeat contact takes a query, and changes most decisions in
        # nothing (it joins other reasons, or counts for a message not understood). The
        # policy is a function of the signals alone: the query is made only when the
        # answer would change the decision.
        repeated = decide(replace(signals, repeat_contact=True), thresholds)
        if repeated != decision and repeat_contact(ctx, thresholds):
            return repeated
        return decision

    def misunderstood_streak(self, ctx: Context) -> int:
        turn = ctx.turn
        understood = knowledge.chosen(ctx) is not None
        if not understood and is_misunderstood(turn.intent, turn.confidence, load_thresholds()):
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
        if lookup.awaiting_surname(ctx) and lookup.surname_attempt(ctx) is not None:
            return True  # the surname asked for ("Miller" reads as anything, out_of_scope…)
        bookings = ctx.customer.bookings if ctx.customer else []
        return any(booking_city(b) and fold(booking_city(b)) in fold(text) for b in bookings)

    def answer(self, ctx: Context) -> None:
        raise NotImplementedError


#: Messages that get no apology: courtesy, and what the bot does not answer itself.
_NOT_ANSWERED_REQUESTS = REMARK_INTENTS | {
    "out_of_scope",
    "nlu_fallback",
    "human_request",
    "complaint",
}
#: Words of someone asking again ("3rd time asking", "toujours rien").
_ASKING_AGAIN = re.compile(
    r"\b(again|still|(2nd|3rd|\d+th|second|third) time|encore|toujours|relance|[23]e fois)\b|\?\?",
    re.IGNORECASE,
)


def mildly_annoyed(ctx: Context) -> bool:
    """Annoyed but not angry enough for a person: the bot answers, with a short apology."""
    anger = float((ctx.tracker.latest_message or {}).get("anger") or 0.0)
    t = load_thresholds()
    if anger >= t.anger_handoff or ctx.turn.intent in _NOT_ANSWERED_REQUESTS:
        return False
    return anger >= t.anger_apology or bool(_ASKING_AGAIN.search(ctx.turn.text))


def same_request_before(ctx: Context) -> int:
    """How many times this conversation already made this request without getting an
    answer (the bot asked for a reference, a surname, a choice…): a request the bot
    answered is no sign of going in circles, however often it comes back."""
    unanswered = ctx.conversation_slot("unanswered", {})
    return int(unanswered.get(ctx.turn.intent, 0)) if isinstance(unanswered, dict) else 0


def finish(ctx: Context, intent: str) -> None:
    """After the answer: counts the request as answered or not, remembers whether the bot
    asked for a reference (it never asks twice the same way), records the contact."""
    found = ctx.conversation_slot("unanswered", {})
    unanswered = dict(found) if isinstance(found, dict) else {}
    if ctx.asked() and ctx.topic_article is None:
        unanswered[intent] = int(unanswered.get(intent, 0)) + 1
    else:
        unanswered.pop(intent, None)
    ctx.set("unanswered", unanswered)
    asks = int(ctx.conversation_slot("reference_asks", 0) or 0)
    ctx.set("reference_asks", asks + 1 if ctx.asked_reference else 0)
    if ctx.booking is not None:
        record_contact(ctx, intent)


def record_contact(ctx: Context, intent: str) -> None:
    """This conversation was about `ctx.booking`: a contact on it, updated while the
    conversation goes on (a later conversation about the same booking is a repeat contact)."""
    booking = ctx.booking
    if booking is None or ":" not in ctx.tracker.sender_id:
        return  # `relais chat --sender demo`, `rasa shell`: no channel, no contact
    gap = timedelta(minutes=load_thresholds().conversation_gap_minutes)
    queries.touch_contact(
        ctx.records.db,
        conversation_id=ctx.tracker.sender_id,
        booking=booking,
        topic=intent,
        handled_by=HandledBy.BOT,
        summary=f"The bot answered about {intent.replace('_', ' ')} on {booking.reference}.",
        now=ctx.now,
        gap=gap,
    )


def repeat_contact(ctx: Context, thresholds: Thresholds) -> bool:
    """Whether a past contact lately was about the bookings this message names (or the
    conversation is about), or, with none named, about the same request of this customer."""
    if handed_back_lately(ctx):
        # Right after a person handed the conversation back, past contacts lower no bar:
        # the bot gets a fair chance with what comes next.
        return False
    references = ctx.turn.references() + [ctx.tracker.get_slot("booking_reference") or ""]
    if ctx.customer is None:
        # A reference alone tells nothing, not even by a handoff for a repeat contact.
        references = [r for r in references if r and lookup.is_proven(ctx, r)]
    return queries.recent_contact(
        ctx.records.db,
        references=references,
        customer=ctx.customer,
        topic=ctx.turn.intent,
        since=ctx.now - timedelta(days=thresholds.repeat_contact_days),
        conversation_id=ctx.tracker.sender_id,
        gap=timedelta(minutes=thresholds.conversation_gap_minutes),
        now=ctx.now,
    )


def handed_back_lately(ctx: Context) -> bool:
    """Whether a person handed this conversation back since it began (its session)."""
    for event in reversed(ctx.tracker.events):
        if event.get("event") == "session_started":
            return False
        if (
            event.get("event") == "user"
            and ((event.get("parse_data") or {}).get("intent") or {}).get("name")
            == "EXTERNAL_handed_back"
        ):
            return True
    return False
