"""Texts the human side and the channels send, from the catalog, in English and French:
the wait estimate, the "team is away" message, agents' suggested replies, the Telegram
group note and the support hours."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.channels.telegram import group_note
from handoff.records_view import suggestions
from handoff.wait import WaitEstimate, duration, wait_message
from relais.core.brand import Brand, load_brand
from relais.core.texts import has_text

ROOT = Path(__file__).resolve().parents[2]
#: Monday 13 January 2025, 21:00 UTC: 22:00 in Paris, after support hours.
MONDAY_EVENING = datetime(2025, 1, 13, 21, 0)


@pytest.fixture(scope="module")
def brand() -> Brand:
    return load_brand(ROOT / "brand.yml")


def open_estimate(minutes: float, position: int) -> WaitEstimate:
    return WaitEstimate(
        minutes * 60, position, agents_online=2, free_slots=0, handling_minutes=8, measured=True
    )


def closed_estimate(brand: Brand, days_ahead: int) -> WaitEstimate:
    back = brand.local(MONDAY_EVENING).replace(hour=8, minute=0) + timedelta(days=days_ahead)
    return WaitEstimate(None, 1, 0, 0, 8, False, back_at=back)


@pytest.mark.parametrize(
    ("seconds", "lang", "expected"),
    [
        (30, "en", "1 minute"),
        (30, "fr", "1 minute"),
        (7 * 60, "en", "7 minutes"),
        (23 * 60, "en", "about 25 minutes"),
        (23 * 60, "fr", "environ 25 minutes"),
        (60 * 60, "en", "about 1 hour"),
        (60 * 60, "fr", "environ 1 h"),
        (85 * 60, "en", "about 1 hour 30"),
        (85 * 60, "fr", "environ 1 h 30"),
        (95 * 60, "en", "about 2 hours"),
        (95 * 60, "fr", "environ 2 h"),
        (145 * 60, "en", "about 2 hours 30"),
    ],
)
def test_durations_are_rounded_and_worded_per_language(
    seconds: float, lang: str, expected: str
) -> None:
    assert duration(seconds, lang) == expected


def test_the_wait_estimate_in_both_languages(brand: Brand) -> None:
    first = open_estimate(23, position=1)
    assert (
        wait_message(first, "en", brand, MONDAY_EVENING)
        == "A colleague should reply in about 25 minutes."
    )
    assert (
        wait_message(first, "fr", brand, MONDAY_EVENING)
        == "Temps d'attente estimé avant la réponse d'un·e collègue : environ 25 minutes."
    )
    third = open_estimate(2, position=3)
    assert (
        wait_message(third, "en", brand, MONDAY_EVENING)
        == "A colleague should reply in 2 minutes (you are number 3 in the queue)."
    )
    assert wait_message(third, "fr", brand, MONDAY_EVENING) == (
        "Temps d'attente estimé avant la réponse d'un·e collègue : 2 minutes (3e dans la file)."
    )


def test_a_language_the_bot_does_not_speak_gets_the_brands_default(brand: Brand) -> None:
    estimate = open_estimate(23, position=1)
    assert wait_message(estimate, "de", brand, MONDAY_EVENING) == wait_message(
        estimate, brand.default_language, brand, MONDAY_EVENING
    )


def test_outside_hours_the_customer_hears_when_the_team_is_back(brand: Brand) -> None:
    tomorrow = closed_estimate(brand, days_ahead=1)
    assert wait_message(tomorrow, "en", brand, MONDAY_EVENING) == (
        "Our team is away right now and back tomorrow at 08:00 (Paris time, Europe/Paris). "
        "Your message is already in their queue; there is no need to send it again."
    )
    assert wait_message(tomorrow, "fr", brand, MONDAY_EVENING) == (
        "Notre équipe est absente pour le moment : elle revient demain à 08:00 (heure de Paris, "
        "Europe/Paris). Votre message est déjà dans sa file, vous n'avez rien à renvoyer."
    )
    later = closed_estimate(brand, days_ahead=3)  # Thursday
    assert "back on Thursday at 08:00" in wait_message(later, "en", brand, MONDAY_EVENING)
    assert "elle revient jeudi à 08:00" in wait_message(later, "fr", brand, MONDAY_EVENING)
    early = MONDAY_EVENING.replace(hour=5)  # 06:00 in Paris: back the same morning
    same_day = WaitEstimate(
        None, 1, 0, 0, 8, False, back_at=brand.local(early).replace(hour=8, minute=0)
    )
    assert "back today at 08:00" in wait_message(same_day, "en", brand, early)
    assert "elle revient aujourd'hui à 08:00" in wait_message(same_day, "fr", brand, early)


RECORDS: dict[str, Any] = {
    "customer": {"name": "Camille Dubois"},
    "bookings": [
        {
            "reference": "XY4K7Q",
            "refunds": [{"amount": "182.40 EUR", "status": "processing", "expected": None}],
            "bags": [{"file": "CDGXY12345", "status": "searching", "last_seen": None}],
            "flights": [
                {"number": "XY123", "from": "Paris", "to": "Nice", "status": "delayed"},
                {"number": "XY124", "from": "Nice", "to": "Paris", "status": "on_time"},
            ],
        }
    ],
}


def test_suggested_replies_in_both_languages() -> None:
    assert suggestions(RECORDS, None, "en") == [
        "Hello Camille, your refund of 182.40 EUR for XY4K7Q is processing; expected by soon.",
        "Hello Camille, your baggage file CDGXY12345 is searching (last seen: unknown).",
        "Hello Camille, flight XY123 Paris → Nice is delayed.",
    ]
    assert suggestions(RECORDS, None, "fr") == [
        "Bonjour Camille, votre remboursement de 182.40 EUR pour XY4K7Q est au statut "
        "« processing », date prévue : bientôt.",
        "Bonjour Camille, votre dossier bagage CDGXY12345 est au statut « searching » "
        "(dernière position : inconnu).",
        "Bonjour Camille, le vol XY123 Paris → Nice est au statut « delayed ».",
    ]


def test_without_records_or_a_name_the_suggestion_asks_for_the_reference() -> None:
    nobody: dict[str, Any] = {"customer": None, "bookings": []}
    assert suggestions(nobody, None, "en") == [
        "Hello, I'm looking into this now. Could you give me your booking reference?"
    ]
    assert suggestions(nobody, None, "fr") == [
        "Bonjour, je m'occupe de votre demande. Pouvez-vous me donner votre référence de "
        "réservation ?"
    ]
    # Another language: English suggestions rather than none.
    assert suggestions(nobody, None, "de") == suggestions(nobody, None, "en")


def test_a_telegram_group_gets_one_note_in_both_languages() -> None:
    assert group_note() == (
        "Hello! For your privacy we only answer in private messages: write to this bot "
        "directly. / Pour votre confidentialité, écrivez-nous en message privé."
    )


def test_support_hours_use_the_catalogs_day_names(brand: Brand) -> None:
    assert brand.hours_text("en").startswith("Mon–Fri 08:00–20:00")
    assert brand.hours_text("fr").startswith("lun.–ven. 08h00–20h00")


def test_every_literal_key_said_by_the_human_side_and_the_channels_is_in_the_catalog() -> None:
    # say("key", …) with a literal key: a typo would only fail when that message is sent.
    said = re.compile(r"""\bsay\(\s*["']([\w.]+)["']""")
    keys = {
        key
        for folder in ("handoff", "bot", "relais/core")
        for path in (ROOT / folder).rglob("*.py")
        for key in said.findall(path.read_text(encoding="utf-8"))
    }
    assert {"wait.away", "suggest.hello", "telegram.group_note", "hours.closed"} <= keys
    assert sorted(key for key in keys if not has_text(key)) == []
