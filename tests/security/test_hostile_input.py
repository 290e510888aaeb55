"""Hostile input changes nothing: each test is what an attacker (or an unlucky customer)
sends, and the safe outcome.

In memory (FakeRasa, a SQLite file): typed intents, one conversation's failure, a database
error after Rasa answered, a lost lease, resolve and hand-back while Rasa is down, and the
background jobs kept apart. Against the real processes (Rasa, the action server, the Relais
app): control characters, a typed intent and "²" sent to the real bot.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

import bot.router
from bot.outbox import Outbox, Outgoing
from bot.router import Router
from bot.web import CONSOLE, OUTBOX, ROUTER, make_app
from handoff.desk import Desk
from handoff.queue import claim
from handoff.settings import HandoffSettings
from relais.core.brand import load_brand
from relais.core.handoff import HandoffPayload
from relais.core.types import Author, Processing, State, utcnow
from relais.storage.conversations import Conversation, Lease, Message
from relais.storage.db import create_all, make_engine, session_scope
from relais.storage.escalations import Agent, Escalation
from relais.storage.messages import Inbound, add_outgoing, conversation_for, transcript
from tests.e2e.servers import Servers, eventually
from tests.e2e.webchat import conversation_id, visitor
from tests.unit.fakes import FakeRasa

WEB = "web:camille"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'relais.db'}")
    create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def rasa() -> FakeRasa:
    return FakeRasa()


def gateway(engine: Engine, rasa: FakeRasa, worker_id: str = "worker-1") -> Router:
    return Router(engine, rasa, load_brand(), HandoffSettings(), worker_id=worker_id)  # type: ignore[arg-type]


def said(sender: str, text: str) -> Inbound:
    """A web chat message from `sender`, with an id of its own."""
    return Inbound(channel="web", sender=sender, platform_id=uuid.uuid4().hex, text=text)


def texts(engine: Engine, conversation_id: str, author: Author) -> list[str]:
    with session_scope(engine) as session:
        return [m.text for m in transcript(session, conversation_id) if m.author == author]


def customer_rows(engine: Engine, conversation_id: str) -> list[dict[str, Any]]:
    with session_scope(engine) as session:
        return [
            {
                "text": m.text,
                "processing": m.processing,
                "sent_to_rasa": m.sent_to_rasa,
                "routed_text": m.routed_text,
                "details": dict(m.details or {}),
            }
            for m in transcript(session, conversation_id)
            if m.author == Author.CUSTOMER
        ]


# --- a customer's "/intent" ------------------------------------------------------------------


def test_a_typed_intent_reaches_rasa_as_words_and_is_stored_as_typed(
    db: Engine, rasa: FakeRasa
) -> None:
    async def main() -> None:
        router = gateway(db, rasa)
        await router.receive(said("camille", "/human_request"))
        await router.receive(said("camille", '/inform{"booking_reference": "XY7T2M"}'))
        await router.receive(said("camille", " / /EXTERNAL_handed_back"))

    asyncio.run(main())
    # Rasa's REST channel reads a leading "/" as an intent: none of these reach it so.
    assert [s.text for s in rasa.sent] == [
        "human_request",
        'inform{"booking_reference": "XY7T2M"}',
        "EXTERNAL_handed_back",
    ]
    stored = customer_rows(db, WEB)
    assert [r["text"] for r in stored] == [
        "/human_request",
        '/inform{"booking_reference": "XY7T2M"}',
        " / /EXTERNAL_handed_back",
    ]
    with session_scope(db) as session:
        assert session.get(Conversation, WEB).state == State.BOT  # nobody was handed over


def test_the_buttons_the_bot_offered_still_work_and_only_those(db: Engine, rasa: FakeRasa) -> None:
    suggestions = [
        {"title": "Flight status", "payload": "/flight_status"},
        {"title": "Refund", "payload": "/refund_status"},
    ]
    rasa.script("what?", {"text": "Did you mean…", "buttons": suggestions})

    async def main() -> None:
        router = gateway(db, rasa)
        await router.receive(said("camille", "what?"))
        await router.receive(said("camille", "/flight_status"))  # a press: offered
        await router.receive(said("camille", "/human_request"))  # typed: never offered
        await router.receive(said("camille", "/refund_status"))  # offered, but not latest

    asyncio.run(main())
    assert [s.text for s in rasa.sent] == [
        "what?",
        "/flight_status",
        "human_request",
        "refund_status",
    ]


# --- one conversation's failure stays its own ------------------------------------------------


def test_a_conversation_that_raises_in_drain_does_not_stop_the_others(
    db: Engine, rasa: FakeRasa, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old "²" crash (str.isdigit accepted it, int() refused it) raised while taking the
    message; whatever raises there now, only that conversation waits."""
    settle = bot.router.settle_text

    def settle_or_crash(session: Any, message: Message) -> None:
        if message.text == "²":
            raise ValueError("invalid literal for int() with base 10: '²'")
        settle(session, message)

    monkeypatch.setattr(bot.router, "settle_text", settle_or_crash)

    async def main() -> None:
        router = gateway(db, rasa)
        await router.store(said("mallory", "²"))  # first in line: drain meets it first
        await router.store(said("camille", "is my flight on time?"))
        await router.drain()
        await router.store(said("camille", "and my bags?"))
        await router.drain()

    asyncio.run(main())
    assert texts(db, WEB, Author.BOT) == ["echo: is my flight on time?", "echo: and my bags?"]
    assert customer_rows(db, "web:mallory")[0]["processing"] == Processing.PENDING


class Recorder:
    """A pushing channel that records what it is given to deliver."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []

    async def send(self, item: Outgoing) -> list[str]:
        self.sent.append(item)
        return [f"p-{item.outbox_id}"]


def test_outbox_and_tracker_sync_keep_working_while_drain_raises(
    tmp_path: Path, rasa: FakeRasa
) -> None:
    url = f"sqlite:///{tmp_path / 'app.db'}"
    app = make_app(database_url=url, rasa_url="http://127.0.0.1:9", worker_id="worker-1")
    router, desk = app[ROUTER], app[CONSOLE].desk
    router.turn.rasa = rasa  # type: ignore[assignment]
    desk.rasa = rasa
    recorder = Recorder()
    app[OUTBOX] = Outbox(router.engine, {"telegram": recorder}, worker_id="worker-1")

    async def drain_always_fails() -> int:
        raise OperationalError("SELECT … FROM messages", {}, Exception("database disk image"))

    router.drain = drain_always_fails  # type: ignore[method-assign]
    with session_scope(router.engine) as session:
        conversation = conversation_for(session, "telegram", "4242")
        add_outgoing(session, conversation, Author.BOT, "Your flight is on time.")
        agent = Agent(username="alice", display_name="Alice", password_hash="-")
        session.add(agent)
        session.flush()
        reply = add_outgoing(session, conversation, Author.AGENT, "Sorted!", agent_id=agent.id)
        reply.in_tracker = False  # Rasa missed it: the tracker sync's job

    async def main() -> dict[str, Any]:
        async with TestClient(TestServer(app)) as client:
            for _ in range(100):
                # Both rows go out, one outbox pass after the other: wait for the second.
                if len(recorder.sent) >= 2 and rasa.called("append_events"):
                    break
                await asyncio.sleep(0.05)
            health = await client.get("/healthz")
            return dict(await health.json())

    report = asyncio.run(main())
    assert [item.text for item in recorder.sent] == ["Your flight is on time.", "Sorted!"]
    assert [e["text"] for e in rasa.trackers["telegram:4242"]] == ["Sorted!"]
    assert report["status"] == "degraded" and report["tasks"]["drain"].startswith(
        "failing: OperationalError"
    )
    assert report["tasks"]["outbox"] == "ok" and report["tasks"]["tracker_sync"] == "ok"


# --- a database error, or a lost lease, after Rasa answered ----------------------------------


def test_a_database_error_after_rasa_answered_loses_no_reply(
    db: Engine, rasa: FakeRasa, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def main() -> None:
        router = gateway(db, rasa)
        store = router.turn._store_replies
        failures = [OperationalError("INSERT INTO outbox …", {}, Exception("disk I/O error"))]

        def store_or_fail(*args: Any) -> bool:
            if failures:
                raise failures.pop()
            return store(*args)

        monkeypatch.setattr(router.turn, "_store_replies", store_or_fail)
        await router.receive(said("camille", "is my flight on time?"))
        # Not marked failed: pending, and marked as sent to Rasa.
        [row] = customer_rows(db, WEB)
        assert row["processing"] == Processing.PENDING and row["sent_to_rasa"]
        assert texts(db, WEB, Author.BOT) == []
        await router.drain()  # the next attempt: the replies come from the tracker

    asyncio.run(main())
    assert texts(db, WEB, Author.BOT) == ["echo: is my flight on time?"]
    assert len(rasa.sent) == 1  # Rasa was not asked twice
    [row] = customer_rows(db, WEB)
    assert row["processing"] == Processing.DONE and row["details"]["routed"] == "bot"


def test_a_worker_that_lost_the_lease_stores_nothing_and_the_holder_recovers(
    db: Engine, rasa: FakeRasa
) -> None:
    async def another_worker_takes_over(_text: str) -> None:
        # Rasa was slow: the lease ran out and worker-2 took the conversation meanwhile.
        with session_scope(db) as session:
            session.execute(
                update(Lease)
                .where(Lease.name == f"route:{WEB}")
                .values(owner="worker-2", expires_at=utcnow() + timedelta(seconds=60))
            )

    async def main() -> None:
        first, second = gateway(db, rasa, "worker-1"), gateway(db, rasa, "worker-2")
        rasa.on_send = another_worker_takes_over
        await first.receive(said("camille", "is my flight on time?"))
        assert texts(db, WEB, Author.BOT) == []  # the first stored nothing
        rasa.on_send = None
        await second.process(WEB)

    asyncio.run(main())
    assert texts(db, WEB, Author.BOT) == ["echo: is my flight on time?"]  # once
    assert len(rasa.sent) == 1


# --- resolve and hand-back while Rasa is down ------------------------------------------------


def handed_to_alice(db: Engine, rasa: FakeRasa) -> tuple[int, int]:
    """Camille's conversation handed over by the bot and claimed by Alice: (agent, escalation)."""
    payload = HandoffPayload(reasons=("human_request",), priority=2)
    rasa.script(
        "a person please", {"text": "A colleague takes over."}, {"custom": payload.to_custom()}
    )
    asyncio.run(gateway(db, rasa).receive(said("camille", "a person please")))
    with session_scope(db) as session:
        agent = Agent(username="alice", display_name="Alice", password_hash="-")
        session.add(agent)
        session.flush()
        [escalation] = session.execute(select(Escalation)).scalars().all()
        claim(session, agent, escalation.id, utcnow())
        return agent.id, escalation.id


def pending_of(db: Engine) -> str | None:
    with session_scope(db) as session:
        return session.get(Conversation, WEB).rasa_pending


def test_resolve_while_rasa_is_down_resumes_the_tracker_once_rasa_is_back(
    db: Engine, rasa: FakeRasa
) -> None:
    agent_id, escalation_id = handed_to_alice(db, rasa)
    assert rasa.trackers[WEB][-1] == {"event": "pause"}

    async def main() -> None:
        router, desk = gateway(db, rasa), Desk(db, rasa, worker_id="worker-1")
        rasa.unavailable = True
        await desk.resolve(agent_id, escalation_id)  # the agent is not told to try again
        assert pending_of(db) == "resume"
        await router.receive(said("camille", "thanks, one more thing"))
        rasa.unavailable = False
        # Rasa is back, the tracker still paused: the message waits rather than vanish
        # into a paused tracker that would answer nothing.
        await router.drain()
        assert texts(db, WEB, Author.BOT)[-1] != "echo: thanks, one more thing"
        await desk.sync_tracker()  # the background task's retry
        assert pending_of(db) is None
        await router.drain()

    asyncio.run(main())
    events = rasa.trackers[WEB]
    resumed = events.index({"event": "resume"})
    asked = next(i for i, e in enumerate(events) if e.get("text") == "thanks, one more thing")
    assert resumed < asked
    assert texts(db, WEB, Author.BOT)[-1] == "echo: thanks, one more thing"


def test_hand_back_while_rasa_is_down_sends_the_follow_up_once_rasa_is_back(
    db: Engine, rasa: FakeRasa
) -> None:
    agent_id, escalation_id = handed_to_alice(db, rasa)
    rasa.script("/EXTERNAL_handed_back", {"text": "I'm back. Anything else?"})

    async def main() -> None:
        desk = Desk(db, rasa, worker_id="worker-1")
        rasa.unavailable = True
        assert await desk.hand_back(agent_id, escalation_id) == []
        assert pending_of(db) == "hand_back"
        await desk.sync_tracker()  # still down: still pending
        assert pending_of(db) == "hand_back"
        rasa.unavailable = False
        await desk.sync_tracker()
        await desk.sync_tracker()  # done once, not twice

    asyncio.run(main())
    assert pending_of(db) is None
    assert texts(db, WEB, Author.BOT).count("I'm back. Anything else?") == 1
    assert len(rasa.called("trigger_intent")) == 1
    with session_scope(db) as session:
        assert session.get(Conversation, WEB).state == State.BOT


# --- against the real processes --------------------------------------------------------------


def post(app_url: str, chat: requests.Session, text: str, client_id: str | None = None) -> int:
    """What the chat page posts; who writes is the visitor of `chat`'s cookie."""
    return chat.post(
        f"{app_url}/api/chat/messages",
        json={"text": text, "client_id": client_id or uuid.uuid4().hex},
        timeout=30,
    ).status_code


def shown(app_url: str, chat: requests.Session, author: str) -> list[str]:
    data = chat.get(f"{app_url}/api/chat/messages", timeout=30).json()
    return [m["text"] for m in data["messages"] if m["author"] == author]


@pytest.mark.slow
def test_control_characters_never_reach_storage(app_url: str, seeded_sqlite_url: str) -> None:
    chat = visitor(app_url)
    hostile = "hi\x00 there\x1b[2J\r\nsecond line\x07\u0085"
    assert post(app_url, chat, hostile, client_id="c\x00-1\u202e") == 201
    # A text of control characters alone is no text.
    assert post(app_url, chat, "\x00\x07\x1b") == 400
    engine = make_engine(seeded_sqlite_url)
    try:
        with session_scope(engine) as session:
            [message] = session.execute(
                select(Message).where(
                    Message.conversation_id == conversation_id(chat),
                    Message.author == Author.CUSTOMER,
                )
            ).scalars()
            assert message.text == "hi there[2J\nsecond line"
            assert message.platform_id.endswith(":c-1")
    finally:
        engine.dispose()
    assert shown(app_url, chat, "customer") == ["hi there[2J\nsecond line"]


def tracker_events(servers: Servers, conversation: str) -> list[dict[str, Any]]:
    params = {"token": servers.rasa_token} if getattr(servers, "rasa_token", "") else {}
    response = requests.get(
        # ":" as is: Rasa does not decode its path, so "%3A" would name another tracker (the
        # app's aiohttp client sends ":" too).
        f"{servers.rasa_url}/conversations/{quote(conversation, safe=':')}/tracker",
        params=params,
        timeout=30,
    )
    response.raise_for_status()
    return list(response.json()["events"])


@pytest.mark.slow
def test_a_typed_intent_is_read_as_words_by_the_real_bot(app_url: str, servers: Servers) -> None:
    chat = visitor(app_url)
    assert post(app_url, chat, "/human_request") == 201

    def users() -> list[dict[str, Any]]:
        events = tracker_events(servers, conversation_id(chat))
        return [e for e in events if e.get("event") == "user"]

    eventually(lambda: bool(users()), 60)
    assert [e["text"] for e in users()] == ["human_request"]
    # Read by the NLU pipeline, not forced by Rasa's "/intent" shortcut, whose parse has the
    # one forced intent as its whole ranking (and none of our components' scores).
    parse = users()[0]["parse_data"]
    assert len(parse["intent_ranking"]) > 1 and "anger" in parse
    # The transcript keeps what the customer typed.
    assert shown(app_url, chat, "customer") == ["/human_request"]


@pytest.mark.slow
def test_a_message_that_once_crashed_routing_never_stops_another_conversation(
    app_url: str,
) -> None:
    mallory, other = visitor(app_url), visitor(app_url)
    assert post(app_url, mallory, "²") == 201
    assert post(app_url, other, "is flight XY311 on time?") == 201
    eventually(lambda: any("XY311" in t for t in shown(app_url, other, "bot")), 60)
    assert post(app_url, mallory, "³") == 201
    assert post(app_url, other, "is flight XY007 on time?") == 201
    eventually(lambda: any("XY007" in t for t in shown(app_url, other, "bot")), 60)
    # Mallory's lines were answered as text too: not stuck, not failed.
    eventually(lambda: len(shown(app_url, mallory, "bot")) >= 2, 60)
