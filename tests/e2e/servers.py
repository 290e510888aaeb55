"""Starts a real action server, a real Rasa server and the Relais app for the end-to-end tier.

They start as `make run` starts them (scripts/run.sh): on loopback, Rasa's API behind
RASA_TOKEN, the action server behind ACTIONS_SECRET, with the secrets this process resolved
(`settings().shared_environment()`: the variables, or var/secrets.env as `make train` used).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests

from bench.stack import free_port  # noqa: F401  (tests import it from here)
from relais.core.config import settings
from tests.paths import MODEL, ROOT  # noqa: F401  (tests import them from here too)

BIN = Path(sys.executable).parent
#: The demo agents' password in the e2e database (conftest.py seeds them with it): not demo
#: mode's generated one, which a test could not know.
AGENT_PASSWORD = "e2e-agents-password"


@dataclass
class Servers:
    rasa_url: str
    actions_url: str
    #: What Rasa's HTTP API and the action server ask for; the attacks in tests/security lack them.
    rasa_token: str = field(default="", repr=False)
    actions_secret: str = field(default="", repr=False)

    def tracker(self, conversation_id: str) -> dict[str, Any]:
        """A conversation's tracker, from Rasa's HTTP API (with the token, as the app asks)."""
        response = requests.get(
            # ":" as is: Rasa takes the path as sent, "%3A" would name another conversation.
            f"{self.rasa_url}/conversations/{quote(conversation_id, safe=':')}/tracker",
            params={"token": self.rasa_token},
            timeout=30,
        )
        response.raise_for_status()
        return dict(response.json())

    def say(self, sender: str, text: str) -> list[dict]:
        response = requests.post(
            f"{self.rasa_url}/webhooks/rest/webhook",
            json={"sender": sender, "message": text},
            timeout=60,
        )
        response.raise_for_status()
        return list(response.json())


def _wait(url: str, process: subprocess.Popen, log: Path, limit: float = 240) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited early:\n{log.read_text()[-3000:]}")
        try:
            if requests.get(url, timeout=2).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not come up in {limit}s:\n{log.read_text()[-3000:]}")


@contextmanager
def running(workdir: Path, database_url: str) -> Iterator[Servers]:
    """Action server and Rasa server on free ports, with their own database and endpoints."""
    if not MODEL.exists():
        raise RuntimeError(f"{MODEL} is missing: run `make train` first")
    actions_port, rasa_port = free_port(), free_port()
    endpoints = workdir / "endpoints.yml"
    # As endpoints.yml: Rasa sends the action server the secret from its environment
    # (substituted in an unquoted value only).
    endpoints.write_text(
        f'action_endpoint:\n  url: "http://127.0.0.1:{actions_port}/webhook"\n'
        "  token: ${ACTIONS_SECRET}\n"
    )
    shared = settings().shared_environment()
    env = {
        **os.environ,
        **shared,
        "DATABASE_URL": database_url,
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    actions_log, rasa_log = workdir / "actions.log", workdir / "rasa.log"
    processes = []
    try:
        with actions_log.open("w") as alog, rasa_log.open("w") as rlog:
            actions = subprocess.Popen(
                [sys.executable, "-m", "actions.server", "--port", str(actions_port)],
                cwd=ROOT,
                env=env,
                stdout=alog,
                stderr=subprocess.STDOUT,
            )
            processes.append(actions)
            rasa = subprocess.Popen(
                [
                    str(BIN / "rasa"),
                    "run",
                    "--enable-api",
                    "--interface",
                    shared["RASA_INTERFACE"],
                    f"--auth-token={shared['RASA_TOKEN']}",
                    "--port",
                    str(rasa_port),
                    "--model",
                    str(MODEL),
                    "--endpoints",
                    str(endpoints),
                ],
                cwd=ROOT,
                env=env,
                stdout=rlog,
                stderr=subprocess.STDOUT,
            )
            processes.append(rasa)
            _wait(f"http://127.0.0.1:{actions_port}/health", actions, actions_log)
            token = quote(shared["RASA_TOKEN"], safe="")
            _wait(f"http://127.0.0.1:{rasa_port}/status?token={token}", rasa, rasa_log)
            yield Servers(
                f"http://127.0.0.1:{rasa_port}",
                f"http://127.0.0.1:{actions_port}",
                rasa_token=shared["RASA_TOKEN"],
                actions_secret=shared["ACTIONS_SECRET"],
            )
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def start_relais_app(
    workdir: Path,
    database_url: str,
    rasa_url: str,
    port: int,
    extra_env: dict[str, str] | None = None,
) -> subprocess.Popen:
    """The Relais app as its own process on `port`, answering /healthz (the caller stops it)."""
    env = {
        **os.environ,
        **settings().shared_environment(),  # RASA_TOKEN: the app's calls to Rasa's API
        "DATABASE_URL": database_url,
        "RASA_URL": rasa_url,
        **(extra_env or {}),
    }
    log = workdir / f"relais-app-{port}-{time.monotonic_ns()}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.web", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait(f"http://127.0.0.1:{port}/healthz", process, log, limit=60)
    except BaseException:
        process.kill()
        raise
    return process


@contextmanager
def relais_app(
    workdir: Path, database_url: str, rasa_url: str, extra_env: dict[str, str] | None = None
) -> Iterator[str]:
    """The Relais app (web chat, console) as its own process on a free port; yields its URL."""
    port = free_port()
    process = start_relais_app(workdir, database_url, rasa_url, port, extra_env)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def eventually(check: Callable[[], bool], limit: float = 40) -> None:
    """Waits until `check()` holds, or fails after `limit` seconds."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"condition not met in {limit:g}s")
