"""The pure parts of satisfaction ratings (handoff/satisfaction.py): reading a typed rating,
recognising the bot's goodbye, where a session begins, and when a customer is asked."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from handoff.satisfaction import (
    answered_by_bot,
    closing_language,
    parse_score,
    rating_buttons,
    session_start,
    should_ask,
)
from relais.core.texts import say
from relais.core.types import State

AT = datetime(2026, 12, 2, 10, 0)
GAP = timedelta(minutes=240)


@pytest.mark.parametrize(
    ("text", "score"),
    [
        ("4", 4),
        (" 5 ", 5),
        ("1", 1),
        ("4/5", 4),
        ("4 / 5", 4),
        ("3 sur 5", 3),
        ("2 out of 5", 2),
        ("5 stars", 5),
        ("1 star", 1),
        ("4 étoiles", 4),
        ("4/5 stars!", 4),
        ("5.", 5),
        ("4️⃣", 4),  # keycap emoji: digit, variation selector, keycap
        ("3\u20e3", 3),  # without the variation selector
        ("★★★", 3),
        ("⭐️⭐️⭐️⭐️", 4),
        ("5 ★", 5),
    ],
)
def test_a_typed_rating_is_read(text: str, score: int) -> None:
    assert parse_score(text) == score


@pytest.mark.parametrize(
    "text",
    ["0", "6", "45", "10/10", "4 bags", "I have 2 questions", "4/10", "", "★★★★★★", "two", "²"],
)
def test_other_messages_are_no_rating(text: str) -> None:
    assert parse_score(text) is None


def test_the_buttons_are_one_to_five_stars_each_carrying_its_score() -> None:
    buttons = rating_buttons()
    assert [b["payload"] for b in buttons] == ["1", "2", "3", "4", "5"]
    assert [b["title"] for b in buttons] == ["★", "★★", "★★★", "★★★★", "★★★★★"]
    # What a button carries back is read as the score it stands for.
    assert [parse_score(b["payload"]) for b in buttons] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_bots_goodbye_and_thanks_end_a_conversation_in_their_language(lang: str) -> None:
    closing = [
        say("goodbye.plain", lang, name="James"),
        say("goodbye.plain", lang, name=""),  # an unknown name: say() closes the gap
        say("goodbye.with_trip", lang, name="Camille", trip="XY4K2P to Lyon on Wed 2 Dec"),
        say("thank.plain", lang, name=""),
        say("thank.with_booking", lang, name="Liam", ref="XY7T2M"),
    ]
    for text in closing:
        assert closing_language([text]) == lang, text
    # Among other replies to the same message too.
    assert closing_language(["Something first.", closing[0]]) == lang


def test_other_replies_do_not_end_a_conversation() -> None:
    assert closing_language([]) is None
    assert closing_language([say("greet.known", "en", name="James", topics="flights")]) is None
    assert closing_language(["Bye the way, your flight XY123 is delayed."]) is None
    assert closing_language(["Your flight XY123 is on time. Bye!"]) is None


def test_a_session_begins_after_the_last_long_silence() -> None:
    assert session_start([], GAP) is None
    assert session_start([AT], GAP) == AT
    steady = [AT, AT - timedelta(minutes=30), AT - timedelta(minutes=200)]
    assert session_start(steady, GAP) == AT - timedelta(minutes=200)
    # Four hours of silence: what came before is another session.
    broken = [AT, AT - timedelta(minutes=10), AT - timedelta(minutes=10 + 240), AT - GAP * 3]
    assert session_start(broken, GAP) == AT - timedelta(minutes=10)


def test_asked_once_per_session_after_an_answer_never_while_a_person_holds_it() -> None:
    assert should_ask(State.BOT, asked_in_session=False, answered=True)
    assert should_ask(State.CLOSED, asked_in_session=False, answered=True)  # resolved
    assert not should_ask(State.BOT, asked_in_session=True, answered=True)  # not twice
    assert not should_ask(State.BOT, asked_in_session=False, answered=False)  # nothing answered
    assert not should_ask(State.WAITING, asked_in_session=False, answered=True)
    assert not should_ask(State.WITH_AGENT, asked_in_session=False, answered=True)


def test_an_answered_request_is_one_the_bot_replied_to() -> None:
    assert answered_by_bot({"routed": "bot", "replies": 2})
    assert not answered_by_bot({"routed": "bot", "replies": 0})
    assert not answered_by_bot({"routed": "bot", "replies": 1, "ended": True})  # a goodbye
    assert not answered_by_bot({"routed": "rating", "score": 4})
    assert not answered_by_bot({"routed": "human"})
    assert not answered_by_bot(None)
