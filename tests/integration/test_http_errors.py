"""Every route answers a bad request with a 4xx and a JSON `{"error": …}`, never a 500; a
`RelaisError` a route lets through gets the status of its kind.

The app runs in-process (aiohttp's TestServer) on an empty database of each backend, with the
demo agents; Rasa is never reached (its address is a closed port).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.engine import Engine

from bot.web import make_app
from handoff.seed import seed_agents
from relais.core.config import settings
from relais.core.errors import (
    ConfigError,
    Conflict,
    ModelError,
    NotFound,
    RasaUnavailable,
    RelaisError,
    SendFailed,
)
from relais.core.http import error_status, json_error, json_errors
from relais.storage.db import session_scope

RASA_DOWN = "http://127.0.0.1:9"
PASSWORD = "a-password-for-this-test"

Check = Callable[[TestClient], Awaitable[None]]


@pytest.fixture
def app_database(db_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch) -> str:
    """`db_url` with the demo agents, seeded with this test's RELAIS_DEMO_PASSWORD."""
    monkeypatch.setenv("RELAIS_DEMO_PASSWORD", PASSWORD)
    settings.cache_clear()
    try:
        with session_scope(engine) as session:
            seed_agents(session)
    finally:
        monkeypatch.undo()
        settings.cache_clear()
    return db_url


def run_against_app(database_url: str, check: Check) -> None:
    async def run() -> None:
        app = make_app(database_url, RASA_DOWN, background=False)
        server = TestServer(app)
        await server.start_server()
        # As the console's pages do: from the app's own origin, in JSON (see console_guard;
        # tests/integration/test_console_security.py sends what they would not).
        headers = {"Origin": str(server.make_url("")), "Content-Type": "application/json"}
        async with TestClient(server, headers=headers) as client:
            await check(client)

    asyncio.run(run())


async def expect_error(response: Any, status: int, mentions: str) -> None:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    problem = (await response.json())["error"]
    assert mentions in problem, problem


def test_the_web_chat_refuses_bad_messages_with_400(app_database: str) -> None:
    async def check(client: TestClient) -> None:
        post = "/api/chat/messages"
        await expect_error(await client.post(post, data="{not json"), 400, "must be JSON")
        await expect_error(await client.post(post, json=["sender", "text"]), 400, "JSON object")
        await expect_error(await client.post(post, json="hello"), 400, "JSON object")
        await expect_error(await client.post(post, json={"text": "   "}), 400, "text")
        await expect_error(await client.post(post, json={"text": ["hi"]}), 400, "text")
        await expect_error(
            await client.post(post, json={"text": "hi", "client_id": {"a": 1}}),
            400,
            "client_id",
        )
        got = "/api/chat/messages"
        await expect_error(await client.get(got, params={"after": "abc"}), 400, "after")
        await expect_error(await client.get(got, params={"wait": "nan"}), 400, "wait")
        # Who writes is the visitor cookie's business: a sender in the body is ignored
        # (bot/web_identity.py), not an error, and a good message is still taken (stored;
        # Rasa being down only delays the answer).
        stored = await client.post(post, json={"sender": "a:b", "text": "hello"})
        assert stored.status == 201 and (await stored.json())["duplicate"] is False
        identity = "/api/chat/identity"
        await expect_error(await client.post(identity, data="{oops"), 400, "must be JSON")
        await expect_error(await client.post(identity, json=["x"]), 400, "JSON object")
        # What another site's form could send: refused before it is read.
        form = {"Content-Type": "text/plain"}
        await expect_error(
            await client.post(identity, data='{"customer_id": "x"}', headers=form), 415, "JSON"
        )
        forged = {"customer_id": "demo-james", "expires": 2**40, "signature": "00" * 32}
        await expect_error(await client.post(identity, json=forged), 403, "refused")

    run_against_app(app_database, check)


def test_the_console_refuses_bad_requests_with_4xx(app_database: str) -> None:
    async def check(client: TestClient) -> None:
        await expect_error(await client.get("/api/console/queue"), 401, "log in")
        await expect_error(
            await client.post("/api/login", json=["alice", PASSWORD]), 400, "username and password"
        )
        await expect_error(await client.post("/api/login", data="alice"), 400, "username")
        await expect_error(
            await client.post("/api/login", json={"username": "alice", "password": "wrong-one"}),
            401,
            "wrong username or password",
        )
        login = await client.post("/api/login", json={"username": "alice", "password": PASSWORD})
        assert login.status == 200, await login.text()

        act = "/api/console/escalations/{}/{}"
        await expect_error(await client.post(act.format("abc", "claim")), 400, "escalation id")
        await expect_error(await client.post(act.format("-3", "claim")), 400, "escalation id")
        await expect_error(
            await client.post(act.format("99999999999999", "claim")), 400, "escalation id"
        )
        await expect_error(await client.post(act.format(1, "frobnicate")), 404, "unknown action")
        await expect_error(await client.post(act.format(1, "note"), data="{oops"), 400, "JSON")
        await expect_error(
            await client.post(act.format(1, "note"), json=["text"]), 400, "JSON object"
        )
        await expect_error(
            await client.post(act.format(1, "note"), json={"text": 42}),
            400,
            "text must be a string",
        )
        await expect_error(
            await client.post(act.format(1, "reply"), json={"text": {"a": 1}}),
            400,
            "text must be a string",
        )
        await expect_error(
            await client.post(act.format(1, "reply"), json={"text": "hi", "client_id": 7}),
            400,
            "client_id",
        )
        for agent_id in ("bruno", None, True, 1.5, [2], 10**30):
            await expect_error(
                await client.post(act.format(1, "transfer"), json={"agent_id": agent_id}),
                400,
                "agent_id",
            )
        # Well-formed, but nothing to act on: 404, as for one the agent may not see.
        await expect_error(
            await client.post(act.format(999, "claim")), 404, "No such conversation in the queue."
        )
        await expect_error(
            await client.post(act.format(999, "reply"), json={"text": "hi"}),
            404,
            "No such conversation in the queue.",
        )
        await expect_error(
            await client.get("/api/console/conversations/web:nobody"), 404, "no such conversation"
        )
        await expect_error(await client.get("/api/console/metrics"), 403, "supervisors only")

    run_against_app(app_database, check)


def test_json_error_escapes_what_it_is_given() -> None:
    problem = 'the "sender" must not end with a backslash \\ or a newline\n'
    error = json_error(400, problem)
    assert isinstance(error, web.HTTPBadRequest) and error.status == 400
    assert error.content_type == "application/json"
    assert json.loads(error.text or "") == {"error": problem}
    with pytest.raises(ValueError, match="no JSON error for HTTP 418"):
        json_error(418, "teapot")


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (NotFound("no such booking"), 404),
        (Conflict("taken"), 409),
        (ConfigError("bad brand.yml"), 400),
        (RasaUnavailable("down"), 503),
        (SendFailed("refused"), 500),
        (ModelError("no model"), 500),
        (RelaisError(), 500),
    ],
)
def test_each_kind_of_error_has_its_status(error: RelaisError, status: int) -> None:
    assert error_status(error) == status


def test_the_middleware_answers_relais_errors_as_json() -> None:
    async def raising(request: web.Request) -> web.Response:
        kind = request.match_info["kind"]
        if kind == "rasa":
            raise RasaUnavailable("Rasa did not answer")
        if kind == "missing":
            raise NotFound("no such thing")
        raise KeyError(kind)  # a bug: not ours to explain, so not turned into JSON

    async def run() -> None:
        app = web.Application(middlewares=[json_errors])
        app.router.add_get("/{kind}", raising)
        async with TestClient(TestServer(app)) as client:
            await expect_error(await client.get("/rasa"), 503, "Rasa did not answer")
            await expect_error(await client.get("/missing"), 404, "no such thing")
            assert (await client.get("/bug")).status == 500

    asyncio.run(run())
