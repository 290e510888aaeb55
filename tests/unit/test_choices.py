"""Numbered choices: "2" after the bot's buttons stands for the second button's payload."""

from __future__ import annotations

import pytest

from bot.choices import choice_number, chosen_payload, reads_as_intent, text_for_rasa

BUTTONS = [
    {"title": "Lisbon", "payload": '/choose_booking{"ref": "XY4K2P"}'},
    {"title": "Montreal", "payload": '/choose_booking{"ref": "XY7T2M"}'},
    {"title": "No payload"},
]


def test_a_number_picks_its_option() -> None:
    assert chosen_payload("1", BUTTONS) == BUTTONS[0]["payload"]
    assert chosen_payload(" 2\n", BUTTONS) == BUTTONS[1]["payload"]
    assert chosen_payload("02", BUTTONS) == BUTTONS[1]["payload"]


@pytest.mark.parametrize("text", ["0", "4", "999", "0002", "-1", "1.5", "2 please", "", "two"])
def test_anything_else_is_plain_text(text: str) -> None:
    assert chosen_payload(text, BUTTONS) is None


def test_an_option_without_a_payload_or_no_buttons_at_all_is_plain_text() -> None:
    assert chosen_payload("3", BUTTONS) is None
    assert chosen_payload("1", []) is None


@pytest.mark.parametrize("text", ["²", "³", "٢", "२", "２", "𝟐"])
def test_only_ascii_digits_count(text: str) -> None:
    # Each is "a digit" to str.isdigit(); int() refuses "²" and reads "٢" as 2.
    assert text.isdigit()
    assert choice_number(text) is None
    assert chosen_payload(text, BUTTONS) is None


def test_choice_number_reads_ascii_numbers_only() -> None:
    assert choice_number(" 12 ") == 12
    assert choice_number("1 2") is None


OFFERED = [
    {"title": "Flight status", "payload": "/flight_status"},
    {"title": "Lisbon", "payload": "XY4K2P"},
]


@pytest.mark.parametrize(
    ("typed", "sent"),
    [
        ("/human_request", "human_request"),
        ('/inform{"x":1}', 'inform{"x":1}'),
        ("  /human_request  ", "human_request  "),
        ("/ /human_request", "human_request"),  # Rasa strips, so the second slash would lead
        ("\u3000/human_request", "human_request"),  # any Unicode space Rasa strips
        ("//", ""),
        ("/flight_status please", "flight_status please"),  # not exactly the offered payload
    ],
)
def test_a_typed_intent_goes_to_rasa_as_words(typed: str, sent: str) -> None:
    assert reads_as_intent(typed)
    assert text_for_rasa(typed, OFFERED) == sent
    assert not reads_as_intent(text_for_rasa(typed, OFFERED))


def test_an_offered_payload_goes_as_the_intent_it_is() -> None:
    assert text_for_rasa("/flight_status", OFFERED) == "/flight_status"
    assert text_for_rasa(" /flight_status\n", OFFERED) == "/flight_status"
    # The same payload with no such button on offer is words again.
    assert text_for_rasa("/flight_status", []) == "flight_status"


def test_ordinary_texts_go_unchanged() -> None:
    for text in ["is my flight on time?", "a/b testing", "XY4K2P", "2", ""]:
        assert not reads_as_intent(text)
        assert text_for_rasa(text, OFFERED) == text
