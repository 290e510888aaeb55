"""Answers from the brand's knowledge (knowledge/, relais/core/knowledge.py).

The NLU pipeline ranked the passages for this message; here the action decides whether the
best one is worth saying (`chosen`) and says it in the customer's language, with the
article's link. A request that needs a booking the bot does not have yet gets the general
answer first, then one question for what would make it specific (`general_answer`).
"""

from __future__ import annotations

import logging

from actions.context import Context
from relais.core.knowledge import (
    Article,
    Knowledge,
    KnowledgeError,
    Match,
    choose,
    confidences,
    load_knowledge,
    outside_score,
    ranking,
)
from relais.core.policy import load_thresholds

logger = logging.getLogger(__name__)
#: The topics the bot can still answer without a booking, said when it asks again.
GENERAL_TOPICS = "knowledge.general_topics"


def brand_knowledge(ctx: Context) -> Knowledge | None:
    """The checked articles, or None (logged) when the folder cannot be used."""
    if "knowledge" not in ctx.cache:
        try:
            found = load_knowledge(ctx.brand.knowledge_dir, ctx.brand.links["website"])
        except KnowledgeError as error:
            logger.error("The knowledge base is not used: %s", error)
            found = None
        ctx.cache["knowledge"] = found
    return ctx.cache["knowledge"]


def chosen(ctx: Context) -> Match | None:
    """The passage to say for this message, if the knowledge answers it well enough."""
    if "chosen" not in ctx.cache:
        ctx.cache["chosen"] = _choose(ctx)
    return ctx.cache["chosen"]


def _choose(ctx: Context) -> Match | None:
    knowledge = brand_knowledge(ctx)
    if knowledge is None:
        return None
    t = load_thresholds()
    parse = ctx.tracker.latest_message
    return choose(
        ranking(parse),
        knowledge,
        intents=confidences(parse),
        answer_at=t.knowledge_answer,
        intent_bonus=t.knowledge_intent_bonus,
        outside=outside_score(parse),
        outside_margin=t.knowledge_outside_margin,
    )


def answers_another_topic(ctx: Context) -> Match | None:
    """A confident passage about something else than the request the classifier saw."""
    match = chosen(ctx)
    knowledge = brand_knowledge(ctx)
    if match is None or knowledge is None:
        return None
    article = knowledge.article(match.article, ctx.lang)
    return match if article is not None and ctx.turn.intent not in article.intents else None


def say_match(ctx: Context, match: Match, *, offer_check: bool = True) -> bool:
    """Says the passage `match` in the customer's language; with `offer_check`, asks for the
    booking when the article says the booking would make the answer specific."""
    knowledge = brand_knowledge(ctx)
    article = knowledge.article(match.article, ctx.lang) if knowledge else None
    passage = article.passage(match.passage) if article else None
    if article is None or passage is None:
        return False
    # The booking question waits on the request the article is about (a reference sent next
    # answers that request), so only an article about one of our requests asks it.
    request = article.intents[0] if article.intents else None
    _say(ctx, article, passage.text, offer_check and request is not None, request)
    return True


def general_answer(ctx: Context, intent: str) -> bool:
    """The knowledge's answer to `intent` for a customer whose booking the bot cannot use
    yet, then one question for the booking. False when no article about the request answers
    this message well enough (the caller then asks its own question)."""
    knowledge = brand_knowledge(ctx)
    match = chosen(ctx)
    if knowledge is None or match is None:
        return False
    article = knowledge.article(match.article, ctx.lang)
    passage = article.passage(match.passage) if article else None
    if article is None or passage is None or intent not in article.intents:
        return False
    _say(ctx, article, passage.text, article.checks is not None, intent)
    return True


def _say(
    ctx: Context, article: Article, text: str, ask_booking: bool, intent: str | None = None
) -> None:
    answer = ctx.say_text("knowledge.passage", text=text, link=article.link)
    # Asked twice already: the answer stands alone (the offer of a person was made).
    asked_before = int(ctx.conversation_slot("reference_asks", 0) or 0)
    if ask_booking and article.checks and asked_before < 2:
        answer += "\n" + ask_for_booking(ctx, intent or ctx.turn.intent, checks=article.checks)
    ctx.dispatcher.utter_message(text=answer)
    ctx.topic_article = article.id


def ask_for_booking(ctx: Context, intent: str, *, checks: str | None = None) -> str:
    """The one question for the booking, as text: what to send and what it will tell.

    Asked right after the same question, it says instead what the bot can do without the
    booking, and offers a person (the same question twice in a row is a blanket reply)."""
    ctx.asked_reference = True
    ctx.set("pending_intent", intent)
    if int(ctx.conversation_slot("reference_asks", 0) or 0) >= 1:
        ctx.set("pending_offer", "handoff")
        return ctx.say_text("knowledge.ask_again", topics=ctx.say_text(GENERAL_TOPICS))
    identified = ctx.customer is not None
    if checks:
        key = "knowledge.ask_booking_known" if identified else "knowledge.ask_booking"
        return ctx.say_text(key, checks=checks)
    return ctx.say_text("booking.ask_reference")
