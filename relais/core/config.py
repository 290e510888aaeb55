"""Settings read from the environment, in one place (`settings()`); nothing is read at import.

Every environment variable Relais reads is read here (the benchmarks' command-line defaults
aside). Channel secrets are kept as given: bot/channels/config.py merges them with
credentials.yml and checks them, since a channel that is off needs no valid values.
"""

from __future__ import annotations

import os
import secrets
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path

from relais.core.errors import ConfigError

#: Where Rasa and the action server listen unless RASA_INTERFACE / ACTIONS_INTERFACE say
#: otherwise: only this machine may reach them (the app is their one client from outside).
LOOPBACK = "127.0.0.1"
#: The secrets every process of one installation shares, by the variable that sets each. One
#: left unset is read from the secrets file, generated there once (`_stored_secrets`).
SECRET_VARIABLES = {
    "rasa_token": "RASA_TOKEN",
    "actions_secret": "ACTIONS_SECRET",
    "model_key": "RELAIS_MODEL_KEY",
    "web_secret": "RELAIS_WEB_SECRET",
}
#: The variables NumPy's BLAS (OpenBLAS, MKL) and OpenMP read their thread count from.
MATH_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


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
    #: X_ACCESS_LEVEL, X_READ_LIMIT, X_SEND_LIMIT: the rate limits Relais keeps to.
    access_level: str | None = None
    read_limit: str | None = None
    send_limit: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> XVariables:
        return cls(**{f.name: _variable(env, f"X_{f.name.upper()}") for f in fields(cls)})


@dataclass(frozen=True)
class SecretVariables:
    """RASA_TOKEN, ACTIONS_SECRET, RELAIS_MODEL_KEY as set (None when unset); `Settings` takes
    the missing ones from its secrets file."""

    rasa_token: str | None = _secret()
    actions_secret: str | None = _secret()
    model_key: str | None = _secret()
    web_secret: str | None = _secret()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SecretVariables:
        return cls(**{f.name: _variable(env, SECRET_VARIABLES[f.name]) for f in fields(cls)})


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
    #: The demo agents' password (RELAIS_DEMO_PASSWORD); None: `relais seed` generates one and
    #: shows it once.
    demo_password: str | None = field(repr=False)
    telegram: TelegramVariables
    x: XVariables
    #: Demo mode (RELAIS_DEMO=1, which `make run` sets): only then does `relais seed` create
    #: the demo agents (alice, bruno, sam).
    demo: bool
    #: The origin agents and customers reach the app at (RELAIS_PUBLIC_URL, e.g.
    #: https://support.example.com) when it is behind a proxy: the only Origin the console
    #: accepts, and with https the session cookie is Secure. None: the app is reached
    #: directly, at the Host it is asked for.
    public_url: str | None
    #: How many proxies in front of the app append to X-Forwarded-For (0: none, and the
    #: peer's address is the client's): the login limits per address count the client.
    trusted_proxies: int
    #: The network interface Rasa listens on (`rasa run --interface`), and the action server's.
    rasa_interface: str
    actions_interface: str
    #: Threads NumPy's BLAS and OpenMP may use in each process (RELAIS_MATH_THREADS, default
    #: 1). The sentence encoder multiplies small matrices once per message: a pool of threads
    #: per process costs more in hand-offs than it gains, and the processes already share the
    #: cores between them (docs/benchmarks.md: Rasa's CPU per message halves with one). 0
    #: leaves the libraries their own choice (a thread per core).
    math_threads: int
    #: Where the shared secrets the environment leaves unset are generated and kept (0600).
    secrets_file: Path
    given_secrets: SecretVariables = field(repr=False)
    #: The key a brand's own website signs "this visitor is customer X" with
    #: (RELAIS_SITE_SECRET, shared with the brand's servers; README, "Web chat identity").
    #: None: the web chat accepts no such assertion, and every visitor stays anonymous.
    site_secret: str | None = field(repr=False)
    #: Failed "booking reference + surname" checks an unidentified customer may make per
    #: conversation, and per client address, in the window (RELAIS_REFERENCE_CHECK_LIMIT,
    #: RELAIS_REFERENCE_CHECK_WINDOW_MINUTES); past either, no more checks until it passes.
    reference_check_limit: int
    reference_check_window_minutes: int
    #: The bearer token Prometheus sends for GET /metrics (RELAIS_METRICS_TOKEN; README,
    #: "Metrics (Prometheus)"). None: only supervisors logged into the console may read it.
    metrics_token: str | None = field(repr=False)

    @property
    def web_secret(self) -> str:
        """The HMAC key the app signs its web chat visitor cookies with (every worker of one
        installation needs the same one, or a visitor's cookie fails on the next worker)."""
        return self.given_secrets.web_secret or self._stored("web_secret")

    @property
    def rasa_token(self) -> str:
        """The token Rasa's HTTP API asks for (`rasa run --auth-token`); the app sends it."""
        return self.given_secrets.rasa_token or self._stored("rasa_token")

    @property
    def actions_secret(self) -> str:
        """The secret Rasa sends the action server (endpoints.yml: `token: ${ACTIONS_SECRET}`)."""
        return self.given_secrets.actions_secret or self._stored("actions_secret")

    @property
    def model_key(self) -> str:
        """The HMAC key Relais signs its NLU model files with; it loads no file unsigned by it."""
        return self.given_secrets.model_key or self._stored("model_key")

    def _stored(self, name: str) -> str:
        # Read (or generated) only when a process needs a secret nobody set: `relais seed` or
        # a unit test never creates the file.
        return _stored_secrets(self.secrets_file)[SECRET_VARIABLES[name]]

    def shared_environment(self) -> dict[str, str]:
        """The variables Rasa, the action server and the app must agree on, as resolved here,
        and the thread limit each is started with; whatever starts them (scripts/run.sh,
        bench/stack.py, the e2e servers) hands these to each, so a secret generated by the
        starter is the one all of them use."""
        return {
            "RASA_TOKEN": self.rasa_token,
            "ACTIONS_SECRET": self.actions_secret,
            "RELAIS_MODEL_KEY": self.model_key,
            "RASA_INTERFACE": self.rasa_interface,
            "ACTIONS_INTERFACE": self.actions_interface,
            **self.math_environment(),
        }

    def math_environment(self) -> dict[str, str]:
        """What caps the numerical libraries' threads (`math_threads`); read when NumPy loads,
        so it is handed to each process at start."""
        if not self.math_threads:
            return {}
        return {name: str(self.math_threads) for name in MATH_THREAD_VARIABLES}

    def shell_exports(self) -> str:
        """`shared_environment()` as `export NAME=value` lines, for scripts/run.sh to eval."""
        return "\n".join(
            f"export {name}={shlex.quote(value)}"
            for name, value in self.shared_environment().items()
        )

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
            demo_password=_variable(env, "RELAIS_DEMO_PASSWORD"),
            telegram=TelegramVariables.from_env(env),
            x=XVariables.from_env(env),
            demo=_flag(env, "RELAIS_DEMO"),
            public_url=_origin(_variable(env, "RELAIS_PUBLIC_URL")),
            trusted_proxies=_count(env, "RELAIS_TRUSTED_PROXIES"),
            rasa_interface=get("RASA_INTERFACE", LOOPBACK),
            actions_interface=get("ACTIONS_INTERFACE", LOOPBACK),
            math_threads=_count(env, "RELAIS_MATH_THREADS", 1),
            secrets_file=Path(get("RELAIS_SECRETS_FILE", str(root / "var" / "secrets.env"))),
            given_secrets=SecretVariables.from_env(env),
            site_secret=_variable(env, "RELAIS_SITE_SECRET"),
            reference_check_limit=_count(env, "RELAIS_REFERENCE_CHECK_LIMIT", 5),
            reference_check_window_minutes=_count(env, "RELAIS_REFERENCE_CHECK_WINDOW_MINUTES", 60),
            metrics_token=_variable(env, "RELAIS_METRICS_TOKEN"),
        )


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = (_variable(env, name) or "0").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    # A typo must not silently leave demo mode (and its demo agents) on or off.
    raise ConfigError(f"{name} must be 1 or 0 (or true/false, yes/no, on/off), got {value!r}")


def _count(env: Mapping[str, str], name: str, default: int = 0) -> int:
    value = (_variable(env, name) or str(default)).strip()
    if not (value.isascii() and value.isdigit()):
        raise ConfigError(f"{name} must be a whole number (0 or more), got {value!r}")
    return int(value)


def _origin(url: str | None) -> str | None:
    """The URL's origin, "https://host[:port]" in lower case: what browsers send as Origin."""
    if url is None:
        return None
    scheme, _, rest = url.strip().partition("://")
    host = rest.split("/", 1)[0]
    if scheme.lower() not in ("http", "https") or not host:
        raise ConfigError(f"RELAIS_PUBLIC_URL must look like https://host[:port], got {url!r}")
    return f"{scheme.lower()}://{host.lower()}"


def _normalize_database_url(url: str) -> str:
    # Hosting platforms hand out postgres://, which SQLAlchemy 1.4 no longer accepts.
    if url.startswith("postgres://"):
        return "postgresql://" + url[len("postgres://") :]
    return url


@lru_cache(maxsize=4)
def _stored_secrets(path: Path) -> dict[str, str]:
    """The secrets file's values by variable name; the file is created first if missing.

    One machine (`make run`) needs no setup: the first process that needs a secret generates
    all of them, and every later process (Rasa, the action server, the app, `make train`)
    reads the same ones. Several machines set the variables instead (README, "Configuration").
    """
    if not path.exists():
        _create_secrets_file(path)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        # Like ssh with a private key: a secret others can read is no secret.
        raise ConfigError(f"{path} is readable by other users (mode {mode:o}): chmod 600 {path}")
    values = _read_secrets(path)
    missing = [name for name in SECRET_VARIABLES.values() if not values.get(name)]
    if missing and "RELAIS_MODEL_KEY" not in missing:
        # A secret a later version added (RELAIS_WEB_SECRET, say): generated into the file
        # as it is, so that the others (and the model signed with its key) stay valid.
        _append_secrets(path, missing)
        values = _read_secrets(path)
        missing = [name for name in SECRET_VARIABLES.values() if not values.get(name)]
    if missing:
        raise ConfigError(
            f"{path} lacks {', '.join(missing)}: set the variables, or delete the file to have "
            "new secrets generated (then retrain: make train)"
        )
    return values


def _read_secrets(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        name, equals, value = line.partition("=")
        if equals and not line.lstrip().startswith("#"):
            # The first line of a name wins: two processes appending the same new secret at
            # once then both read the one that got there first.
            values.setdefault(name.strip(), value.strip())
    return values


def _append_secrets(path: Path, names: list[str]) -> None:
    lines = "".join(f"{name}={secrets.token_hex(32)}\n" for name in names)
    # O_APPEND: one write per process, never interleaved with another's.
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND)
    with os.fdopen(descriptor, "a", encoding="utf-8") as out:
        out.write(lines)


def _create_secrets_file(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        '# Relais\'s shared secrets, generated once (README, "Configuration"); a variable of',
        "# the same name overrides its line. Changing RELAIS_MODEL_KEY needs `make train`.",
        # Hex: safe unquoted in a shell, a URL query and a command-line argument.
        *(f"{name}={secrets.token_hex(32)}" for name in SECRET_VARIABLES.values()),
    ]
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # 0600 from the start (O_EXCL: never an existing file), not chmod after writing.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
        # Processes started together may race here: link() fails if another got there first,
        # and then everyone reads that one's secrets.
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()


@lru_cache(maxsize=1)
def settings() -> Settings:
    """The process's settings, read once; tests call `settings.cache_clear()` after changing env."""
    return Settings.from_env(os.environ)
