"""Rate limits as platforms state them, and the pace that stays under them; X's by access level."""

from __future__ import annotations

import asyncio

import pytest

from bot.channels.x_limits import ACCESS_LEVELS, PAY_PER_USE, per_hour, x_limits
from bot.pacing import LocalPace, MemoryPace
from relais.core.errors import ConfigError
from relais.core.pacing import (
    Limit,
    binding,
    describe,
    keep_recent,
    parse_limits,
    spacing,
    wait_for_slot,
)

FIFTEEN_MIN = Limit(15, 900.0)
DAILY = Limit(1440, 86400.0)


def test_limits_are_read_as_written_and_said_back() -> None:
    assert parse_limits("15/15m, 1440/24h") == (FIFTEEN_MIN, DAILY)
    assert parse_limits("300/15min") == (Limit(300, 900.0),)
    assert parse_limits("15/3s") == (Limit(15, 3.0),)
    assert parse_limits("1/d") == (Limit(1, 86400.0),)
    assert describe((FIFTEEN_MIN, DAILY)) == "15 per 15 min and 1,440 per 24 h"
    for wrong in ("15", "15/", "fifteen/15m", "15/15y", "0/15m", "15/15m;1440/24h"):
        with pytest.raises(ConfigError):
            parse_limits(wrong, "X_SEND_LIMIT")


def test_a_limit_the_others_imply_is_not_enforced_twice() -> None:
    # 96 windows of 15 minutes in a day, 15 each: never more than 1,440 a day.
    assert binding((FIFTEEN_MIN, DAILY)) == (FIFTEEN_MIN,)
    assert binding((FIFTEEN_MIN, Limit(1000, 86400.0))) == (FIFTEEN_MIN, Limit(1000, 86400.0))
    assert spacing((FIFTEEN_MIN, DAILY)) == 60.0  # one request a minute, sustained


def test_a_sliding_window_allows_the_count_then_frees_one_slot_at_a_time() -> None:
    times: list[float] = []
    now = 1000.0
    for _ in range(15):
        assert wait_for_slot(times, [FIFTEEN_MIN], now) == 0
        times.append(now)
        now += 1
    # The 16th waits until the first leaves the window, 900 s after it went.
    assert wait_for_slot(times, [FIFTEEN_MIN], now) == pytest.approx(1000 + 900 - now)
    assert wait_for_slot(times, [FIFTEEN_MIN], 1900.5) == 0
    # The platform's own word (HTTP 429 until a reset) wins over the count.
    assert wait_for_slot([], [FIFTEEN_MIN], 10.0, hold_until=70.0) == 60.0
    assert keep_recent([1.0, 2.0, 3.0], [Limit(2, 10.0)], 5.0) == [2.0, 3.0]


def test_no_fixed_window_sees_more_than_its_count_whatever_its_alignment() -> None:
    limit = Limit(15, 900.0)
    times: list[float] = []
    sent_all: list[float] = []
    now = 0.0
    while now < 4 * 3600:  # a request every 7 s, whenever the pace allows
        if wait_for_slot(times, [limit], now) == 0:
            times.append(now)
            times = keep_recent(times, [limit], now)
            sent_all.append(now)
        now += 7.0
    for offset in range(0, 900, 37):  # X's window may start anywhere
        starts = range(offset, 4 * 3600, 900)
        counts = [sum(s <= t < s + 900 for t in sent_all) for s in starts]
        assert max(counts) <= 15
    assert len(sent_all) >= 15 * 15  # and it does not go slower than it may


def test_local_pace_keeps_one_message_a_second_per_chat_and_thirty_in_all() -> None:
    now = [0.0]
    pace = LocalPace([Limit(1, 1.0)], [Limit(30, 1.0)], clock=lambda: now[0])
    assert pace.take("a") == 0 and pace.take("b") == 0
    assert pace.take("a") == pytest.approx(1.0)  # the same chat: a second later
    now[0] = 1.0
    assert pace.take("a") == 0
    for chat in range(29):  # with "a": 30 in this second
        assert pace.take(f"c{chat}") == 0
    assert pace.take("d") > 0  # 30 in the last second already
    # A request answered later than its slot was taken counts from its answer: the next
    # one cannot arrive within a second of it, whatever the network's delays.
    now[0] = 1.2
    pace.settle("a")
    now[0] = 2.0
    assert pace.take("a") == pytest.approx(0.2)
    pace.hold("e", 5.0)  # Telegram's retry_after for one chat
    now[0] = 3.0
    assert pace.take("e") == pytest.approx(4.0)


def test_memory_pace_has_the_shared_pace_interface() -> None:
    now = [100.0]
    pace = MemoryPace([Limit(2, 10.0)], clock=lambda: now[0])

    async def run() -> list[float]:
        waits = [await pace.take(), await pace.take(), await pace.take()]
        await pace.hold(150.0)
        now[0] = 120.0
        return [*waits, await pace.take(), await pace.wait()]

    assert asyncio.run(run()) == [0.0, 0.0, 10.0, 30.0, 30.0]


def test_x_limits_follow_the_access_level_and_the_settings_override_them() -> None:
    assert x_limits() == PAY_PER_USE
    assert PAY_PER_USE.sends_text == "15 per 15 min and 1,440 per 24 h"
    assert PAY_PER_USE.reads_text == "15 per 15 min" and PAY_PER_USE.poll_every_s == 60.0
    assert x_limits("Pro").sends == (DAILY,)
    assert x_limits("basic").poll_every_s == 86400.0
    custom = x_limits("enterprise", reads="300/15m", sends="100/15m,5000/24h")
    assert custom.reads == (Limit(300, 900.0),) and custom.poll_every_s == 3.0
    with pytest.raises(ConfigError, match="no Direct Message endpoints"):
        x_limits("free")
    with pytest.raises(ConfigError, match="X_ACCESS_LEVEL"):
        x_limits("gold")
    scaled = PAY_PER_USE.scaled(300)
    assert scaled.sends == (Limit(15, 3.0), Limit(1440, 288.0))
    # What a brand can expect per hour, sustained (README, "X direct messages").
    assert {name: per_hour(limits) for name, limits in ACCESS_LEVELS.items()} == {
        "pay-per-use": 60,
        "pro": 60,
        "basic": 0,
        "enterprise": 60,
    }
