"""X's rate limits on the two Direct Message endpoints Relais uses, by access level.

From X's documentation (docs.x.com, "X API Rate Limits", and its per-tier table of December
2024 for the subscription levels), per user (the brand's account, OAuth 1.0a):

| access level | GET /2/dm_events (reads) | POST …/messages (sends) |
| --- | --- | --- |
| pay-per-use (X's current model; the default) | 15 per 15 min | 15 per 15 min and 1,440 per 24 h |
| pro (subscription) | 15 per 15 min | 1,440 per 24 h |
| basic (subscription) | 1 per 24 h | 1 per 24 h |
| free | no Direct Message endpoints | — |
| enterprise | by contract: X_READ_LIMIT, X_SEND_LIMIT | (pay-per-use figures until set) |

An older page gave 300 reads per 15 minutes; X_READ_LIMIT and X_SEND_LIMIT override the
table (`15/15m,1440/24h`) when X's figures for an account differ. Every piece of a split
reply, every agent reply and every group note is one send.
"""

from __future__ import annotations

from dataclasses import dataclass

from relais.core.errors import ConfigError
from relais.core.pacing import Limit, describe, parse_limits, spacing

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0


@dataclass(frozen=True)
class XLimits:
    """The limits Relais keeps to on X: reads (polling `GET /2/dm_events`, each page one
    request) and sends (each DM one request)."""

    level: str
    reads: tuple[Limit, ...]
    sends: tuple[Limit, ...]

    @property
    def reads_text(self) -> str:
        return describe(self.reads)

    @property
    def sends_text(self) -> str:
        return describe(self.sends)

    @property
    def poll_every_s(self) -> float:
        """The polling interval the read limit allows (15 per 15 min: one every 60 s)."""
        return spacing(self.reads)

    def scaled(self, factor: float) -> XLimits:
        """The same counts in windows `factor` times shorter (benchmarks and tests)."""
        return XLimits(
            f"{self.level}, windows ÷ {factor:g}",
            tuple(limit.scaled(factor) for limit in self.reads),
            tuple(limit.scaled(factor) for limit in self.sends),
        )


PAY_PER_USE = XLimits(
    "pay-per-use",
    reads=(Limit(15, 15 * MINUTE),),
    sends=(Limit(15, 15 * MINUTE), Limit(1440, DAY)),
)
ACCESS_LEVELS = {
    "pay-per-use": PAY_PER_USE,
    "pro": XLimits("pro", reads=(Limit(15, 15 * MINUTE),), sends=(Limit(1440, DAY),)),
    "basic": XLimits("basic", reads=(Limit(1, DAY),), sends=(Limit(1, DAY),)),
    # By contract: X_READ_LIMIT and X_SEND_LIMIT say what was agreed.
    "enterprise": XLimits("enterprise", reads=PAY_PER_USE.reads, sends=PAY_PER_USE.sends),
}


def x_limits(
    level: str | None = None, reads: str | None = None, sends: str | None = None
) -> XLimits:
    """The limits of `level` (default pay-per-use), with X_READ_LIMIT / X_SEND_LIMIT over
    them; ConfigError for a level without Direct Messages or a limit that cannot be read."""
    name = (level or "pay-per-use").strip().lower()
    if name == "free":
        raise ConfigError(
            "X's Free access has no Direct Message endpoints: X_ACCESS_LEVEL must be "
            "pay-per-use, pro, basic or enterprise"
        )
    if name not in ACCESS_LEVELS:
        raise ConfigError(
            f"X_ACCESS_LEVEL must be one of {', '.join(ACCESS_LEVELS)}, not {level!r}"
        )
    found = ACCESS_LEVELS[name]
    return XLimits(
        found.level,
        parse_limits(reads, "X_READ_LIMIT") if reads else found.reads,
        parse_limits(sends, "X_SEND_LIMIT") if sends else found.sends,
    )


def per_hour(limits: XLimits) -> int:
    """The most sends the limits allow in an hour, sustained (for the README's table)."""
    return int(min(limit.count * HOUR / limit.window_s for limit in limits.sends))
