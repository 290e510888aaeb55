"""Which DM channels are on, from environment variables (or a `relais:` section in
credentials.yml). A channel without credentials is off, and `make run` says so.

The variables themselves are read by relais/core/config.py; this module merges them with the
file (a variable wins) and checks the result.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from bot.channels.x_limits import XLimits, x_limits
from relais.core.config import TelegramVariables, XVariables, settings
from relais.core.errors import ConfigError

#: What Telegram accepts as a webhook's secret_token (setWebhook answers 400 otherwise).
_WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


def check_webhook_secret(secret: str) -> str:
    """`secret` if Telegram accepts it as a webhook secret; a ConfigError saying why not."""
    if not _WEBHOOK_SECRET.fullmatch(secret):
        bad = sorted({c for c in secret if not re.fullmatch(r"[A-Za-z0-9_-]", c)})
        why = (
            f"{len(secret)} characters"
            if not bad
            else "characters Telegram refuses: " + " ".join(repr(c) for c in bad[:5])
        )
        raise ConfigError(
            "TELEGRAM_WEBHOOK_SECRET must be 1-256 characters among A-Z a-z 0-9 _ - "
            f"(Telegram refuses anything else); this one has {why}"
        )
    return secret


@dataclass(frozen=True)
class TelegramSettings:
    token: str
    mode: str  #: "webhook" or "polling"
    webhook_secret: str | None
    api_url: str | None  #: a local stand-in's address instead of api.telegram.org
    #: The public HTTPS address of /telegram/webhook; when set, Relais registers it at start.
    webhook_url: str | None = None


def _credentials_file() -> Mapping[str, Any]:
    path = settings().credentials_file
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    section = data.get("relais") or {}
    return section if isinstance(section, dict) else {}


def telegram_settings(env: Mapping[str, str] | None = None) -> TelegramSettings | None:
    """Telegram's settings, or None when it is off; `env` (tests) instead of `settings()`."""
    given = settings().telegram if env is None else TelegramVariables.from_env(env)
    file = _credentials_file().get("telegram") or {}
    token = given.bot_token or file.get("token")
    if not token:
        return None
    mode = (given.mode or file.get("mode") or "polling").lower()
    if mode not in ("webhook", "polling"):
        raise ConfigError(f"TELEGRAM_MODE must be webhook or polling, not {mode!r}")
    secret = given.webhook_secret or file.get("webhook_secret")
    if mode == "webhook" and not secret:
        raise ConfigError(
            "Telegram webhook mode needs TELEGRAM_WEBHOOK_SECRET (any 1-256 "
            "characters A-Z a-z 0-9 _ -), also given to setWebhook"
        )
    if secret is not None:
        secret = check_webhook_secret(str(secret))
    return TelegramSettings(
        str(token),
        mode,
        secret,
        given.api_url or file.get("api_url"),
        given.webhook_url or file.get("webhook_url"),
    )


@dataclass(frozen=True)
class XSettings:
    account_id: str  #: the numeric id of the brand's X account (its own DMs are dropped)
    consumer_key: str
    consumer_secret: str  #: also signs the webhook (CRC and x-twitter-webhooks-signature)
    access_token: str
    access_token_secret: str
    mode: str  #: "webhook" or "polling"
    api_url: str | None  #: a local stand-in instead of api.x.com
    #: The rate limits of the account's access level (X_ACCESS_LEVEL, X_READ_LIMIT,
    #: X_SEND_LIMIT; bot/channels/x_limits.py).
    limits: XLimits = x_limits()


_X_KEYS = ("account_id", "consumer_key", "consumer_secret", "access_token", "access_token_secret")


def x_settings(env: Mapping[str, str] | None = None) -> XSettings | None:
    """X's settings, or None when it is off; `env` (tests) instead of `settings()`."""
    given = settings().x if env is None else XVariables.from_env(env)
    file = _credentials_file().get("x") or {}
    values = {key: getattr(given, key) or file.get(key) for key in _X_KEYS}
    if not any(values.values()):
        return None
    missing = [f"X_{k.upper()}" for k, v in values.items() if not v]
    if missing:
        raise ConfigError(f"X needs {', '.join(missing)} as well")
    mode = (given.mode or file.get("mode") or "webhook").lower()
    if mode not in ("webhook", "polling"):
        raise ConfigError(f"X_MODE must be webhook or polling, not {mode!r}")
    return XSettings(
        **{k: str(v) for k, v in values.items()},
        mode=mode,
        api_url=given.api_url or file.get("api_url"),
        limits=x_limits(
            given.access_level or file.get("access_level"),
            given.read_limit or file.get("read_limit"),
            given.send_limit or file.get("send_limit"),
        ),
    )


def describe() -> str:
    """One line per channel: on (and how) or off (and what to set), for `make run`."""
    lines = ["  web chat: on"]
    try:
        telegram = telegram_settings()
    except ConfigError as error:
        lines.append(f"  Telegram: misconfigured: {error}")
    else:
        lines.append(
            f"  Telegram: on ({telegram.mode})"
            if telegram
            else "  Telegram: off (set TELEGRAM_BOT_TOKEN; see README, Channels)"
        )
    try:
        x = x_settings()
    except ConfigError as error:
        lines.append(f"  X: misconfigured: {error}")
    else:
        lines.append(
            f"  X: on ({x.mode}; {x.limits.level}: sends {x.limits.sends_text}, "
            f"reads {x.limits.reads_text})"
            if x
            else "  X: off (set X_ACCOUNT_ID, X_CONSUMER_KEY, X_CONSUMER_SECRET, "
            "X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET; see README, Channels)"
        )
    return "\n".join(lines)
