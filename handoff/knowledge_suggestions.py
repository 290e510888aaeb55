"""Replies the console suggests from the brand's knowledge: the passages that answer the
customer's latest messages, in the customer's language, each naming its article.

Rasa ranks the articles for a text (its parse's `knowledge`, relais/nlu/knowledge.py); the human
side asks for that parse over HTTP (`BotTracker.parse`) and maps the ids it names to the
articles' text with relais/core/knowledge.py. `suggestions` is that mapping, pure;
`suggest` asks Rasa, and gives up quietly (logged) when Rasa is slow or down: the
conversation is shown without them.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from handoff.desk import BotTracker
from relais.core.brand import load_brand
from relais.core.errors import ConfigError, RelaisError
from relais.core.knowledge import (
    Knowledge,
    choose,
    confidences,
    load_knowledge,
    outside_score,
    ranking,
)
from relais.core.policy import Thresholds, load_thresholds
from relais.core.texts import say

logger = logging.getLogger(__name__)

#: The most suggestions shown, and the most recent customer messages they answer.
MAX_SUGGESTIONS = 3
MAX_MESSAGES = 3
#: The language of the suggestions when the customer writes in one the knowledge lacks.
FALLBACK_LANGUAGE = "en"
#: How long the console waits for Rasa's parses before it shows the conversation without them.
PARSE_TIMEOUT_S = 1.5
#: After Rasa failed, nothing is asked of it for this long: the console polls an open
#: conversation every 2 s, and should neither wait on a dead server each time nor log each wait.
QUIET_AFTER_FAILURE_S = 30.0
#: What of a message is parsed (the articles' questions are short; a 20,000-character
#: message need not be sent whole every time the console polls).
MAX_PARSED_CHARS = 1000
#: Parses kept per Rasa client, and for how long (a model Rasa loads later shows within it).
CACHE_SIZE = 256
CACHE_SECONDS = 600.0


def suggestions(
    parses: Iterable[Mapping[str, Any]],
    knowledge: Knowledge,
    lang: str,
    thresholds: Thresholds,
    limit: int = MAX_SUGGESTIONS,
) -> list[dict[str, Any]]:
    """The passages worth suggesting for these parses, best first, each once, at most `limit`.

    A passage is suggested when the bot itself would say it were it the best-ranked one: the
    same rules (`relais.core.knowledge.choose` with escalation.yml's knowledge thresholds).
    Each is in `lang` (English when the knowledge has not that language), ready to send as the
    bot says it: {article, passage, title, link, text, score}.
    Articles or passages these files do not have (a model trained on others) are left out.
    """
    best: dict[tuple[str, str], float] = {}
    for parse in parses:
        intents, outside = confidences(parse), outside_score(parse)
        for match in ranking(parse):
            scored = choose(
                [match],
                knowledge,
                intents=intents,
                answer_at=thresholds.knowledge_answer,
                intent_bonus=thresholds.knowledge_intent_bonus,
                outside=outside,
                outside_margin=thresholds.knowledge_outside_margin,
            )
            if scored is not None:
                key = (scored.article, scored.passage)
                best[key] = max(best.get(key, scored.score), scored.score)
    lang = lang if lang in knowledge.articles else FALLBACK_LANGUAGE
    found: list[dict[str, Any]] = []
    for (article_id, passage_id), score in sorted(best.items(), key=lambda item: -item[1]):
        article = knowledge.article(article_id, lang)
        passage = article.passage(passage_id) if article is not None else None
        if article is None or passage is None:
            continue
        found.append(
            {
                "article": article.id,
                "passage": passage.id,
                "title": article.title,
                "link": article.link,
                "text": say("knowledge.passage", lang, text=passage.text, link=article.link),
                "score": round(score, 3),
            }
        )
        if len(found) == limit:
            break
    return found


def latest_customer_texts(
    transcript: Sequence[Mapping[str, Any]], limit: int = MAX_MESSAGES
) -> list[str]:
    """The texts of the customer's last `limit` messages since the last agent reply, oldest
    first (`transcript`: the console's lines, with `author` and `text`)."""
    found: list[str] = []
    for line in reversed(transcript):
        if line.get("author") == "agent":
            break
        text = str(line.get("text") or "").strip()
        if line.get("author") == "customer" and text:
            found.append(text[:MAX_PARSED_CHARS])
            if len(found) == limit:
                break
    return found[::-1]


class _Parses:
    """One Rasa client's recent parses, and when it last failed."""

    def __init__(self) -> None:
        self.cached: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self.quiet_until = 0.0

    async def parse(self, rasa: BotTracker, text: str) -> dict[str, Any]:
        now = time.monotonic()
        kept = self.cached.get(text)
        if kept is not None and now - kept[0] < CACHE_SECONDS:
            self.cached.move_to_end(text)
            return kept[1]
        parse = await rasa.parse(text)
        self.cached[text] = (now, parse)
        self.cached.move_to_end(text)
        while len(self.cached) > CACHE_SIZE:
            self.cached.popitem(last=False)
        return parse


#: Per Rasa client (so that a test's stand-in never sees another's parses).
_PARSES: weakref.WeakKeyDictionary[BotTracker, _Parses] = weakref.WeakKeyDictionary()


async def suggest(rasa: BotTracker, texts: Sequence[str], lang: str) -> list[dict[str, Any]]:
    """`suggestions` for these customer texts, with Rasa's parse of each; [] (logged) when
    Rasa does not answer within PARSE_TIMEOUT_S or the knowledge folder cannot be used."""
    if not texts:
        return []
    try:
        state = _PARSES.setdefault(rasa, _Parses())
    except TypeError:  # a client that cannot be weakly referenced: asked every time
        state = _Parses()
    if time.monotonic() < state.quiet_until:
        return []
    try:
        knowledge = _knowledge()
    except ConfigError as error:
        logger.error("No knowledge suggestions: the knowledge base is not usable: %s", error)
        return []
    try:
        parses = await asyncio.wait_for(
            asyncio.gather(*(state.parse(rasa, text) for text in texts)), PARSE_TIMEOUT_S
        )
    except (asyncio.TimeoutError, RelaisError, ValueError) as error:
        state.quiet_until = time.monotonic() + QUIET_AFTER_FAILURE_S
        logger.warning(
            "No knowledge suggestions for %.0f s: Rasa did not answer the parse in time (%s)",
            QUIET_AFTER_FAILURE_S,
            str(error) or type(error).__name__,
        )
        return []
    except Exception:
        # Suggestions are a help: whatever went wrong, the agent still gets the conversation.
        state.quiet_until = time.monotonic() + QUIET_AFTER_FAILURE_S
        logger.exception("No knowledge suggestions: Rasa's parse failed")
        return []
    return suggestions(parses, knowledge, lang, load_thresholds())


def _knowledge() -> Knowledge:
    brand = load_brand()
    return load_knowledge(brand.knowledge_dir, brand.links["website"])
