"""Settings read from the environment, in one place (`settings()`); nothing is read at import."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Mapping


def repo_root() -> Path:
    """The repository root: the parent of the `relais` package directory."""
    return Path(os.path.abspath(__file__)).parents[2]


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

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        root = repo_root()

        def get(name: str, default: str) -> str:
            # An empty variable (DATABASE_URL= in a .env file) means "not set", not "empty".
            return env.get(name) or default

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
