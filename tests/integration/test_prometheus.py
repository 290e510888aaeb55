"""GET /metrics (bot/prometheus.py), in-process on SQLite and PostgreSQL: who may read it, and
that what it says follows what the app did (messages routed, handoffs, the queue, the outbox).

Rasa is the in-memory stand-in (tests/unit/fakes.py); the figures are read back with
prometheus_client's own parser, as Prometheus would read them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import Engine

import bot.channels.config
from bot.outbox import Outbox, Outgoing
from bot.prometheus import GatewayMetrics, read_scraped
from bot.web import ROUTER, make_app
from handoff.intake import open_escalation
from relais.core.brand import load_brand
from relais.core.config import settings
from relais.core.errors import SendFailed
from relais.core.handoff import HANDOFF_KEY, HandoffPayload
from relais.core.types import Author, utcnow
from relais.storage.db import run_atomic, session_scope
from relais.storage.messages import add_outgoing, conversation_for
from tests.console_scene import PASSWORD, build_scene
from tests.unit.fakes import FakeRasa

RASA_DOWN = "http://127.0.0.1:9"
TOKEN = "a-metrics-token-for-these-tests"
ANGRY = "this is the third cancellation, I am furious"
#: (sample name, its labels) → value.
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
Check = Callable[[TestServer], Awaitable[None]]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No metrics token, no channel but the web chat (a test sets the token it wants)."""
    for name in ("RELAIS_METRICS_TOKEN", "RELAIS_DEMO", "RELAIS_PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(bot.channels.config, "telegram_settings", lambda: None)
    monkeypatch.setattr(bot.channels.config, "x_settings", lambda: None)
    settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    settings.cache_clear()


def with_token(env: pytest.MonkeyPatch) -> None:
    env.setenv("RELAIS_METRICS_TOKEN", TOKEN)
    settings.cache_clear()


def run(db_url: str, check: Check, rasa: FakeRasa | None = None) -> None:
    """Runs `check(server)` against an app on `db_url` (Rasa: `rasa`, else unreachable)."""

    async def go() -> None:
        app = make_app(db_url, RASA_DOWN, background=False)
        if rasa is not None:
            app[ROUTER].turn.rasa = rasa  # type: ignore[assignment]
        server = TestServer(app)
        await server.start_server()
        try:
            await check(server)
        finally:
            await server.close()

    asyncio.run(go())


def client(server: TestServer) -> aiohttp.ClientSession:
    base = str(server.make_url(""))
    return aiohttp.ClientSession(
        base_url=base,
        headers={"Origin": base, "Content-Type": "application/json"},
        # unsafe: cookies for an IP address (127.0.0.1), as browsers keep them.
        cookie_jar=aiohttp.CookieJar(unsafe=True),
    )


async def get_metrics(http: aiohttp.ClientSession, token: str | None = None) -> Samples:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.get("/metrics", headers=headers) as r:
        assert r.status == 200, await r.text()
        assert r.content_type == "text/plain"
        return parse(await r.text())


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


# --- who may read it --------------------------------------------------------------------------


def test_without_a_token_set_metrics_are_not_found(db_url: str, env: pytest.MonkeyPatch) -> None:
    async def check(server: TestServer) -> None:
        async with client(server) as http:
            for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer x"}):
                async with http.get("/metrics", headers=headers) as r:
                    assert r.status == 404
                    assert await r.json() == {"error": "not found"}

    run(db_url, check)


def test_with_a_token_set_only_the_right_bearer_token_reads_them(
    db_url: str, env: pytest.MonkeyPatch
) -> None:
    with_token(env)

    async def check(server: TestServer) -> None:
        async with client(server) as http:
            wrong = (
                {},
                {"Authorization": f"Basic {TOKEN}"},
                {"Authorization": f"Bearer {TOKEN}x"},
                {"Authorization": f"Bearer {TOKEN[:-1]}"},
                {"Authorization": "Bearer é"},
            )
            for headers in wrong:
                async with http.get("/metrics", headers=headers) as r:
                    assert r.status == 401, headers
                    assert r.headers["WWW-Authenticate"].startswith("Bearer")
                    assert "error" in await r.json()
            samples = await get_metrics(http, TOKEN)
        # Every family is there before anything happened; what is read at scrape time too.
        assert value(samples, "relais_queue_waiting", priority="1") == 0
        assert value(samples, "relais_outbox_waiting", channel="telegram") == 0
        assert ("relais_rasa_up", frozenset()) in samples
        assert value(samples, "relais_rasa_up") == 0  # nothing listens at RASA_DOWN

    run(db_url, check)


def test_a_supervisor_logged_into_the_console_reads_them_an_agent_does_not(
    db_url: str, engine: Engine, env: pytest.MonkeyPatch
) -> None:
    build_scene(engine)

    async def check(server: TestServer) -> None:
        async with client(server) as supervisor, client(server) as agent:
            for http, name in ((supervisor, "sam"), (agent, "alice")):
                async with http.post(
                    "/api/login", json={"username": name, "password": PASSWORD}
                ) as r:
                    assert r.status == 200
            await get_metrics(supervisor)
            async with agent.get("/metrics") as r:
                assert r.status == 404  # no token set: as if there were no such page

    run(db_url, check)


# --- what they say ----------------------------------------------------------------------------


def test_routing_a_message_and_a_handoff_move_the_counters_and_histograms(
    db_url: str, env: pytest.MonkeyPatch
) -> None:
    with_token(env)
    rasa = FakeRasa()
    handoff = HandoffPayload(reasons=("anger", "a reason nobody defined"), priority=2)
    rasa.script(ANGRY, {"text": "I am sorry."}, {"custom": {HANDOFF_KEY: handoff.to_dict()}})

    async def check(server: TestServer) -> None:
        async with client(server) as http:
            before = await get_metrics(http, TOKEN)
            for text in ("hello", ANGRY):
                async with http.post("/api/chat/messages", json={"text": text}) as r:
                    posted = (await r.json())["message_id"]
                async with http.get(
                    "/api/chat/messages", params={"after": str(posted), "wait": "10"}
                ) as r:
                    assert any(m["author"] == "bot" for m in (await r.json())["messages"])
            after = await get_metrics(http, TOKEN)
        assert value(before, "relais_messages_received_total", channel="web") == 0
        assert value(after, "relais_messages_received_total", channel="web") == 2
        # "echo: hello", then the apology and the wait estimate, fetched by the page.
        assert value(after, "relais_messages_sent_total", channel="web") == 3
        for stage, count in (("store", 2), ("wait", 2), ("rasa", 2), ("replies", 2)):
            assert value(after, "relais_stage_seconds_count", stage=stage) == count, stage
            assert value(after, "relais_stage_seconds_bucket", stage=stage, le="+Inf") == count
        assert value(after, "relais_handoffs_total", reason="anger") == 1
        assert value(after, "relais_handoffs_total", reason="other") == 1
        assert value(after, "relais_queue_waiting", priority="2") == 1
        assert value(after, "relais_queue_waiting", priority="1") == 0
        assert value(after, "relais_rasa_up") == 1

    run(db_url, check, rasa)


def test_queue_gauges_count_what_waits_in_the_database_by_priority(
    db_url: str, engine: Engine, env: pytest.MonkeyPatch
) -> None:
    """The console scene: one priority-1 conversation waits, one is held by an agent (not
    counted); a priority-3 one added has waited ten minutes."""
    with_token(env)
    build_scene(engine)
    with session_scope(engine) as s:
        payload = HandoffPayload(reasons=("complaint",), priority=3)
        conversation = conversation_for(s, "telegram", "4242")
        open_escalation(s, conversation, payload, utcnow() - timedelta(minutes=10), load_brand())

    async def check(server: TestServer) -> None:
        async with client(server) as http:
            samples = await get_metrics(http, TOKEN)
        assert value(samples, "relais_queue_waiting", priority="1") == 1
        assert value(samples, "relais_queue_waiting", priority="3") == 1
        assert value(samples, "relais_queue_waiting", priority="2") == 0
        assert value(samples, "relais_queue_oldest_wait_seconds", priority="3") >= 600
        assert value(samples, "relais_queue_oldest_wait_seconds", priority="2") == 0

    run(db_url, check)


class OnceFailingSender:
    """Fails its first send (a retry later), then takes everything."""

    def __init__(self) -> None:
        self.failed = False

    async def send(self, item: Outgoing) -> list[str]:
        if not self.failed:
            self.failed = True
            raise SendFailed("HTTP 502", retry_after=0)
        return [f"platform-{item.outbox_id}"]


def test_outbox_deliveries_failures_and_backlog(engine: Engine) -> None:
    """Two replies for a Telegram chat: the first send fails once, then both go. The backlog
    gauge counts them while they wait."""
    with session_scope(engine) as s:
        conversation = conversation_for(s, "telegram", "1")
        for text in ("one", "two"):
            add_outgoing(s, conversation, Author.BOT, text)
    metrics = GatewayMetrics()
    outbox = Outbox(engine, {"telegram": OnceFailingSender()}, metrics=metrics)

    async def go() -> tuple[Samples, Samples]:
        waiting = await scraped(engine, metrics)
        assert await outbox.deliver_due() == 0  # the first fails and holds back the second
        assert await outbox.deliver_due() == 2
        return waiting, await scraped(engine, metrics)

    waiting, done = asyncio.run(go())
    assert value(waiting, "relais_outbox_waiting", channel="telegram") == 2
    assert value(done, "relais_outbox_waiting", channel="telegram") == 0
    assert value(done, "relais_outbox_failures_total", channel="telegram", outcome="retry") == 1
    assert value(done, "relais_messages_sent_total", channel="telegram") == 2
    assert value(done, "relais_stage_seconds_count", stage="outbox") == 2


async def scraped(engine: Engine, metrics: GatewayMetrics) -> Samples:
    """What a scrape would show of `metrics` now (the database read as /metrics reads it)."""
    now = utcnow()
    found = await asyncio.to_thread(run_atomic, engine, lambda s: read_scraped(s, now))
    metrics.set_scraped(found, {}, rasa_up=False)
    return parse(generate_latest(metrics.registry).decode())
