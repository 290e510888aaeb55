"""X direct messages through tweepy against the local X API stand-in: webhook (CRC,
signature, echoes), polling (pagination, restart-safe position), sending (10,000-character
split, numbered options, HTTP 429 and the rate-limit reset)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from bot.channels.x import XChannel
from bot.channels.x_limits import PAY_PER_USE
from bot.channels.x_wire import crc_response
from bot.fakes.x import FakeX
from bot.outbox import Outgoing
from bot.rasa_client import RasaClient
from bot.router import Router
from handoff.settings import HandoffSettings
from relais.core.brand import load_brand
from relais.core.errors import SendFailed
from relais.storage.conversations import Message
from relais.storage.db import make_engine, session_scope
from tests.e2e.servers import Servers, eventually, free_port, relais_app

pytestmark = pytest.mark.slow
JAMES_X = "200002"  # James Miller's X id in the demo records


@pytest.fixture
def fake() -> Iterator[FakeX]:
    x = FakeX(time_scale=SCALE)  # X's limits, in shorter windows
    x.start_in_thread(free_port())
    yield x
    x.stop()


#: X's windows in these tests: 300 times shorter, the counts unchanged (15 per 3 s).
SCALE = 300.0


def channel_for(fake: FakeX, router: Router | None) -> XChannel:
    return XChannel(
        router,
        fake.account_id,
        "key",
        fake.consumer_secret,
        "token",
        "token-secret",  # type: ignore[arg-type]
        api_url=fake.url,
        limits=PAY_PER_USE.scaled(SCALE),
    )


def x_env(fake: FakeX, mode: str) -> dict[str, str]:
    return {
        "X_ACCOUNT_ID": fake.account_id,
        "X_CONSUMER_KEY": "key",
        "X_CONSUMER_SECRET": fake.consumer_secret,
        "X_ACCESS_TOKEN": "token",
        "X_ACCESS_TOKEN_SECRET": "token-secret",
        "X_MODE": mode,
        "X_API_URL": fake.url,
        # X's limits in the stand-in's shorter windows (the same counts).
        "X_READ_LIMIT": f"15/{900 / SCALE:g}s",
        "X_SEND_LIMIT": f"15/{900 / SCALE:g}s,1440/{86400 / SCALE:g}s",
    }


def test_sending_through_tweepy_splits_numbers_options_and_respects_429(fake: FakeX) -> None:
    channel = channel_for(fake, None)

    async def run() -> None:
        ids = await channel.send(
            Outgoing(
                1,
                "42",
                "Which trip?",
                [{"title": "Lyon", "payload": "/a"}, {"title": "Nice", "payload": "/b"}],
            )
        )
        assert len(ids) == 1 and ids[0]
        assert fake.texts_to("42") == ["Which trip?\n\n1. Lyon\n2. Nice"]
        long_text = ("All good with your booking. " * 500).strip()
        assert len(await channel.send(Outgoing(2, "42", long_text, []))) == 2
        assert all(len(t) <= 10_000 for t in fake.texts_to("42"))
        fake.rate_limit_next(1, reset_in=5)
        with pytest.raises(SendFailed) as failed:
            await channel.send(Outgoing(3, "42", "hello", []))
        assert 1 <= failed.value.retry_after <= 6 and not failed.value.permanent

    asyncio.run(run())


def test_polling_stores_each_dm_once_across_pages_and_restarts(fake: FakeX, tmp_path: Path) -> None:
    from relais.storage.db import create_all

    url = f"sqlite:///{tmp_path / 'x.db'}"
    engine = make_engine(url)
    create_all(engine)
    # Rasa is not running: messages are stored and wait (routing is not what this tests).
    router = Router(
        engine, RasaClient("http://127.0.0.1:9", timeout_s=1), load_brand(), HandoffSettings()
    )
    for i in range(150):  # two pages of 100
        fake.customer_dm(JAMES_X, f"message {i}")
    fake.events.append(fake._event(fake.account_id, "a reply from us"))  # ours: dropped

    def stored() -> list[str]:
        with session_scope(engine) as s:
            return [m.text for m in s.execute(select(Message).order_by(Message.id)).scalars()]

    async def poll_once(channel: XChannel) -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(channel.poll(stop, every=0.2))
        await asyncio.sleep(1.5)
        stop.set()
        await task

    # The very first start takes the newest page only (100 events, ours among them), oldest
    # first, not the whole DM history.
    asyncio.run(poll_once(channel_for(fake, router)))
    assert stored() == [f"message {i}" for i in range(51, 150)]
    for i in range(150, 260):  # more than a page while Relais is down
        fake.customer_dm(JAMES_X, f"message {i}")
    asyncio.run(poll_once(channel_for(fake, router)))  # a new process: the position is kept
    assert stored() == [f"message {i}" for i in range(51, 260)]
    with session_scope(engine) as s:
        assert s.execute(select(func.count()).select_from(Message)).scalar_one() == 209


def test_the_first_start_answers_only_the_last_days_dms(fake: FakeX, tmp_path: Path) -> None:
    from relais.storage.db import create_all

    url = f"sqlite:///{tmp_path / 'x.db'}"
    engine = make_engine(url)
    create_all(engine)
    router = Router(
        engine, RasaClient("http://127.0.0.1:9", timeout_s=1), load_brand(), HandoffSettings()
    )
    # Written before Relais was connected: three days ago, just over a day ago, an hour ago.
    for text, hours in (("sent three days ago", 72), ("sent 25 hours ago", 25), ("an hour", 1)):
        event = fake.customer_dm(JAMES_X, text)
        moment = datetime.now(timezone.utc) - timedelta(hours=hours)
        event["created_at"] = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    fake.customer_dm(JAMES_X, "sent just now")

    def stored() -> list[str]:
        with session_scope(engine) as s:
            return [m.text for m in s.execute(select(Message).order_by(Message.id)).scalars()]

    async def poll_once() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(channel_for(fake, router).poll(stop, every=0.2))
        await asyncio.sleep(1.5)
        stop.set()
        await task

    asyncio.run(poll_once())
    assert stored() == ["an hour", "sent just now"]
    # After the first start every new DM is answered, and the old ones stay behind.
    fake.customer_dm(JAMES_X, "a new one")
    asyncio.run(poll_once())
    assert stored() == ["an hour", "sent just now", "a new one"]


def test_webhook_end_to_end_with_crc_signature_and_numbered_options(
    fake: FakeX, servers: Servers, own_seeded_url: str, tmp_path: Path
) -> None:
    with relais_app(tmp_path, own_seeded_url, servers.rasa_url, x_env(fake, "webhook")) as app:
        hook = f"{app}/x/webhook"
        crc = requests.get(hook, params={"crc_token": "challenge-1"}).json()
        assert crc == crc_response(fake.consumer_secret, "challenge-1")
        assert requests.get(hook).status_code == 400
        event = fake.customer_dm(JAMES_X, "how many points do I have?")
        assert fake.deliver(hook, event, secret="wrong-secret") == 403
        assert requests.post(hook, data=b"{}").status_code == 403  # no signature at all
        assert fake.deliver(hook, event) == 200
        assert fake.deliver(hook, event) == 200  # a replayed delivery changes nothing
        eventually(lambda: len(fake.texts_to(JAMES_X)) == 1)
        assert "points" in fake.texts_to(JAMES_X)[0]
        # Our own reply comes back as an event too: dropped, never answered.
        own = fake.events[-1]
        assert own["sender_id"] == fake.account_id
        assert fake.deliver(hook, own) == 200
        time.sleep(2)
        assert len(fake.texts_to(JAMES_X)) == 1


def test_polling_at_xs_limits_tells_a_group_to_write_privately_and_answers_dms(
    fake: FakeX, servers: Servers, own_seeded_url: str, tmp_path: Path
) -> None:
    with relais_app(tmp_path, own_seeded_url, servers.rasa_url, x_env(fake, "polling")) as app:
        fake.customer_dm(JAMES_X, "how many points do I have?")
        eventually(lambda: len(fake.texts_to(JAMES_X)) == 1, 60)
        assert "points" in fake.texts_to(JAMES_X)[0]
        fake.group_dm("1590000000000000002", JAMES_X, "brand, are you there?")
        eventually(lambda: len(fake.texts_to("group:1590000000000000002")) == 1, 60)
        fake.group_dm("1590000000000000002", JAMES_X, "hello?")
        time.sleep(2)
        assert len(fake.texts_to("group:1590000000000000002")) == 1
        assert len(fake.texts_to(JAMES_X)) == 1  # the group was not answered as a DM
        health = requests.get(f"{app}/healthz").json()
        assert health["outbox"]["x"]["limits"]["sends"] == "15 per 3 s and 1,440 per 288 s"
        assert fake.refused == {"read": 0, "send": 0}


def test_relais_x_setup_registers_the_running_apps_webhook(
    fake: FakeX, servers: Servers, own_seeded_url: str, tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    env = x_env(fake, "webhook")
    with relais_app(tmp_path, own_seeded_url, servers.rasa_url, env) as app:
        command = [
            sys.executable,
            "-m",
            "relais.tools.cli",
            "x",
            "setup",
            "--url",
            f"{app}/x/webhook",
        ]
        run_env = {**os.environ, **env}
        dry = subprocess.run([*command, "--dry-run"], env=run_env, capture_output=True, text=True)
        assert dry.returncode == 0 and "would register webhook" in dry.stdout, dry.stderr
        assert fake.webhooks == {}
        done = subprocess.run(command, env=run_env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert "registered now" in done.stdout and "subscribed now" in done.stdout
        (webhook,) = fake.webhooks.values()
        assert webhook["valid"] and fake.crc_checks == [f"{app}/x/webhook"]
