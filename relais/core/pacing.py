"""Rate limits as a platform states them ("15 requests per 15 minutes"), and the arithmetic of
staying under them: how long until the next request may go, given when the last ones went.

A limit holds over *any* interval of its length (a sliding window). That is at least as
strict as the fixed windows platforms count in (X resets its count at `x-rate-limit-reset`),
whatever the alignment of theirs, so a pace kept here is never refused for going too fast.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from relais.core.errors import ConfigError

_UNITS = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
_LIMIT = re.compile(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*(s|min|m|h|d)\s*")


@dataclass(frozen=True)
class Limit:
    """At most `count` requests in any `window_s` seconds."""

    count: int
    window_s: float

    def __post_init__(self) -> None:
        if self.count < 1 or self.window_s <= 0:
            raise ValueError("a limit needs a positive count and window")

    def scaled(self, factor: float) -> Limit:
        """The same count in a window `factor` times shorter (benchmarks, tests)."""
        return Limit(self.count, self.window_s / factor)

    def __str__(self) -> str:
        return f"{self.count:,} per {_duration(self.window_s)}"


def _duration(seconds: float) -> str:
    for unit, size in (("24 h", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if unit == "24 h" and seconds == size:
            return unit
        if unit != "24 h" and seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)} {unit}"
    return f"{seconds:g} s"


def parse_limits(text: str, name: str = "a limit") -> tuple[Limit, ...]:
    """ "15/15m, 1440/24h" → two limits; units s, m (or min), h, d. ConfigError otherwise."""
    limits = []
    for part in text.split(","):
        match = _LIMIT.fullmatch(part)
        if not match:
            raise ConfigError(
                f"{name} must look like 15/15m or 15/15m,1440/24h (count/window, with s, m, "
                f"h or d), not {text!r}"
            )
        count, size, unit = match.groups()
        try:
            limits.append(Limit(int(count), float(size or 1) * _UNITS[unit]))
        except ValueError as error:
            raise ConfigError(f"{name}: {error} ({part.strip()!r})") from None
    return tuple(limits)


def describe(limits: Iterable[Limit]) -> str:
    """ "15 per 15 min and 1,440 per 24 h"."""
    return " and ".join(str(limit) for limit in limits) or "no limit"


def binding(limits: Sequence[Limit]) -> tuple[Limit, ...]:
    """The limits that can bind: one that the others already imply is dropped (15 per 15 min
    allows at most 96 × 15 = 1,440 in 24 h, so "1,440 per 24 h" beside it adds nothing)."""
    kept = []
    for limit in limits:
        implied = any(
            other is not limit
            and other.window_s <= limit.window_s
            and other.count * math.ceil(limit.window_s / other.window_s) <= limit.count
            and (other.window_s, other.count) != (limit.window_s, limit.count)
            for other in limits
        )
        if not implied:
            kept.append(limit)
    return tuple(kept)


def spacing(limits: Sequence[Limit]) -> float:
    """The steady pace the limits allow: seconds between requests (15 per 15 min: 60 s)."""
    return max((limit.window_s / limit.count for limit in limits), default=0.0)


def wait_for_slot(
    times: Sequence[float], limits: Sequence[Limit], now: float, hold_until: float = 0.0
) -> float:
    """Seconds until one more request may go (0: now), given when the earlier ones went
    (`times`, any order) and a time before which the platform said to send nothing."""
    wait = max(0.0, hold_until - now)
    ordered = sorted(times)
    for limit in limits:
        recent = [t for t in ordered if t > now - limit.window_s]
        if len(recent) >= limit.count:
            # Free once the oldest of the last `count` requests leaves the window.
            wait = max(wait, recent[-limit.count] + limit.window_s - now)
    return wait


def keep_recent(times: Sequence[float], limits: Sequence[Limit], now: float) -> list[float]:
    """The request times still needed to judge the next one: those inside the longest
    window, and never more than the largest count."""
    if not limits:
        return []
    longest = max(limit.window_s for limit in limits)
    most = max(limit.count for limit in limits)
    return sorted(t for t in times if t > now - longest)[-most:]
