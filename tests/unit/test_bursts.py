"""Bursts: when the router waits for the customer to finish, and which lines go as one."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.bursts import (
    BURST_MESSAGES,
    BURST_WINDOW_S,
    MAX_BURST_TEXT,
    Line,
    is_burst,
    join_burst,
)

NOW = datetime(2026, 11, 24, 10, 0, 0)


def ago(*seconds: float) -> list[datetime]:
    return [NOW - timedelta(seconds=s) for s in seconds]


def test_a_burst_is_enough_lines_within_the_window_with_several_pending() -> None:
    assert BURST_MESSAGES == 4 and BURST_WINDOW_S == 5.0
    assert is_burst(ago(0, 1, 2, 3), pending=2, now=NOW)
    assert is_burst(ago(0, 0.1, 0.2, 5), pending=3, now=NOW)  # the window's edge counts


def test_no_burst_with_too_few_recent_lines_or_one_pending() -> None:
    assert not is_burst(ago(0, 1, 2), pending=3, now=NOW)
    assert not is_burst(ago(0, 1, 2, 5.5), pending=3, now=NOW)  # one is older than the window
    assert not is_burst(ago(0, 0, 0, 0, 0), pending=1, now=NOW)
    assert not is_burst([], pending=5, now=NOW)


def test_pending_lines_join_the_first_one_per_line() -> None:
    burst = join_burst([Line("hi"), Line("my flight XY602"), Line("is delayed")])
    assert burst.joined == 2 and burst.text == "hi\nmy flight XY602\nis delayed"


def test_one_line_joins_nothing() -> None:
    assert join_burst([Line("hello")]) == (0, "hello")
    assert join_burst([]) == (0, "")


def test_joining_stops_at_a_line_with_attachments_or_a_blank_line() -> None:
    assert join_burst([Line("a"), Line("b"), Line("photo", True), Line("c")]) == (1, "a\nb")
    assert join_burst([Line("a"), Line("  "), Line("c")]) == (0, "a")
    # A first line with a file is answered on its own (it goes to Rasa with the file).
    assert join_burst([Line("look", True), Line("b")]) == (0, "look")


def test_the_joined_text_never_passes_the_limit_line_breaks_included() -> None:
    assert MAX_BURST_TEXT == 4000
    exactly = [Line("x" * 1999), Line("y" * 2000)]  # 1999 + "\n" + 2000 = 4000
    assert join_burst(exactly).joined == 1 and len(join_burst(exactly).text) == MAX_BURST_TEXT
    over = [Line("x" * 2000), Line("y" * 2000)]  # one character too many with the "\n"
    assert join_burst(over) == (0, "x" * 2000)
    many = [Line("z" * 99) for _ in range(100)]
    burst = join_burst(many)
    assert len(burst.text) <= MAX_BURST_TEXT and burst.joined == 39  # 40 × 100 - 1 = 3999
