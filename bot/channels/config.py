"""Which DM channels are on, from environment variables (or a `relais:` section in
credentials.yml). A channel without credentials is off, and `make run` says so."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from relais.core.config import settings


@dataclass(frozen=True)
class TelegramSettings:
    token: str
    mode: str  #: "webhook" or "polling"
    webhook_secret: str | None
    api_url: str | None  #: a local stand-in's address instead of api.telegram.org
    #: The public HTTPS address of /telegram/webhook; when set, Relais registers it at start.
    webhook_url: str | None = None


def _credentials_file() -> Mapping[str, Any]:
    path = Path(os.environ.get("RELAIS_CREDENTIALS_FILE") or settings().repo_root / "credentials.yml")
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    section = data.get("relais") or {}
    return section if isinstance(section, dict) else {}


def telegram_settings(env: Mapping[str, str] | None = None) -> TelegramSettings | None:
    env = os.environ if env is None else env
    file = _credentials_file().get("telegram") or {}
    token = env.get("TELEGRAM_BOT_TOKEN") or file.get("token")
    if not token:
        return None
    mode = (env.get("TELEGRAM_MODE") or file.get("mode") or "polling").lower()
    if mode not in ("webhook", "polling"):
        raise ValueError(f"TELEGRAM_MODE must be webhook or polling, not {mode!r}")
    secret = env.get("TELEGRAM_WEBHOOK_SECRET") or file.get("webhook_secret")
    if mode == "webhook" and not secret:
        raise ValueError("Telegram webhook mode needs TELEGRAM_WEBHOOK_SECRET (any 1-256 "
                         "characters A-Z a-z 0-9 _ -), also given to setWebhook")
    return TelegramSettings(str(token), mode, secret, env.get("TELEGRAM_API_URL") or file.get("api_url"),
                            env.get("TELEGRAM_WEBHOOK_URL") or file.get("webhook_url"))


@dataclass(frozen=True)
class XSettings:
    account_id: str  #: the numeric id of the brand's X account (its own DMs are dropped)
    consumer_key: str
    consumer_secret: str  #: also signs the webhook (CRC and x-twitter-webhooks-signature)
    access_token: str
    access_token_secret: str
    mode: str  #: "webhook" or "polling"
    api_url: str | None  #: a local stand-in instead of api.x.com


_X_KEYS = ("account_id", "consumer_key", "consumer_secret", "access_token", "access_token_secret")


def x_settings(env: Mapping[str, str] | None = None) -> XSettings | None:
    env = os.environ if env is None else env
    file = _credentials_file().get("x") or {}
    values = {key: env.get(f"X_{key.upper()}") or file.get(key) for key in _X_KEYS}
    if not any(values.values()):
        return None
    missing = [f"X_{k.upper()}" for k, v in values.items() if not v]
    if missing:
        raise ValueError(f"X needs {', '.join(missing)} as well")
    mode = (env.get("X_MODE") or file.get("mode") or "webhook").lower()
    if mode not in ("webhook", "polling"):
        raise ValueError(f"X_MODE must be webhook or polling, not {mode!r}")
    return XSettings(**{k: str(v) for k, v in values.items()}, mode=mode,
                     api_url=env.get("X_API_URL") or file.get("api_url"))


def describe() -> str:
    """One line per channel: on (and how) or off (and what to set), for `make run`."""
    lines = ["  web chat: on"]
    try:
        telegram = telegram_settings()
    except ValueError as error:
        lines.append(f"  Telegram: misconfigured: {error}")
    else:
        lines.append(f"  Telegram: on ({telegram.mode})" if telegram else
                     "  Telegram: off (set TELEGRAM_BOT_TOKEN; see README, Channels)")
    try:
        x = x_settings()
    except ValueError as error:
        lines.append(f"  X: misconfigured: {error}")
    else:
        lines.append(f"  X: on ({x.mode})" if x else
                     "  X: off (set X_ACCOUNT_ID, X_CONSUMER_KEY, X_CONSUMER_SECRET, "
                     "X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET; see README, Channels)")
    return "\n".join(lines)
