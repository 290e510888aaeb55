"""The bot's texts exist in both languages; dates, times and money read naturally."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from actions import formatting as fmt
from relais.core.texts import MissingText, catalog, placeholders, say


def test_every_text_exists_in_english_and_french_with_the_same_placeholders() -> None:
    texts = catalog()
    assert len(texts) > 80
    for key, versions in texts.items():
        assert set(versions) == {"en", "fr"}, key
        assert versions["en"] and versions["fr"], key
        assert placeholders(versions["en"]) == placeholders(versions["fr"]), key


def test_say_fills_placeholders_and_closes_the_gap_of_an_empty_name() -> None:
    assert say("goodbye.plain", "en", name="") == "Bye, have a good day!"
    assert say("goodbye.plain", "fr", name="Camille") == "Au revoir Camille, bonne journée !"
    assert say("handed_back.general", "en", name="").startswith("I'm back with you. Is there")
    assert say("thank.plain", "en", name="").startswith("You're welcome! Anything")
    assert say("thank.plain", "fr", name="").startswith("Avec plaisir ! Autre chose")


def test_missing_text_is_a_clear_error() -> None:
    with pytest.raises(MissingText, match="no.such"):
        say("no.such", "en")


def test_dates_times_and_money_per_language() -> None:
    moment = datetime(2026, 11, 24, 14, 25)
    assert fmt.day(moment, "en") == "Tue 24 Nov"
    assert fmt.day(moment, "fr") == "mar. 24 nov."
    assert fmt.time(moment, "en") == "14:25" and fmt.time(moment, "fr") == "14h25"
    assert fmt.money(Decimal("182.40"), "EUR", "en") == "€182.40"
    assert fmt.money(Decimal("1182.40"), "EUR", "fr") == "1\u202f182,40 €"
    assert fmt.minutes(45, "en") == "45 min" and fmt.minutes(90, "fr") == "1h30"


def test_utc_records_are_shown_in_the_airport_time_zone() -> None:
    winter = fmt.local(datetime(2026, 11, 24, 13, 25), "Europe/Paris")
    assert (winter.hour, winter.minute) == (14, 25)
    assert fmt.local(datetime(2026, 11, 24, 19, 0), "America/Toronto").hour == 14
