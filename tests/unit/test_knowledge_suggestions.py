"""The console's suggestions from the brand's knowledge: which passages a parse earns, in which
language, each once and at most three; which messages are parsed; and Rasa failing or slow."""

from __future__ import annotations

import asyncio
from types import MappingProxyType
from typing import Any

import pytest

import handoff.knowledge_suggestions as ks
from handoff.knowledge_suggestions import latest_customer_texts, suggest, suggestions
from relais.core.errors import RelaisError
from relais.core.knowledge import Article, Knowledge, Passage
from relais.core.policy import Thresholds
from relais.core.texts import say

SITE = "https://www.example-air.example/"
#: The bot's rules for saying a passage, with round numbers (escalation.yml has its own).
THRESHOLDS = Thresholds(
    knowledge_answer=0.5, knowledge_intent_bonus=0.05, knowledge_outside_margin=0.03
)


def article(article_id: str, lang: str, title: str, passages: dict[str, str]) -> Article:
    return Article(
        id=article_id,
        lang=lang,
        title=title,
        link=f"{SITE}{article_id}",
        intents=("check_in",) if article_id == "check-in" else (),
        checks=None,
        passages=tuple(Passage(pid, text, ("q1", "q2")) for pid, text in passages.items()),
    )


KNOWLEDGE = Knowledge(
    MappingProxyType(
        {
            "en": {
                "pets": article(
                    "pets", "en", "Pets", {"cabin": "Cats fly in the cabin.", "hold": "Big dogs."}
                ),
                "check-in": article("check-in", "en", "Check-in", {"online": "Opens 30 h before."}),
                "meals": article("meals", "en", "Meals", {"menu": "Sandwiches on board."}),
            },
            "fr": {
                "pets": article(
                    "pets",
                    "fr",
                    "Animaux",
                    {"cabin": "Les chats en cabine.", "hold": "Gros chiens."},
                ),
                "check-in": article(
                    "check-in", "fr", "Enregistrement", {"online": "Ouvre 30 h avant."}
                ),
                "meals": article("meals", "fr", "Repas", {"menu": "Sandwichs à bord."}),
            },
        }
    ),
    digest="test",
)


def parse(
    *ranked: tuple[str, str, float], outside: float = 0.0, **intents: float
) -> dict[str, Any]:
    """A parse as Rasa answers it: the knowledge ranking, the out-of-scope score, intents."""
    return {
        "intent_ranking": [{"name": name, "confidence": c} for name, c in intents.items()],
        "knowledge": {
            "articles": [{"article": a, "passage": p, "score": s} for a, p, s in ranked],
            "outside": outside,
        },
    }


def shown(found: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(s["article"], s["passage"]) for s in found]


def test_a_passage_comes_in_the_customers_language_with_its_article_and_link() -> None:
    (french,) = suggestions([parse(("pets", "cabin", 0.7))], KNOWLEDGE, "fr", THRESHOLDS)
    assert french == {
        "article": "pets",
        "passage": "cabin",
        "title": "Animaux",
        "link": f"{SITE}pets",
        "text": say("knowledge.passage", "fr", text="Les chats en cabine.", link=f"{SITE}pets"),
        "score": 0.7,
    }
    assert french["text"].startswith("Les chats en cabine.") and f"{SITE}pets" in french["text"]
    (english,) = suggestions([parse(("pets", "cabin", 0.7))], KNOWLEDGE, "en", THRESHOLDS)
    assert english["title"] == "Pets" and english["text"].startswith("Cats fly in the cabin.")
    # A language the knowledge does not have: English, as the record suggestions.
    (other,) = suggestions([parse(("pets", "cabin", 0.7))], KNOWLEDGE, "other", THRESHOLDS)
    assert other["title"] == "Pets"


def test_only_passages_the_bot_would_say_are_suggested() -> None:
    below = parse(("pets", "cabin", 0.49), ("meals", "menu", 0.5))
    assert shown(suggestions([below], KNOWLEDGE, "en", THRESHOLDS)) == [("meals", "menu")]
    # The classifier's confidence in the article's request does not lift it over the
    # threshold: the bot would not say it either.
    sure = parse(("check-in", "online", 0.48), check_in=1.0)
    assert suggestions([sure], KNOWLEDGE, "en", THRESHOLDS) == []
    (found,) = suggestions([parse(("check-in", "online", 0.51))], KNOWLEDGE, "en", THRESHOLDS)
    assert (found["article"], found["score"]) == ("check-in", 0.51)
    # Closer to what is out of scope than to the article, by less than the margin: not said.
    outside = parse(("pets", "cabin", 0.6), outside=0.58)
    assert suggestions([outside], KNOWLEDGE, "en", THRESHOLDS) == []


def test_a_passage_found_for_several_messages_is_suggested_once_with_its_best_score() -> None:
    found = suggestions(
        [
            parse(("pets", "cabin", 0.6), ("meals", "menu", 0.55)),
            parse(("pets", "cabin", 0.8), ("pets", "hold", 0.52)),
        ],
        KNOWLEDGE,
        "en",
        THRESHOLDS,
    )
    assert [(s["article"], s["passage"], s["score"]) for s in found] == [
        ("pets", "cabin", 0.8),
        ("meals", "menu", 0.55),
        ("pets", "hold", 0.52),
    ]


def test_at_most_three_best_first() -> None:
    ranked = parse(
        ("meals", "menu", 0.6),
        ("pets", "cabin", 0.9),
        ("pets", "hold", 0.7),
        ("check-in", "online", 0.8),
    )
    found = suggestions([ranked], KNOWLEDGE, "en", THRESHOLDS)
    assert shown(found) == [("pets", "cabin"), ("check-in", "online"), ("pets", "hold")]


def test_articles_and_passages_these_files_do_not_have_are_ignored() -> None:
    ranked = parse(("lounges", "access", 0.95), ("pets", "unicorns", 0.9), ("meals", "menu", 0.6))
    assert shown(suggestions([ranked], KNOWLEDGE, "en", THRESHOLDS)) == [("meals", "menu")]
    # A parse without a knowledge ranking (an older model) suggests nothing.
    assert suggestions([{"intent": {"name": "greet"}}], KNOWLEDGE, "en", THRESHOLDS) == []


def test_the_customers_last_three_messages_since_the_last_agent_reply_are_parsed() -> None:
    transcript = [
        {"author": "customer", "text": "before the agent"},
        {"author": "agent", "text": "Hello, I'm Alice."},
        {"author": "customer", "text": "one"},
        {"author": "bot", "text": "not the customer"},
        {"author": "customer", "text": "two"},
        {"author": "system", "text": "Alice took the conversation."},
        {"author": "customer", "text": "   "},
        {"author": "customer", "text": "three"},
        {"author": "customer", "text": "four"},
    ]
    assert latest_customer_texts(transcript) == ["two", "three", "four"]
    assert latest_customer_texts(transcript[:3]) == ["one"]
    assert latest_customer_texts(transcript[:2]) == []
    assert latest_customer_texts([{"author": "customer", "text": "x" * 5000}]) == [
        "x" * ks.MAX_PARSED_CHARS
    ]


# --- asking Rasa ---------------------------------------------------------------------------


class Parser:
    """Rasa's parse, answering a pets question with the real knowledge's pets article."""

    def __init__(self, fail: Exception | None = None, hang: bool = False) -> None:
        self.fail, self.hang = fail, hang
        self.texts: list[str] = []

    async def parse(self, text: str) -> dict[str, Any]:
        self.texts.append(text)
        if self.hang:
            await asyncio.sleep(3600)
        if self.fail is not None:
            raise self.fail
        return parse(("pets", "pets-in-cabin", 0.9))

    async def append_events(self, conversation_id: str, events: list[dict[str, Any]]) -> None:
        raise AssertionError("not used")

    async def trigger_intent(self, conversation_id: str, intent: str) -> list[dict[str, Any]]:
        raise AssertionError("not used")

    async def tracker(self, conversation_id: str) -> dict[str, Any]:
        raise AssertionError("not used")


def test_suggest_parses_each_text_once_and_reads_the_brands_knowledge() -> None:
    rasa = Parser()

    async def twice() -> list[list[dict[str, Any]]]:
        return [await suggest(rasa, ["my cat?", "in the cabin?"], "fr") for _ in range(2)]

    first, again = asyncio.run(twice())
    assert first == again and shown(first) == [("pets", "pets-in-cabin")]
    assert "cabine" in first[0]["text"]
    # The console polls every 2 s: the same messages are not parsed again.
    assert rasa.texts == ["my cat?", "in the cabin?"]
    assert asyncio.run(suggest(rasa, [], "en")) == []


@pytest.mark.parametrize("fail", [RelaisError("Rasa is down"), RuntimeError("a bug")])
def test_rasa_failing_gives_no_suggestions_and_is_left_alone_a_while(
    fail: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    rasa = Parser(fail=fail)
    assert asyncio.run(suggest(rasa, ["my cat?"], "en")) == []
    assert "No knowledge suggestions" in caplog.text
    # Not asked again at every poll while it is down.
    assert asyncio.run(suggest(rasa, ["my dog?"], "en")) == []
    assert rasa.texts == ["my cat?"]


def test_rasa_too_slow_gives_no_suggestions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ks, "PARSE_TIMEOUT_S", 0.05)
    assert asyncio.run(suggest(Parser(hang=True), ["my cat?"], "en")) == []
