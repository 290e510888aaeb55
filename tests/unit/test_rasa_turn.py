"""Rasa's side of a turn, without Rasa: the replies the tracker recorded, logged events, and
the question asked about a file sent without words."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from bot.rasa_turn import (
    attachment_question,
    replies_from_tracker,
    unusable_answer,
    user_event,
)
from relais.core.errors import RasaUnavailable
from relais.core.handoff import HandoffPayload
from relais.core.texts import say
from relais.storage.conversations import Message

HANDOFF = HandoffPayload(reasons=("anger",), priority=1).to_custom()


def user(message_id: int, text: str = "hi") -> dict[str, Any]:
    return {"event": "user", "text": text, "metadata": {"relais_message_id": message_id}}


def bot(text: str, **data: Any) -> dict[str, Any]:
    return {"event": "bot", "text": text, "data": data}


LISTEN = {"event": "action", "name": "action_listen"}


def test_a_message_rasa_never_got_has_no_replies_in_the_tracker() -> None:
    assert replies_from_tracker([], 7) is None
    assert replies_from_tracker([user(6), bot("hello"), LISTEN], 7) is None


def test_the_replies_are_the_bot_events_until_the_bot_listens() -> None:
    buttons = [{"title": "Yes", "payload": "/affirm"}]
    events = [
        user(6),
        bot("earlier"),
        LISTEN,
        user(7, "change my booking"),
        {"event": "slot", "name": "x", "value": 1},
        bot("Which trip?", buttons=buttons),
        bot("Or another one?"),
        LISTEN,
        user(8),
        bot("later"),
        LISTEN,
    ]
    assert replies_from_tracker(events, 7) == [
        {"text": "Which trip?", "buttons": buttons},
        {"text": "Or another one?"},
    ]


def test_a_handoff_turn_ends_with_the_pause_and_keeps_the_payload() -> None:
    events = [
        user(7),
        bot("A colleague takes over."),
        bot(None, custom=HANDOFF),  # type: ignore[arg-type]
        {"event": "pause"},
    ]
    assert replies_from_tracker(events, 7) == [
        {"text": "A colleague takes over."},
        {"text": None, "custom": HANDOFF},
    ]


def test_a_turn_cut_short_by_the_next_message_ends_there() -> None:
    assert replies_from_tracker([user(7), bot("half"), user(8)], 7) == [{"text": "half"}]
    assert replies_from_tracker([user(7), user(8)], 7) == []


def test_an_unfinished_turn_means_try_again_later() -> None:
    with pytest.raises(RasaUnavailable, match="message 7"):
        replies_from_tracker([user(7), bot("thinking…")], 7)
    with pytest.raises(RasaUnavailable):
        replies_from_tracker([user(7)], 7)


def test_a_logged_message_carries_its_id_and_that_an_agent_handles_it() -> None:
    message = Message(
        id=12, text="hello?", channel="telegram", sent_at=datetime(2026, 11, 24, 10, 0)
    )
    parse = {"intent": {"name": "greet", "confidence": 0.9}}
    event = user_event(message, parse)
    assert event["event"] == "user" and event["text"] == "hello?"
    assert event["input_channel"] == "telegram" and event["parse_data"] == parse
    assert event["metadata"] == {"relais_message_id": 12, "handled_by": "agent"}
    assert event["timestamp"] == message.sent_at.timestamp()


@pytest.mark.parametrize(
    ("kind", "lang", "start"),
    [
        ("photo", "en", "Thanks for the photo. I can't open it myself"),
        ("document", "en", "Thanks for the file. "),
        ("voice", "fr", "Merci pour votre message vocal. Je ne peux pas l'ouvrir moi-même"),
        ("location", "fr", "Merci pour votre position. "),
        ("video", "en", "Thanks for the video. "),  # a kind without a text: its own name
    ],
)
def test_a_file_without_words_gets_one_question_in_the_customers_language(
    kind: str, lang: str, start: str
) -> None:
    assert attachment_question([kind], lang).startswith(start)


def test_an_album_gets_one_question_about_all_its_files() -> None:
    assert attachment_question(["photo", "photo", "photo"], "en").startswith(
        "Thanks for the photos. I can't open them myself"
    )
    assert attachment_question(["photo", "video"], "fr").startswith("Merci pour vos fichiers.")


def test_what_relais_does_not_keep_gets_one_sentence_naming_it() -> None:
    assert unusable_answer("dice", "en") == (
        "I can't use a dice roll in this chat: tell me in a few words what you need and I'll help."
    )
    assert unusable_answer("something_new", "fr").startswith(
        "Je ne peux pas utiliser ce type de message"
    )


def test_the_question_falls_back_to_english_and_comes_from_the_text_catalog() -> None:
    assert attachment_question(["sticker"], "de") == say(
        "attachment.question", "en", thing="sticker"
    )
    assert attachment_question(["document"], "fr") == (
        "Merci pour votre fichier. Je ne peux pas l'ouvrir moi-même : dites-moi en quelques "
        "mots de quoi il s'agit (un bagage abîmé, un document de voyage…) et je vous aide ou "
        "je le transmets à un collègue avec votre envoi."
    )
