"""The agent console against an attacker, over real HTTP to the app's own process
(`python -m bot.web`, as `make run` starts it) and through the `relais agent` command.

The app runs on a SQLite file of this module with the agents and conversations of
tests/console_scene.py; Rasa is not needed (its address is a closed port). Each test is an
attacker's request and the safe answer. The same attacks, and more, run in-process on both
databases in tests/integration/test_console_security.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from handoff.accounts import add_agent
from relais.storage.db import create_all, make_engine, session_scope
from tests.console_scene import BOT_ONLY, BRUNOS, PASSWORD, WAITING, Scene, build_scene
from tests.e2e.servers import ROOT, relais_app

RASA_DOWN = "http://127.0.0.1:9"
#: The agent the password guessing is aimed at (alice, bruno and sam stay usable).
TARGET = "target"


@dataclass(frozen=True)
class App:
    url: str
    database_url: str
    scene: Scene

    def page(self, username: str | None = None, password: str = PASSWORD) -> requests.Session:
        """A client as the console's page is (its origin, JSON), logged in as `username`."""
        session = requests.Session()
        session.headers.update({"Origin": self.url, "Content-Type": "application/json"})
        if username is not None:
            answer = self.login(session, username, password)
            assert answer.status_code == 200, answer.text
        return session

    def login(self, session: requests.Session, username: str, password: str) -> requests.Response:
        return session.post(
            f"{self.url}/api/login", json={"username": username, "password": password}, timeout=30
        )


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    workdir = tmp_path_factory.mktemp("console-security")
    database_url = f"sqlite:///{workdir / 'relais.db'}"
    engine = make_engine(database_url)
    create_all(engine)
    scene = build_scene(engine)
    with session_scope(engine) as s:
        add_agent(s, TARGET, PASSWORD)
    engine.dispose()
    env = {"RELAIS_DEMO": "", "RELAIS_PUBLIC_URL": "", "RELAIS_TRUSTED_PROXIES": ""}
    with relais_app(workdir, database_url, RASA_DOWN, extra_env=env) as url:
        yield App(url, database_url, scene)


def test_thirty_wrong_passwords_then_the_right_one_is_429_with_retry_after(app: App) -> None:
    attacker = app.page()
    statuses = [app.login(attacker, TARGET, f"guess-{i}").status_code for i in range(30)]
    assert statuses == [401] * 5 + [429] * 25
    right = app.login(attacker, TARGET, PASSWORD)
    assert right.status_code == 429, right.text
    assert 0 < int(right.headers["Retry-After"]) <= 15 * 60
    assert "relais_session" not in right.cookies


def test_an_unknown_username_is_answered_as_a_wrong_password(app: App) -> None:
    attacker = app.page()
    unknown = app.login(attacker, "no-such-agent", "a-wrong-password")
    known = app.login(attacker, "alice", "a-wrong-password")
    assert (unknown.status_code, unknown.json()) == (known.status_code, known.json())
    assert unknown.json() == {"error": "wrong username or password"}


def test_a_post_without_a_json_content_type_is_refused(app: App) -> None:
    # What an HTML form on another site can send.
    form = requests.post(
        f"{app.url}/api/login",
        data={"username": "alice", "password": PASSWORD},
        headers={"Origin": app.url},
        timeout=30,
    )
    assert form.status_code == 415 and "relais_session" not in form.cookies
    alice = app.page("alice")
    claim = alice.post(
        f"{app.url}/api/console/escalations/{app.scene.waiting}/claim",
        data="",
        headers={"Content-Type": "text/plain"},
        timeout=30,
    )
    assert claim.status_code == 415
    view = alice.get(f"{app.url}/api/console/conversations/{WAITING}", timeout=30).json()
    assert view["escalation"]["status"] == "waiting"


def test_a_cross_origin_post_is_refused(app: App) -> None:
    alice = app.page("alice")
    claim = f"{app.url}/api/console/escalations/{app.scene.waiting}/claim"
    for origin in ("https://evil.example", "null"):
        answer = alice.post(claim, headers={"Origin": origin}, timeout=30)
        assert answer.status_code == 403, answer.text
    login = requests.post(
        f"{app.url}/api/login",
        json={"username": "alice", "password": PASSWORD},
        headers={"Origin": "https://evil.example"},
        timeout=30,
    )
    assert login.status_code == 403 and "relais_session" not in login.cookies
    view = alice.get(f"{app.url}/api/console/conversations/{WAITING}", timeout=30).json()
    assert view["escalation"]["status"] == "waiting"  # nothing was taken


@pytest.mark.parametrize(
    "path", ["/chat", "/console", "/console/metrics", "/api/console/queue", "/api/chat/customers"]
)
def test_pages_and_apis_send_the_security_headers(app: App, path: str) -> None:
    answer = requests.get(f"{app.url}{path}", timeout=30)
    policy = answer.headers.get("Content-Security-Policy", "")
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert answer.headers.get("X-Content-Type-Options") == "nosniff"
    assert answer.headers.get("Referrer-Policy") == "same-origin"


def test_an_agent_cannot_open_a_conversation_another_agent_holds(app: App) -> None:
    alice = app.page("alice")
    missing = alice.get(f"{app.url}/api/console/conversations/web:nobody", timeout=30)
    for conversation in (BRUNOS, BOT_ONLY):
        answer = alice.get(f"{app.url}/api/console/conversations/{conversation}", timeout=30)
        # The answer for a conversation that does not exist: nothing to tell them apart.
        assert (answer.status_code, answer.json()) == (missing.status_code, missing.json())
        assert answer.status_code == 404
    assert "records" in alice.get(f"{app.url}/api/console/conversations/{WAITING}").json()
    mine = app.page("bruno").get(f"{app.url}/api/console/conversations/{BRUNOS}", timeout=30)
    assert mine.status_code == 200


def test_a_note_on_an_escalation_one_does_not_hold_is_refused(app: App) -> None:
    alice = app.page("alice")
    note = {"text": "alice was here"}
    held_by_bruno = alice.post(
        f"{app.url}/api/console/escalations/{app.scene.brunos}/note", json=note, timeout=30
    )
    assert held_by_bruno.status_code == 404
    nobody_holds = alice.post(
        f"{app.url}/api/console/escalations/{app.scene.waiting}/note", json=note, timeout=30
    )
    assert nobody_holds.status_code == 409
    notes = app.page("sam").get(f"{app.url}/api/console/conversations/{BRUNOS}").json()["notes"]
    assert notes == []


def test_a_supervisor_sees_every_conversation(app: App) -> None:
    sam = app.page("sam")
    for conversation in (WAITING, BRUNOS, BOT_ONLY):
        answer = sam.get(f"{app.url}/api/console/conversations/{conversation}", timeout=30)
        assert answer.status_code == 200, conversation


def relais(app: App, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """`relais agent …` on the app's database, as an operator types it."""
    return subprocess.run(
        [sys.executable, "-m", "relais.tools.cli", "agent", *args],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": app.database_url},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        # No controlling terminal: getpass reads the typed password from stdin.
        start_new_session=True,
    )


def test_relais_agent_add_passwd_and_disable(app: App) -> None:
    added = relais(app, "add", "dana", "--name", "Dana Weiss", "--capacity", "2", "--generate")
    assert added.returncode == 0, added.stderr
    password = re.search(r"password: (\S+)", added.stdout)
    assert password is not None
    dana = app.page("dana", password.group(1))
    assert dana.get(f"{app.url}/api/console/me", timeout=30).json()["name"] == "Dana Weiss"

    # An existing or unknown username, a weak or mistyped password: exit 2, said clearly.
    taken = relais(app, "add", "dana", "--generate")
    assert taken.returncode == 2 and "taken" in taken.stderr
    unknown = relais(app, "passwd", "nobody", "--generate")
    assert unknown.returncode == 2 and "no agent is called 'nobody'" in unknown.stderr
    weak = relais(app, "add", "erin", "--password-stdin", stdin="short\n")
    assert weak.returncode == 2 and "at least 12 characters" in weak.stderr
    differ = relais(app, "passwd", "dana", stdin="first-long-password\nsecond-long-password\n")
    assert differ.returncode == 2 and "differ" in differ.stderr
    bad_role = relais(app, "add", "erin", "--role", "admin", "--generate")
    assert bad_role.returncode == 2

    # A new password (typed twice at the prompt) ends the sessions of the old one.
    changed = relais(app, "passwd", "dana", stdin="a-fresh-passphrase-1\na-fresh-passphrase-1\n")
    assert changed.returncode == 0, changed.stderr
    assert "1 login(s) ended" in changed.stdout
    assert dana.get(f"{app.url}/api/console/me", timeout=30).status_code == 401
    dana = app.page("dana", "a-fresh-passphrase-1")

    disabled = relais(app, "disable", "dana")
    assert disabled.returncode == 0, disabled.stderr
    assert dana.get(f"{app.url}/api/console/me", timeout=30).status_code == 401
    assert app.login(app.page(), "dana", "a-fresh-passphrase-1").status_code == 401
    again = relais(app, "disable", "dana")
    assert again.returncode == 2 and "already disabled" in again.stderr


def test_relais_seed_creates_demo_agents_only_in_demo_mode(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'seeded.db'}"

    def seed(demo: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DATABASE_URL": database_url, "RELAIS_DEMO": demo}
        env.pop("RELAIS_DEMO_PASSWORD", None)
        return subprocess.run(
            [sys.executable, "-m", "relais.tools.cli", "seed"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    plain = seed("")
    assert plain.returncode == 0 and "no demo agents" in plain.stdout
    demo = seed("1")
    shown = re.search(r"Demo agents: alice / bruno / sam, password (\S+) \(generated", demo.stdout)
    assert demo.returncode == 0 and shown is not None, demo.stdout
    assert shown.group(1) != "relais-demo" and len(shown.group(1)) >= 16
    # Shown once: a second run cannot show it (only its hash is stored).
    again = seed("1")
    assert shown.group(1) not in again.stdout


@pytest.mark.parametrize(
    "action, body",
    [
        ("claim", "[1, 2, 3]"),  # a JSON array where an object is expected
        ("claim", '"claim"'),  # a JSON string
        ("transfer", '{"agent_id": "bruno"}'),  # not a number
        ("transfer", '{"agent_id": 1e400}'),  # a number Python reads as infinity
        ("reply", '{"text": ["hello"]}'),  # not a string
        ("reply", "{not json"),
    ],
)
def test_a_malformed_console_body_is_a_400_never_a_500(app: App, action: str, body: str) -> None:
    bruno = app.page("bruno")
    answer = bruno.post(
        f"{app.url}/api/console/escalations/{app.scene.brunos}/{action}", data=body, timeout=30
    )
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]


@pytest.mark.parametrize("sender", ["", "   ", "\u0000\u0007"])
def test_a_blank_or_control_only_web_chat_sender_cannot_break_the_chat(
    app: App, sender: str
) -> None:
    # The conversation comes from the signed cookie: whatever `sender` says, the message is
    # the caller's own, and nothing answers 500.
    visitor = requests.Session()
    answer = visitor.post(
        f"{app.url}/api/chat/messages",
        json={"sender": sender, "text": "hello", "client_id": "blank-sender"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    mine = visitor.get(f"{app.url}/api/chat/messages", timeout=30).json()
    assert [m["text"] for m in mine["messages"] if m["author"] == "customer"] == ["hello"]
