"""The human side's settings, from handoff.yml (`settings().handoff_file`, RELAIS_HANDOFF_FILE)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path

import yaml

from relais.core.config import settings
from relais.core.errors import ConfigError


@dataclass(frozen=True)
class HandoffSettings:
    online_minutes: float = 2
    agent_silence_minutes: float = 15
    default_handling_minutes: float = 8
    default_pickup_minutes: float = 2
    estimate_window: int = 50
    session_hours: float = 12
    #: Failed console logins allowed per username, and per client address, in the window;
    #: past either, logins are answered 429 until the oldest failure leaves the window.
    login_failures_per_username: int = 5
    login_failures_per_address: int = 20
    login_window_minutes: float = 15
    #: A conversation with the bot ends when the customer has written nothing for this long:
    #: they are asked for a rating then (handoff/satisfaction.py).
    rating_after_idle_minutes: float = 30
    #: A customer who writes while waiting hears their place and the wait at most this often.
    waiting_news_minutes: float = 3

    @classmethod
    def from_file(cls, path: Path) -> HandoffSettings:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"{path}: unknown setting(s) {unknown}")
        for name, value in data.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise ConfigError(f"{path}: {name} must be a positive number, got {value!r}")
        return cls(**data)


@lru_cache(maxsize=4)
def load_handoff_settings(path: str | None = None) -> HandoffSettings:
    return HandoffSettings.from_file(Path(path) if path else settings().handoff_file)
