"""X within its rate limits, against the stricter stand-in (bot/fakes/x.py, which enforces X's
documented limits by default), with the app in this process and Rasa in memory, on SQLite
and PostgreSQL. Windows are 300 times shorter than X's (15 sends per 3 s instead of per
15 min), counts unchanged: the same arithmetic, in seconds."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator

import pytest
from aiohttp.test_utils import TestClient

import bot.web
from bot.channels.x_limits import XLimits
from bot.fakes.x import FakeX
from bot.pacing import SharedPace
from handoff.accounts import add_agent
from relais.core.pacing import Limit
from relais.core.texts import say
from relais.core.types import Delivery
from relais.storage.db import create_all, make_engine, session_scope
from tests.e2e.servers import free_port
from tests.integration.channel_app import (
    X_LIMITS,
    X_SCALE,
    app_client,
    customer_messages,
    outbox_rows,
    until,
    x_on,
)
from tests.unit.fakes import FakeRasa

PASSWORD = "a-long-password-for-these-tests"


@pytest.fixture
def fake() -> Iterator[FakeX]:
    x = FakeX(time_scale=X_SCALE)  # X's limits, windows ÷ 300
    x.start_in_thread(free_port())
    yield x
    x.stop()


async def webhook(client: TestClient, fake: FakeX, event: dict[str, object]) -> int:
    from bot.channels.x_wire import SIGNATURE_HEADER, signature

    body = fake.activity_payload(event)
    headers = {SIGNATURE_HEADER: signature(fake.consumer_secret, body)}
    response = await client.post("/x/webhook", data=body, headers=headers)
    return response.status


def test_the_shared_send_limit_never_gives_one_slot_twice(db_url: str) -> None:
    # Two workers (threads here) take slots of one account's limit at once.
    engine = make_engine(db_url)
    create_all(engine)
    pace = SharedPace(engine, "x", "pace:send:1", [Limit(5, 60.0)])
    waits: list[float] = []

    def worker() -> None:
        for _ in range(5):
            waits.append(asyncio.run(pace.take()))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    engine.dispose()
    assert sorted(waits)[:5] == [0.0] * 5 and all(w > 0 for w in sorted(waits)[5:])


def test_a_burst_of_replies_goes_out_under_xs_limit_in_order_and_the_backlog_shows(
    fake: FakeX, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    x_on(monkeypatch, fake)
    monkeypatch.setattr(bot.web, "BACKLOG_DEGRADED_S", 1)
    rasa = FakeRasa()
    long_reply = ("All good with your booking. " * 800).strip()  # three pieces of 10,000
    rasa.script("tell me everything", {"text": long_reply})
    customers = [str(7_000_000 + i) for i in range(30)]

    async def run() -> None:
        async with app_client(monkeypatch, db_url, rasa) as client:
            assert await webhook(client, fake, fake.customer_dm("6999999", "tell me everything"))
            for who in customers:  # 30 customers at once: 33 sends for 15 per window
                assert await webhook(client, fake, fake.customer_dm(who, "hello")) == 200
            reports = []
            while len(fake.sent) < 33:
                reports.append(await (await client.get("/healthz")).json())
                assert len(reports) < 400, fake.sent
                await asyncio.sleep(0.1)
            # Nothing refused: Relais kept to the limit rather than meet 429s.
            assert fake.refused == {"read": 0, "send": 0}
            # No window of 3 s (15 min at X's scale) saw more than 15 sends.
            times = sorted(fake.send_times)
            assert max(sum(t <= u < t + 3.0 for u in times) for t in times) <= 15
            # Per conversation, in order: the three pieces of the long reply.
            pieces = fake.texts_to("6999999")
            assert len(pieces) == 3 and " ".join(pieces) == long_reply
            # While replies waited, /healthz said so, with the limit and the oldest's age.
            waiting = [r for r in reports if r["outbox"]["x"]["waiting"]]
            assert waiting and waiting[0]["outbox"]["x"]["limits"]["sends"] == X_LIMITS.sends_text
            assert any(r["status"] == "degraded" for r in waiting)
            await until(
                lambda: all(r.status == Delivery.DELIVERED for r in outbox_rows(db_url, "x"))
            )
            assert all(r.attempts == 1 for r in outbox_rows(db_url, "x"))  # none failed

    asyncio.run(run())


def test_a_429_from_elsewhere_holds_every_send_until_the_reset_and_loses_none(
    fake: FakeX, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    x_on(monkeypatch, fake)

    async def run() -> None:
        async with app_client(monkeypatch, db_url) as client:
            fake.rate_limit_next(1, reset_in=2)  # another client of the account spent it
            for i in range(3):
                await webhook(client, fake, fake.customer_dm(str(7_100_000 + i), "hello"))
            await until(
                lambda: [r.status for r in outbox_rows(db_url, "x")] == [Delivery.DELIVERED] * 3
            )
            assert all(r.attempts == 1 for r in outbox_rows(db_url, "x"))
            assert fake.refused["send"] == 1  # X's one 429, then Relais waited

    asyncio.run(run())


def test_the_console_says_when_replies_wait_for_a_platform(
    fake: FakeX, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # X's send limit spent for a while: replies wait, and agents are told.
    x_on(monkeypatch, fake, limits=XLimits("test", X_LIMITS.reads, (Limit(1, 600.0),)))
    engine = make_engine(db_url)
    create_all(engine)
    with session_scope(engine) as session:
        add_agent(session, "alice", PASSWORD)
    engine.dispose()

    async def run() -> None:
        async with app_client(monkeypatch, db_url) as client:
            for i in range(3):
                await webhook(client, fake, fake.customer_dm(str(7_200_000 + i), "hello"))
            await until(lambda: len(fake.sent) == 1)
            origin = str(client.make_url("")).rstrip("/")
            headers = {"Origin": origin}
            login = await client.post(
                "/api/login", json={"username": "alice", "password": PASSWORD}, headers=headers
            )
            assert login.status == 200
            queue = await (await client.get("/api/console/queue")).json()
            (line,) = queue["backlog"]
            assert line.startswith("Replies waiting to go out on X: 2, the oldest for ")

    asyncio.run(run())


def test_polling_keeps_to_the_read_limit_through_a_long_catch_up(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reads: 2 per window (3 s), so a catch-up of four pages spans two windows. Sends are not
    # what this tests: as many as the test needs, said so.
    many = (Limit(100_000, 1.0),)
    fake = FakeX(time_scale=X_SCALE, read_limits=(Limit(2, 900.0),), send_limits=many)
    fake.start_in_thread(free_port())
    limits = XLimits("test", (Limit(2, 3.0),), many)
    x_on(monkeypatch, fake, mode="polling", limits=limits)
    try:

        async def run() -> None:
            async with app_client(monkeypatch, db_url):
                fake.customer_dm("7300000", "first")
                await until(lambda: fake.texts_to("7300000") == ["echo: first"])
                senders = [str(7_300_001 + i) for i in range(5)]
                for n in range(350):  # more than three pages, while Relais polls
                    fake.customer_dm(senders[n % 5], f"message {n}")
                await until(lambda: sum(len(fake.texts_to(s)) for s in senders) == 350, 60)
                for k, who in enumerate(senders):
                    texts = [m.text for m in customer_messages(db_url, f"x:{who}")]
                    assert texts == [f"message {n}" for n in range(k, 350, 5)]  # once, in order
                assert fake.refused["read"] == 0

        asyncio.run(run())
    finally:
        fake.stop()


def test_a_group_conversation_is_told_once_to_write_privately_never_answered_as_a_dm(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeX(time_scale=X_SCALE)
    fake.start_in_thread(free_port())
    x_on(
        monkeypatch, fake, mode="polling", limits=XLimits("test", (Limit(15, 0.5),), X_LIMITS.sends)
    )
    try:

        async def run() -> None:
            async with app_client(monkeypatch, db_url):
                fake.customer_dm("7400000", "hello")  # the first poll sets the position
                await until(lambda: fake.texts_to("7400000") == ["echo: hello"])
                fake.group_join("1580000000000000001", ["7400001", fake.account_id, "7400002"])
                fake.group_dm("1580000000000000001", "7400001", "can you see this, brand?")
                await until(lambda: len(fake.texts_to("group:1580000000000000001")) == 1)
                fake.group_dm("1580000000000000001", "7400002", "hello?")
                await asyncio.sleep(2.0)
                (note,) = fake.texts_to("group:1580000000000000001")
                assert note == " / ".join(say("x.group_note", lang) for lang in ("en", "fr"))
                assert fake.texts_to("7400001") == [] and fake.texts_to("7400002") == []
                assert customer_messages(db_url, "x:7400001") == []

        asyncio.run(run())
    finally:
        fake.stop()


def test_webhook_deliveries_carry_quick_replies_and_photos_and_only_for_our_account(
    fake: FakeX, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    x_on(monkeypatch, fake)
    from bot.channels.x_wire import SIGNATURE_HEADER, signature

    async def run() -> None:
        async with app_client(monkeypatch, db_url) as client:
            picked = fake.customer_dm("7500000", "Lyon", quick_reply="/pick_lyon")
            assert await webhook(client, fake, picked) == 200
            photo = fake.customer_dm("7500001", "", photo="9911")
            assert await webhook(client, fake, photo) == 200
            other = fake.activity_payload(fake.customer_dm("7500002", "hi"), for_user_id="555")
            headers = {SIGNATURE_HEADER: signature(fake.consumer_secret, other)}
            answer = await client.post("/x/webhook", data=other, headers=headers)
            assert json.loads(await answer.text()) == {"stored": 0, "skipped": 1}
            await until(lambda: bool(fake.texts_to("7500001")))
            (choice,) = customer_messages(db_url, "x:7500000")
            assert choice.text == "/pick_lyon"
            (sent,) = customer_messages(db_url, "x:7500001")
            assert [(a["kind"], a["ref"]) for a in sent.attachments] == [("photo", "9911")]
            assert fake.texts_to("7500001") == [say("attachment.question", "en", thing="photo")]
            assert customer_messages(db_url, "x:7500002") == []

    asyncio.run(run())


def test_the_limit_spent_survives_a_restart(db_url: str) -> None:
    # A new process (or another worker) sees the slots already taken.
    engine = make_engine(db_url)
    create_all(engine)
    first = SharedPace(engine, "x", "pace:send:2", [Limit(1, 3600.0)])
    assert asyncio.run(first.take()) == 0
    again = SharedPace(engine, "x", "pace:send:2", [Limit(1, 3600.0)])
    assert asyncio.run(again.take()) > 3500
    engine.dispose()
