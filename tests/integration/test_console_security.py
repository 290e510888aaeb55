"""The console against an attacker, in-process (aiohttp's TestServer) on SQLite and PostgreSQL:
each test sends what an attacker would and checks the safe answer.

Password guessing meets 429 (per username, per address, shared by workers); unknown
usernames cost the same scrypt as known ones; a page on another site cannot make an agent's
browser change anything (Origin, JSON); every answer carries the security headers; an agent
sees only the queue and what they hold or held, anything else is 404 like what does not exist.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy.engine import Engine

import handoff.auth
from bot.web import STATIC, make_app
from handoff.accounts import disable_agent, set_password
from handoff.auth import (
    LoginLimits,
    forget_attempt,
    hash_password,
    start_attempt,
    wait_before_login,
)
from relais.core.config import settings
from relais.storage.db import session_scope
from relais.storage.escalations import Agent
from tests.console_scene import BOT_ONLY, BRUNOS, PASSWORD, WAITING, Scene, build_scene

RASA_DOWN = "http://127.0.0.1:9"
ACT = "/api/console/escalations/{}/{}"
NO_SUCH_ESCALATION = {"error": "No such conversation in the queue."}

Check = Callable[..., Awaitable[None]]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The environment for this test's app (settings are read again before and after)."""
    for name in ("RELAIS_DEMO", "RELAIS_PUBLIC_URL", "RELAIS_TRUSTED_PROXIES"):
        monkeypatch.delenv(name, raising=False)
    settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    settings.cache_clear()


@pytest.fixture
def scene(engine: Engine, env: pytest.MonkeyPatch) -> Scene:
    return build_scene(engine)


def run(db_url: str, check: Check, workers: int = 1) -> None:
    """Runs `check(server, …)` against `workers` apps sharing the database."""

    async def go() -> None:
        servers = [
            TestServer(make_app(db_url, RASA_DOWN, background=False)) for _ in range(workers)
        ]
        for server in servers:
            await server.start_server()
        try:
            await check(*servers)
        finally:
            for server in servers:
                await server.close()

    asyncio.run(go())


def origin(server: TestServer) -> str:
    return str(server.make_url(""))


def page(server: TestServer, **headers: str) -> aiohttp.ClientSession:
    """A client that behaves as the console's page: its own origin, JSON, its own cookies."""
    return aiohttp.ClientSession(
        base_url=origin(server),
        headers={"Origin": origin(server), "Content-Type": "application/json", **headers},
        # unsafe: cookies for an IP address (127.0.0.1), as browsers keep them.
        cookie_jar=aiohttp.CookieJar(unsafe=True),
    )


async def login(client: aiohttp.ClientSession, username: str, password: str = PASSWORD) -> int:
    async with client.post("/api/login", json={"username": username, "password": password}) as r:
        return r.status


# --- password guessing ----------------------------------------------------------------------


def test_thirty_wrong_passwords_then_the_right_one_is_429_not_200(
    db_url: str, scene: Scene
) -> None:
    async def check(worker: TestServer, other_worker: TestServer) -> None:
        async with page(worker) as attacker:
            statuses = [await login(attacker, "alice", f"guess-{i}") for i in range(30)]
            assert statuses == [401] * 5 + [429] * 25
            async with attacker.post(
                "/api/login", json={"username": "alice", "password": PASSWORD}
            ) as refused:
                assert refused.status == 429
                assert 0 < int(refused.headers["Retry-After"]) <= 15 * 60
                assert "too many failed logins" in (await refused.json())["error"]
                assert "Set-Cookie" not in refused.headers
            # The count is in the database: another worker refuses too.
            async with page(other_worker) as elsewhere:
                assert await login(elsewhere, "alice") == 429
                # Per username: bruno, from the same address, is not locked out.
                assert await login(elsewhere, "bruno") == 200

    run(db_url, check, workers=2)


def test_failures_from_one_address_are_limited_across_usernames(db_url: str, scene: Scene) -> None:
    async def check(server: TestServer) -> None:
        async with page(server) as attacker:
            # One guess each at 20 usernames: never 5 for one, but 20 from one address.
            for i in range(20):
                assert await login(attacker, f"user{i}", "password-guess") == 401
            async with attacker.post(
                "/api/login", json={"username": "alice", "password": PASSWORD}
            ) as refused:
                assert refused.status == 429 and "Retry-After" in refused.headers

    run(db_url, check)


def test_the_window_opens_again_as_the_oldest_failure_ages(engine: Engine) -> None:
    limits = LoginLimits(per_username=5, per_address=20, window=timedelta(minutes=15))
    start = datetime(2026, 11, 25, 9, 0)
    with session_scope(engine) as s:
        for minute in range(5):
            start_attempt(s, "Alice", "10.0.0.1", start + timedelta(minutes=minute), limits)
    at = start + timedelta(minutes=5)
    with session_scope(engine) as s:
        attempt = start_attempt(s, " alice", "10.0.0.2", at, limits)
    with session_scope(engine) as s:
        # Until the first failure (9:00) is 15 minutes old: 10 minutes from 9:05.
        assert wait_before_login(s, attempt, at, limits) == 600
        forget_attempt(s, attempt)  # refused, as the login route does: not a failure
    later = start + timedelta(minutes=15, seconds=1)
    with session_scope(engine) as s:
        attempt = start_attempt(s, "alice", "10.0.0.2", later, limits)
    with session_scope(engine) as s:
        assert wait_before_login(s, attempt, later, limits) == 0


def test_an_unknown_username_costs_the_same_scrypt_and_gets_the_same_answer(
    db_url: str, engine: Engine, scene: Scene, env: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    real = handoff.auth.check_password

    def counting(password: str, stored: str) -> bool:
        checked.append(stored)
        return real(password, stored)

    env.setattr(handoff.auth, "check_password", counting)
    with session_scope(engine) as s:
        disable_agent(s, "bruno")

    async def check(server: TestServer) -> None:
        async with page(server) as attacker:
            answers = []
            for username in ("alice", "nobody-here", "bruno"):  # known, unknown, disabled
                async with attacker.post(
                    "/api/login", json={"username": username, "password": "a-wrong-password"}
                ) as r:
                    answers.append((r.status, await r.json()))
            assert answers == [(401, {"error": "wrong username or password"})] * 3
        # One scrypt check each, each against a real scrypt hash.
        assert len(checked) == 3 and all(h.startswith("scrypt$") for h in checked)

    run(db_url, check)


def test_the_old_public_demo_password_is_refused_outside_demo_mode(
    db_url: str, engine: Engine, env: pytest.MonkeyPatch
) -> None:
    # An agent seeded by an older version, with the password the README once printed.
    with session_scope(engine) as s:
        s.add(
            Agent(
                username="alice", display_name="Alice", password_hash=hash_password("relais-demo")
            )
        )

    async def check(server: TestServer) -> None:
        async with page(server) as client:
            assert await login(client, "alice", "relais-demo") == 401

    run(db_url, check)
    env.setenv("RELAIS_DEMO", "1")
    settings.cache_clear()

    async def demo(server: TestServer) -> None:
        async with page(server) as client:
            assert await login(client, "alice", "relais-demo") == 200

    run(db_url, demo)


# --- cross-site requests --------------------------------------------------------------------


def test_a_post_without_a_json_content_type_is_refused(db_url: str, scene: Scene) -> None:
    async def check(server: TestServer) -> None:
        async with page(server) as client:
            own = {"Origin": origin(server)}
            # What an HTML form on another site can send: url-encoded, multipart, text/plain.
            for content_type in ("application/x-www-form-urlencoded", "text/plain"):
                async with client.post(
                    "/api/login",
                    data=f'{{"username": "alice", "password": "{PASSWORD}"}}',
                    headers={**own, "Content-Type": content_type},
                ) as r:
                    assert r.status == 415, await r.text()
                    assert "Set-Cookie" not in r.headers
            assert await login(client, "alice") == 200
            async with client.post(
                ACT.format(scene.waiting, "claim"), data=b"", headers={**own, "Content-Type": ""}
            ) as r:
                assert r.status == 415
            async with client.get(f"/api/console/conversations/{WAITING}") as r:
                assert (await r.json())["escalation"]["status"] == "waiting"  # not taken

    run(db_url, check)


def test_a_cross_origin_post_is_refused(db_url: str, scene: Scene) -> None:
    async def check(server: TestServer) -> None:
        async with page(server) as client:
            assert await login(client, "alice") == 200
            claim = ACT.format(scene.waiting, "claim")
            # The same logged-in browser (its cookie), with no Origin of its own.
            async with aiohttp.ClientSession(
                base_url=origin(server),
                cookie_jar=client.cookie_jar,
                headers={"Content-Type": "application/json"},
            ) as browser:
                for headers in (
                    {"Origin": "https://evil.example"},
                    {"Origin": "null"},  # a sandboxed frame, a data: URL
                    {"Origin": origin(server).replace("127.0.0.1", "localhost")},
                    {"Sec-Fetch-Site": "cross-site"},  # no Origin, and not from our pages
                    {"Sec-Fetch-Site": "same-site"},  # a sibling subdomain is another site
                    {},  # nothing says where it comes from
                ):
                    async with browser.post(claim, headers=headers) as r:
                        assert r.status == 403, headers
                async with browser.get(f"/api/console/conversations/{WAITING}") as r:
                    assert (await r.json())["escalation"]["status"] == "waiting"  # untouched
                # Without Origin, Sec-Fetch-Site: same-origin (what browsers send) is enough.
                async with browser.post(claim, headers={"Sec-Fetch-Site": "same-origin"}) as r:
                    assert r.status == 200
            async with page(server, Origin="https://evil.example") as other_site:
                assert await login(other_site, "alice") == 403
                async with other_site.post("/api/logout") as r:
                    assert r.status == 403

    run(db_url, check)


def test_every_page_and_api_answer_carries_the_security_headers(db_url: str, scene: Scene) -> None:
    async def check(server: TestServer) -> None:
        async with page(server) as client:
            for path in (
                "/chat",
                "/console",
                "/console/metrics",
                "/static/console.js",
                "/api/chat/customers",
                "/api/console/queue",  # 401
                "/no-such-page",  # 404 from the router
            ):
                async with client.get(path) as r:
                    csp = r.headers.get("Content-Security-Policy", "")
                    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, path
                    assert "unsafe-inline" not in csp
                    assert r.headers.get("X-Content-Type-Options") == "nosniff", path
                    assert r.headers.get("Referrer-Policy") == "same-origin", path
            async with client.post("/api/login", json={"username": "x", "password": "y"}) as r:
                assert r.status == 401 and r.headers["Cache-Control"] == "no-store"
                assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]

    run(db_url, check)


def test_the_pages_have_nothing_inline_that_the_policy_would_block() -> None:
    for html in STATIC.glob("*.html"):
        text = html.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), html.name
        assert not re.search(r"\sstyle=|<style|\son[a-z]+=", text), html.name


def test_the_session_cookie_is_httponly_strict_and_secure_behind_https(
    db_url: str, scene: Scene, env: pytest.MonkeyPatch
) -> None:
    async def plain(server: TestServer) -> None:
        async with page(server) as client:
            async with client.post(
                "/api/login", json={"username": "alice", "password": PASSWORD}
            ) as r:
                cookie = r.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie

    run(db_url, plain)
    env.setenv("RELAIS_PUBLIC_URL", "https://support.example.com")
    settings.cache_clear()

    async def behind_a_proxy(server: TestServer) -> None:
        # The public origin is the one accepted; the address the proxy reaches is not.
        async with page(server) as direct:
            assert await login(direct, "alice") == 403
        async with page(server, Origin="https://support.example.com") as client:
            async with client.post(
                "/api/login", json={"username": "alice", "password": PASSWORD}
            ) as r:
                assert r.status == 200
                cookie = r.headers["Set-Cookie"]
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie

    run(db_url, behind_a_proxy)


# --- who sees what --------------------------------------------------------------------------


def test_an_agent_cannot_open_or_act_on_a_conversation_another_holds(
    db_url: str, scene: Scene
) -> None:
    async def check(server: TestServer) -> None:
        async with page(server) as alice, page(server) as bruno:
            assert await login(alice, "alice") == 200 and await login(bruno, "bruno") == 200
            async with alice.get("/api/console/conversations/web:nobody") as missing:
                nothing = (missing.status, await missing.json())
            for conversation in (BRUNOS, BOT_ONLY):
                async with alice.get(f"/api/console/conversations/{conversation}") as r:
                    # Exactly what a conversation that does not exist gets.
                    assert (
                        (r.status, await r.json())
                        == nothing
                        == (404, {"error": "no such conversation"})
                    )
            for action, body in (
                ("claim", {}),
                ("release", {}),
                ("transfer", {"agent_id": 1}),
                ("reply", {"text": "hello from alice"}),
                ("note", {"text": "alice was here"}),
                ("resolve", {}),
                ("hand-back", {}),
            ):
                async with alice.post(ACT.format(scene.brunos, action), json=body) as r:
                    assert (r.status, await r.json()) == (404, NO_SUCH_ESCALATION), action
                async with alice.post(ACT.format(999_999, action), json=body) as r:
                    assert (r.status, await r.json()) == (404, NO_SUCH_ESCALATION), action
            async with alice.get("/api/console/queue") as r:
                queue = await r.json()
            listed = [e["conversation_id"] for e in queue["waiting"] + queue["mine"]]
            assert listed == [WAITING]
            async with alice.get(f"/api/console/conversations/{WAITING}") as r:
                assert r.status == 200  # waiting in the queue: any agent may look
            async with bruno.get(f"/api/console/conversations/{BRUNOS}") as r:
                view = await r.json()
                assert r.status == 200 and not any("alice" in n["text"] for n in view["notes"])
                assert all(m["author"] != "agent" for m in view["transcript"])  # no reply sent

            # Held once stays visible: alice takes the waiting one, puts it back, bruno takes it.
            for client, action in ((alice, "claim"), (alice, "release"), (bruno, "claim")):
                async with client.post(ACT.format(scene.waiting, action)) as r:
                    assert r.status == 200, (action, await r.text())
            async with alice.get(f"/api/console/conversations/{WAITING}") as r:
                assert r.status == 200
            async with alice.post(ACT.format(scene.waiting, "note"), json={"text": "x"}) as r:
                assert r.status == 404  # bruno holds it now: no acting on it

    run(db_url, check)


def test_a_note_needs_the_escalation_held(db_url: str, scene: Scene) -> None:
    async def check(server: TestServer) -> None:
        async with page(server) as alice, page(server) as bruno:
            assert await login(alice, "alice") == 200 and await login(bruno, "bruno") == 200
            note = {"text": "private remark"}
            async with alice.post(ACT.format(scene.waiting, "note"), json=note) as r:
                # Waiting: visible, but nobody holds it, so no note.
                assert r.status == 409 and "Nobody holds" in (await r.json())["error"]
            async with alice.post(ACT.format(scene.brunos, "note"), json=note) as r:
                assert r.status == 404
            async with bruno.post(ACT.format(scene.brunos, "note"), json=note) as r:
                assert r.status == 200
            async with bruno.get(f"/api/console/conversations/{BRUNOS}") as r:
                assert [n["text"] for n in (await r.json())["notes"]] == ["private remark"]

    run(db_url, check)


def test_a_supervisor_sees_every_conversation(db_url: str, scene: Scene) -> None:
    async def check(server: TestServer) -> None:
        async with page(server) as sam:
            assert await login(sam, "sam") == 200
            for conversation in (WAITING, BRUNOS, BOT_ONLY):
                async with sam.get(f"/api/console/conversations/{conversation}") as r:
                    assert r.status == 200, conversation
            async with sam.post(ACT.format(scene.brunos, "note"), json={"text": "checked"}) as r:
                assert r.status == 200  # and may act on a held one, as on release/transfer
            async with sam.get("/api/console/metrics") as r:
                assert r.status == 200

    run(db_url, check)


def test_disabling_an_agent_or_changing_the_password_ends_their_sessions(
    db_url: str, engine: Engine, scene: Scene
) -> None:
    async def check(server: TestServer) -> None:
        async with page(server) as alice, page(server) as bruno:
            assert await login(alice, "alice") == 200 and await login(bruno, "bruno") == 200
            with session_scope(engine) as s:
                disabled = disable_agent(s, "bruno")
                set_password(s, "alice", "another-long-password")
            assert disabled.sessions_ended == 1 and disabled.requeued == 1
            for client in (alice, bruno):
                async with client.get("/api/console/me") as r:
                    assert r.status == 401
            assert await login(bruno, "bruno") == 401
            assert await login(alice, "alice") == 401
            assert await login(alice, "alice", "another-long-password") == 200
            # Bruno's conversation went back to the queue, not with him.
            async with alice.get(f"/api/console/conversations/{BRUNOS}") as r:
                assert (await r.json())["escalation"]["status"] == "waiting"

    run(db_url, check)
