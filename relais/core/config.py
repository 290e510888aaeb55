"""Settings read from the environment, in one place (`settings()`); nothing is read at import.

Every environment variable Relais reads is read here (the benchmarks' command-line defaults
aside). Channel secrets are kept as given: bot/channels/config.py merges them with
credentials.yml and checks them, since a channel that is off needs no valid values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path

#: The demo agents' password (`relais seed`) unless RELAIS_DEMO_PASSWORD says otherwise.
DEMO_PASSWORD = "relais-demo"


def repo_root() -> Path:
    """The repository root: the parent of the `relais` package directory."""
    return Path(os.path.abspath(__file__)).parents[2]


def _secret() -> str | None:
    # Left out of the repr, so logging the settings never prints a token or a password.
    return field(default=None, repr=False)


def _variable(env: Mapping[str, str], name: str) -> str | None:
    # An empty variable (DATABASE_URL= in a .env file) means "not set", not "empty".
    return env.get(name) or None


@dataclass(frozen=True)
class TelegramVariables:
    """TELEGRAM_* as set (None when unset); credentials.yml fills the gaps, see bot/channels."""

    bot_token: str | None = _secret()
    mode: str | None = None
    webhook_secret: str | None = _secret()
    api_url: str | None = None
    webhook_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TelegramVariables:
        return cls(**{f.name: _variable(env, f"TELEGRAM_{f.name.upper()}") for f in fields(cls)})


@dataclass(frozen=True)
class XVariables:
    """X_* as set (None when unset); credentials.yml fills the gaps, see bot/channels."""

    account_id: str | None = None
    consumer_key: str | None = _secret()
    consumer_secret: str | None = _secret()
    access_token: str | None = _secret()
    access_token_secret: str | None = _secret()
    mode: str | None = None
    api_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> XVariables:
        return cls(**{f.name: _variable(env, f"X_{f.name.upper()}") for f in fields(cls)})


@dataclass(frozen=True)
class Settings:
    """Where things are: the database, the brand file, the Rasa servers."""

    repo_root: Path
    database_url: str
    brand_file: Path
    escalation_file: Path
    rasa_url: str
    action_server_url: str
    #: The Rasa model archive `make run`, the scale-out stack and `relais triage` serve.
    model_path: Path
    #: The human side's settings file (queue, console, wait estimates).
    handoff_file: Path
    #: Channel credentials, beside Rasa's own in its `relais:` section.
    credentials_file: Path
    #: The password `relais seed` gives the demo agents.
    demo_password: str = field(repr=False)
    telegram: TelegramVariables
    x: XVariables

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        root = repo_root()

        def get(name: str, default: str) -> str:
            return _variable(env, name) or default

        return cls(
            repo_root=root,
            database_url=_normalize_database_url(
                get("DATABASE_URL", f"sqlite:///{root / 'var' / 'relais.db'}")
            ),
            brand_file=Path(get("RELAIS_BRAND_FILE", str(root / "brand.yml"))),
            escalation_file=Path(get("RELAIS_ESCALATION_FILE", str(root / "escalation.yml"))),
            rasa_url=get("RASA_URL", "http://127.0.0.1:5005").rstrip("/"),
            action_server_url=get("ACTION_SERVER_URL", "http://127.0.0.1:5055").rstrip("/"),
            model_path=Path(get("RELAIS_MODEL", str(root / "models" / "relais.tar.gz"))),
            handoff_file=Path(get("RELAIS_HANDOFF_FILE", str(root / "handoff.yml"))),
            credentials_file=Path(get("RELAIS_CREDENTIALS_FILE", str(root / "credentials.yml"))),
            demo_password=get("RELAIS_DEMO_PASSWORD", DEMO_PASSWORD),
            telegram=TelegramVariables.from_env(env),
            x=XVariables.from_env(env),
        )


def _normalize_database_url(url: str) -> str:
    # Hosting platforms hand out postgres://, which SQLAlchemy 1.4 no longer accepts.
    if url.startswith("postgres://"):
        return "postgresql://" + url[len("postgres://") :]
    return url


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process's settings, read once; tests call `settings.cache_clear()` after changing env."""
    return Settings.from_env(os.environ)
