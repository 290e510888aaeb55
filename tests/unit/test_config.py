"""Every environment variable is read by relais/core/config.py; the channels, the human side's
settings and the demo seed take their values from `settings()`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.channels.config import describe, telegram_settings, x_settings
from handoff.settings import HandoffSettings, load_handoff_settings
from relais.core.config import Settings, repo_root, settings
from relais.core.errors import ConfigError

X_ENV = {
    "X_ACCOUNT_ID": "42",
    "X_CONSUMER_KEY": "key",
    "X_CONSUMER_SECRET": "secret",
    "X_ACCESS_TOKEN": "token",
    "X_ACCESS_TOKEN_SECRET": "token-secret",
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """No channel variable set, no credentials file: each test sets what it needs."""
    for name in (
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_MODE",
        "TELEGRAM_WEBHOOK_SECRET",
        "TELEGRAM_API_URL",
        "TELEGRAM_WEBHOOK_URL",
        *X_ENV,
        "X_MODE",
        "X_API_URL",
        "RELAIS_HANDOFF_FILE",
        "RELAIS_DEMO_PASSWORD",
        "RELAIS_DEMO",
        "RELAIS_PUBLIC_URL",
        "RELAIS_TRUSTED_PROXIES",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RELAIS_CREDENTIALS_FILE", str(tmp_path / "none.yml"))
    settings.cache_clear()
    load_handoff_settings.cache_clear()
    yield monkeypatch
    settings.cache_clear()
    load_handoff_settings.cache_clear()


def test_defaults_when_nothing_is_set() -> None:
    found = Settings.from_env({})
    root = repo_root()
    assert found.handoff_file == root / "handoff.yml"
    assert found.credentials_file == root / "credentials.yml"
    # No public default password: unset, `relais seed` generates one (and only in demo mode).
    assert found.demo_password is None and found.demo is False
    assert found.public_url is None and found.trusted_proxies == 0
    assert found.telegram.bot_token is None and found.x.account_id is None


def test_variables_are_read_and_an_empty_one_counts_as_unset() -> None:
    found = Settings.from_env(
        {
            "RELAIS_HANDOFF_FILE": "/etc/relais/handoff.yml",
            "RELAIS_CREDENTIALS_FILE": "/etc/relais/credentials.yml",
            "RELAIS_DEMO_PASSWORD": "",
            "TELEGRAM_BOT_TOKEN": "123:abc",
            "TELEGRAM_MODE": "webhook",
            "X_MODE": "polling",
            **X_ENV,
        }
    )
    assert found.handoff_file == Path("/etc/relais/handoff.yml")
    assert found.credentials_file == Path("/etc/relais/credentials.yml")
    assert found.demo_password is None
    assert (found.telegram.bot_token, found.telegram.mode) == ("123:abc", "webhook")
    assert (found.x.account_id, found.x.consumer_secret) == ("42", "secret")
    assert found.x.mode == "polling"


def test_secrets_stay_out_of_the_repr() -> None:
    shown = repr(
        Settings.from_env(
            {"TELEGRAM_BOT_TOKEN": "123:abc", "RELAIS_DEMO_PASSWORD": "hunter2-long", **X_ENV}
        )
    )
    assert "123:abc" not in shown and "hunter2-long" not in shown and "token-secret" not in shown
    assert "account_id='42'" in shown


def test_channels_take_their_variables_from_settings(clean_env: pytest.MonkeyPatch) -> None:
    assert telegram_settings() is None and x_settings() is None
    clean_env.setenv("TELEGRAM_BOT_TOKEN", "123:abc")
    for name, value in X_ENV.items():
        clean_env.setenv(name, value)
    settings.cache_clear()
    telegram, x = telegram_settings(), x_settings()
    assert telegram is not None and (telegram.token, telegram.mode) == ("123:abc", "polling")
    assert x is not None and (x.account_id, x.mode) == ("42", "webhook")
    assert (
        "Telegram: on (polling)" in describe()
        and "X: on (webhook; pay-per-use: sends 15 per 15 min" in describe()
    )


def test_an_env_mapping_still_overrides_the_process_settings(clean_env: pytest.MonkeyPatch) -> None:
    telegram = telegram_settings(
        {
            "TELEGRAM_BOT_TOKEN": "9:z",
            "TELEGRAM_MODE": "webhook",
            "TELEGRAM_WEBHOOK_SECRET": "s3cret",
        }
    )
    assert telegram is not None
    assert (telegram.mode, telegram.webhook_secret) == ("webhook", "s3cret")
    x = x_settings({**X_ENV, "X_MODE": "polling", "X_API_URL": "http://127.0.0.1:1"})
    assert x is not None and (x.mode, x.api_url) == ("polling", "http://127.0.0.1:1")


def test_the_credentials_file_fills_what_the_variables_leave_out(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    credentials = tmp_path / "credentials.yml"
    credentials.write_text(
        "relais:\n  telegram:\n    token: '5:file'\n    mode: webhook\n"
        "    webhook_secret: from-file\n",
        encoding="utf-8",
    )
    clean_env.setenv("RELAIS_CREDENTIALS_FILE", str(credentials))
    settings.cache_clear()
    telegram = telegram_settings({"TELEGRAM_BOT_TOKEN": "6:env"})
    assert telegram is not None
    assert (telegram.token, telegram.mode) == ("6:env", "webhook")
    assert telegram.webhook_secret == "from-file"


def test_misconfigured_channels_raise_config_errors(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET"):
        telegram_settings({"TELEGRAM_BOT_TOKEN": "1:a", "TELEGRAM_MODE": "webhook"})
    with pytest.raises(ConfigError, match="X_ACCESS_TOKEN_SECRET"):
        x_settings({name: v for name, v in X_ENV.items() if name != "X_ACCESS_TOKEN_SECRET"})
    clean_env.setenv("TELEGRAM_BOT_TOKEN", "1:a")
    clean_env.setenv("TELEGRAM_MODE", "carrier-pigeon")
    settings.cache_clear()
    assert "Telegram: misconfigured: TELEGRAM_MODE must be webhook or polling" in describe()


def test_the_handoff_file_comes_from_settings(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    handoff = tmp_path / "handoff.yml"
    handoff.write_text("online_minutes: 7\n", encoding="utf-8")
    clean_env.setenv("RELAIS_HANDOFF_FILE", str(handoff))
    settings.cache_clear()
    assert load_handoff_settings().online_minutes == 7
    handoff.write_text("online_minutes: -1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="online_minutes must be a positive number"):
        HandoffSettings.from_file(handoff)


def test_the_demo_password_comes_from_settings(clean_env: pytest.MonkeyPatch) -> None:
    assert settings().demo_password is None
    clean_env.setenv("RELAIS_DEMO_PASSWORD", "another-demo-password")
    settings.cache_clear()
    assert settings().demo_password == "another-demo-password"


def test_demo_mode_public_url_and_proxies_are_read_and_checked() -> None:
    found = Settings.from_env(
        {
            "RELAIS_DEMO": "1",
            "RELAIS_PUBLIC_URL": "HTTPS://Support.Example.com/console",
            "RELAIS_TRUSTED_PROXIES": "1",
        }
    )
    assert found.demo is True and found.trusted_proxies == 1
    # Kept as an origin: what browsers send in the Origin header.
    assert found.public_url == "https://support.example.com"
    assert Settings.from_env({"RELAIS_DEMO": "no"}).demo is False
    for bad in (
        {"RELAIS_DEMO": "maybe"},
        {"RELAIS_PUBLIC_URL": "support.example.com"},
        {"RELAIS_TRUSTED_PROXIES": "-1"},
    ):
        with pytest.raises(ConfigError):
            Settings.from_env(bad)


def test_unset_shared_secrets_are_generated_once_into_a_private_file(tmp_path: Path) -> None:
    env = {"RELAIS_SECRETS_FILE": str(tmp_path / "var" / "secrets.env")}
    first = Settings.from_env(env)
    assert not first.secrets_file.exists()  # nothing is generated until a process needs it
    token, secret, key = first.rasa_token, first.actions_secret, first.model_key
    assert len({token, secret, key}) == 3 and all(len(s) >= 32 for s in (token, secret, key))
    assert first.secrets_file.stat().st_mode & 0o777 == 0o600
    # Another process on the machine reads the same ones; a variable overrides its line.
    again = Settings.from_env({**env, "RASA_TOKEN": "set-by-the-operator"})
    assert (again.actions_secret, again.model_key) == (secret, key)
    assert again.rasa_token == "set-by-the-operator"
    assert f"export ACTIONS_SECRET={secret}" in again.shell_exports()
    assert secret not in repr(again) and key not in repr(again)


def test_a_secrets_file_others_can_read_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared.env"
    shared.write_text("RASA_TOKEN=a\nACTIONS_SECRET=b\nRELAIS_MODEL_KEY=c\n", encoding="utf-8")
    shared.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        Settings.from_env({"RELAIS_SECRETS_FILE": str(shared)}).model_key  # noqa: B018


def test_a_secret_added_later_is_generated_into_the_existing_file(tmp_path: Path) -> None:
    # A secrets file written before RELAIS_WEB_SECRET existed: the others stay as they are
    # (the model signed with RELAIS_MODEL_KEY still loads), the new one is added once.
    existing = tmp_path / "secrets.env"
    existing.write_text("RASA_TOKEN=a\nACTIONS_SECRET=b\nRELAIS_MODEL_KEY=c\n", encoding="utf-8")
    existing.chmod(0o600)
    env = {"RELAIS_SECRETS_FILE": str(existing)}
    found = Settings.from_env(env)
    assert (found.rasa_token, found.actions_secret, found.model_key) == ("a", "b", "c")
    web_secret = found.web_secret
    assert len(web_secret) >= 32 and existing.stat().st_mode & 0o777 == 0o600
    assert existing.read_text(encoding="utf-8").count("RELAIS_WEB_SECRET=") == 1
    assert Settings.from_env({**env, "RELAIS_WEB_SECRET": "given"}).web_secret == "given"


def test_web_chat_identity_and_reference_check_settings() -> None:
    found = Settings.from_env({})
    assert found.site_secret is None  # no assertions accepted until the brand shares one
    assert (found.reference_check_limit, found.reference_check_window_minutes) == (5, 60)
    found = Settings.from_env(
        {
            "RELAIS_SITE_SECRET": "shared-with-the-brand",
            "RELAIS_REFERENCE_CHECK_LIMIT": "3",
            "RELAIS_REFERENCE_CHECK_WINDOW_MINUTES": "15",
        }
    )
    assert found.site_secret == "shared-with-the-brand"
    assert "shared-with-the-brand" not in repr(found)
    assert (found.reference_check_limit, found.reference_check_window_minutes) == (3, 15)
    with pytest.raises(ConfigError):
        Settings.from_env({"RELAIS_REFERENCE_CHECK_LIMIT": "five"})


def test_rasa_and_the_action_server_listen_on_loopback_unless_told() -> None:
    assert (Settings.from_env({}).rasa_interface, Settings.from_env({}).actions_interface) == (
        "127.0.0.1",
        "127.0.0.1",
    )
    found = Settings.from_env({"RASA_INTERFACE": "10.0.0.5", "ACTIONS_INTERFACE": "10.0.0.6"})
    assert (found.rasa_interface, found.actions_interface) == ("10.0.0.5", "10.0.0.6")


def test_each_process_is_started_with_one_thread_for_the_numerical_libraries() -> None:
    one = Settings.from_env({}).shared_environment()
    assert {one[n] for n in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")} == {"1"}
    assert "export OMP_NUM_THREADS=1" in Settings.from_env({}).shell_exports()
    assert (
        Settings.from_env({"RELAIS_MATH_THREADS": "2"}).shared_environment()["OPENBLAS_NUM_THREADS"]
        == "2"
    )
    # 0: the libraries choose (nothing is set); a word is refused with the variable's name.
    assert (
        "OMP_NUM_THREADS"
        not in Settings.from_env({"RELAIS_MATH_THREADS": "0"}).shared_environment()
    )
    with pytest.raises(ConfigError, match="RELAIS_MATH_THREADS"):
        Settings.from_env({"RELAIS_MATH_THREADS": "all"})
