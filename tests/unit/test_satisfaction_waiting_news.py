"""The pure parts of the news for waiting customers (handoff/waiting_news.py): when news is
due, what counts as a big change in the queue, and the estimate at each place."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from handoff.settings import HandoffSettings
from handoff.wait import Staffing, WaitEstimate, estimate_at
from handoff.waiting_news import Told, changed_a_lot, news_due
from relais.core.brand import load_brand

OPEN = datetime(2026, 11, 18, 9, 0)  # a Wednesday, 10:00 in Paris: the team is in
CLOSED = datetime(2026, 11, 22, 22, 30)  # a Sunday night
SETTINGS = HandoffSettings(waiting_news_minutes=3)


def estimate(position: int, minutes: float | None) -> WaitEstimate:
    return WaitEstimate(
        None if minutes is None else minutes * 60, position, 2, 0, 8.0, measured=False
    )


def told(position: int, minutes: float | None) -> Told:
    return Told(position, None if minutes is None else minutes * 60, OPEN)


def test_news_at_most_once_every_few_minutes() -> None:
    assert news_due(None, OPEN, SETTINGS)
    assert not news_due(told(3, 20), OPEN + timedelta(minutes=2, seconds=59), SETTINGS)
    assert news_due(told(3, 20), OPEN + timedelta(minutes=3), SETTINGS)


@pytest.mark.parametrize(
    ("before", "now", "news"),
    [
        ((6, 40), (3, 40), "waiting.moved_up"),  # moved up to half the place
        ((2, 10), (1, 9), "waiting.moved_up"),  # next in line
        ((6, 40), (4, 30), None),  # moved up, not by half; 10 minutes is not half of 40
        ((3, 10), (3, 20), "waiting.longer"),  # doubled, and 10 minutes more
        ((3, 30), (3, 14), "waiting.sooner"),  # halved, and 16 minutes less
        ((3, 4), (3, 8), None),  # doubled, but only 4 minutes
        ((3, 60), (3, 70), None),  # 10 minutes, but a sixth
        ((3, 20), (3, None), "waiting.update"),  # the team has gone home
        ((3, None), (3, 20), "waiting.update"),  # the team is back
        ((3, None), (1, None), "waiting.moved_up"),
        ((3, None), (2, None), None),
    ],
)
def test_what_counts_as_a_big_change(
    before: tuple[int, float | None], now: tuple[int, float | None], news: str | None
) -> None:
    assert changed_a_lot(told(*before), estimate(*now)) == news


def test_the_estimate_at_each_place_of_the_queue() -> None:
    brand = load_brand()
    # Two agents online, three slots each, one free; 8 minutes a conversation, 2 to pick up.
    staff = Staffing(
        agents_online=2,
        slots=6,
        free_slots=1,
        handling_minutes=8,
        pickup_minutes=2,
        measured=True,
    )
    first = estimate_at(1, staff, OPEN, brand)
    assert (first.seconds, first.position) == (120, 1)  # a free slot: the usual pickup
    fourth = estimate_at(4, staff, OPEN, brand)
    assert fourth.seconds == (2 + 4) * 60  # 3 ahead of the free slot, a slot every 8/6 min
    away = estimate_at(4, staff, CLOSED, brand)
    assert away.seconds is None and away.back_at is not None and away.position == 4
