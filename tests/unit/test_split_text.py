"""Cutting long replies for the channels' limits, and buttons as numbered options.

(Moved out of tests/e2e/test_telegram.py: these are plain functions, no Telegram stand-in.)
"""

from __future__ import annotations

from bot.channels.common import numbered_options, split_text


def test_long_replies_split_cleanly_and_buttons_become_numbers() -> None:
    text = ("Your trip is confirmed. " * 400).strip()
    pieces = split_text(text, 4096)
    assert all(len(p) <= 4096 for p in pieces) and len(pieces) == 3
    assert all(p.endswith(".") for p in pieces)
    assert " ".join(pieces) == text
    assert split_text("x" * 5000, 4096) == ["x" * 4096, "x" * 904]
    assert (
        numbered_options("Which trip?", [{"title": "Lyon"}, {"title": "Nice"}])
        == "Which trip?\n\n1. Lyon\n2. Nice"
    )
