"""Cleaning what comes from outside (relais/core/untrusted.py), and every inbound message
cleaned the same way whatever its channel (relais/storage/messages.py `Inbound`)."""

from __future__ import annotations

import pytest

from relais.core.untrusted import bounded_id, clean_id, clean_text, for_log
from relais.storage.messages import MAX_PLATFORM_ID, MAX_SENDER, Inbound


def test_texts_keep_line_breaks_and_tabs_and_lose_other_controls() -> None:
    assert clean_text("a\x00b\x07c\x1b[31md\x7fe\x85f") == "abc[31mdef"
    assert clean_text("one\ntwo\tthree") == "one\ntwo\tthree"
    assert clean_text("windows\r\nline\rold mac") == "windows\nline\nold mac"


def test_texts_keep_what_languages_and_emoji_need() -> None:
    family = "👩\u200d👩\u200d👧"  # zero-width joiners: one emoji
    arabic = "\u202bمرحبا\u202c"  # right-to-left embedding
    assert clean_text(family) == family and clean_text(arabic) == arabic
    assert clean_text("Ça va ? ²") == "Ça va ? ²"


def test_a_lone_surrogate_is_removed_so_the_text_can_be_encoded() -> None:
    cleaned = clean_text("bad \ud800 half")
    assert cleaned == "bad  half"
    cleaned.encode("utf-8")  # would raise with the surrogate


def test_ids_are_one_clean_line() -> None:
    assert clean_id(" 100\x00002\n") == "100002"
    assert clean_id("demo\u202e-james\u200b") == "demo-james"  # bidi override, zero width
    assert clean_id("\x00\x01") == ""


def test_a_long_id_keeps_its_meaning_in_a_digest() -> None:
    short = "camille:client-1"
    assert bounded_id(short, 120) == short
    long_a, long_b = "x" * 200 + "a", "x" * 200 + "b"
    assert len(bounded_id(long_a, 120)) == 120
    assert bounded_id(long_a, 120) == bounded_id(long_a, 120)  # the same delivery: once
    assert bounded_id(long_a, 120) != bounded_id(long_b, 120)  # a different one: kept


def test_log_lines_show_controls_escaped_and_are_short() -> None:
    assert for_log("user\nFAKE LOG LINE") == "user\\u000aFAKE LOG LINE"
    assert len(for_log("y" * 1000, limit=50)) == 50


def test_every_inbound_message_is_cleaned_before_storage() -> None:
    inbound = Inbound(
        channel="telegram",
        sender="100\x00002\r",
        platform_id="9:\x1b42",
        text="hello\x00 there\r\nsecond line\x07",
        attachments=({"kind": "document", "name": "bill\x00.pdf\x1b[2J", "size": 3},),
    )
    assert inbound.sender == "100002" and inbound.conversation_id == "telegram:100002"
    assert inbound.platform_id == "9:42"
    assert inbound.text == "hello there\nsecond line"
    assert inbound.attachments[0] == {"kind": "document", "name": "bill.pdf[2J", "size": 3}


def test_an_inbound_id_that_does_not_fit_is_refused_or_digested() -> None:
    with pytest.raises(ValueError):
        Inbound(channel="x", sender="1" * (MAX_SENDER + 1), platform_id="1")
    with pytest.raises(ValueError):  # nothing left once cleaned
        Inbound(channel="web", sender="\x00\u200b", platform_id="1")
    inbound = Inbound(channel="web", sender="camille", platform_id="camille:" + "c" * 300)
    assert len(inbound.platform_id) == MAX_PLATFORM_ID
