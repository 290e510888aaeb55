"""The channels' doors, attacked: X's CRC as a signing oracle, X deliveries for another
account, webhook bodies too large, Telegram's secret guessed, and a polling loop that a
database error used to end for good.

The X webhook tests run the Relais app as its own process in front of the real Rasa server
(the DM answered in one conversation while another sends what once crashed routing); the
polling test runs the app in this process, where a database error can be injected.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

import bot.channels.config
import bot.channels.telegram
import bot.web
from bot.channels.config import TelegramSettings
from bot.channels.x_wire import SIGNATURE_HEADER, signature
from bot.fakes.telegram import FakeTelegram
from bot.fakes.x import FakeX
from bot.supervise import keep_polling
from bot.web import CONSOLE, ROUTER, make_app
from relais.storage.conversations import Message
from relais.storage.db import create_all, make_engine, session_scope
from relais.tools.seed import seed
from tests.e2e.servers import Servers, eventually, free_port, relais_app
from tests.unit.fakes import FakeRasa

JAMES_X = "200002"  # James Miller's X id in the demo records
TOO_BIG = 300 * 1024  # the app takes bodies of at most 256 KiB


def x_env(fake: FakeX, mode: str) -> dict[str, str]:
    return {
        "X_ACCOUNT_ID": fake.account_id,
        "X_CONSUMER_KEY": "key",
        "X_CONSUMER_SECRET": fake.consumer_secret,
        "X_ACCESS_TOKEN": "token",
        "X_ACCESS_TOKEN_SECRET": "token-secret",
        "X_MODE": mode,
        "X_API_URL": fake.url,
    }


@pytest.fixture(scope="module")
def fake_x() -> Iterator[FakeX]:
    x = FakeX()
    x.start_in_thread(free_port())
    yield x
    x.stop()


@pytest.fixture(scope="module")
def x_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A seeded database of this module's own (the session's app would route its messages)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('x-security') / 'relais.db'}"
    engine = make_engine(url)
    create_all(engine)
    with session_scope(engine) as session:
        seed(session, anchor=datetime.now(timezone.utc).date())
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def x_webhook(
    fake_x: FakeX, x_db: str, servers: Servers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The Relais app with X in webhook mode, in front of the real Rasa; yields /x/webhook."""
    workdir = tmp_path_factory.mktemp("x-webhook-app")
    with relais_app(workdir, x_db, servers.rasa_url, x_env(fake_x, "webhook")) as app:
        yield f"{app}/x/webhook"


def stored_from(url: str, sender: str) -> list[str]:
    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            rows = session.execute(
                select(Message.text).where(Message.conversation_id == f"x:{sender}")
            ).scalars()
            return list(rows)
    finally:
        engine.dispose()


def signed_post(hook: str, body: bytes, secret: str) -> requests.Response:
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature(secret, body)}
    return requests.post(hook, data=body, headers=headers, timeout=30)


# --- X ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_crc_token_that_is_a_json_body_is_refused_and_nothing_is_signed(
    fake_x: FakeX, x_webhook: str
) -> None:
    # The attack: ask the CRC to sign a delivery of our making, then post it with that
    # "signature" as a DM from anyone.
    forged = json.dumps(
        {
            "for_user_id": fake_x.account_id,
            "direct_message_events": [
                {
                    "type": "message_create",
                    "id": "1",
                    "message_create": {
                        "sender_id": "31337",
                        "message_data": {"text": "send me every refund"},
                    },
                }
            ],
        }
    )
    answer = requests.get(x_webhook, params={"crc_token": forged}, timeout=30)
    assert answer.status_code == 400
    assert "response_token" not in answer.text and "sha256=" not in answer.text
    for token in ["{}", "123", "a" * 500, "has space", 'x"y']:
        refused = requests.get(x_webhook, params={"crc_token": token}, timeout=30)
        assert refused.status_code == 400 and "sha256=" not in refused.text
    # Without the signature the forged delivery is refused; X's own CRC still works.
    assert requests.post(x_webhook, data=forged.encode(), timeout=30).status_code == 403
    ok = requests.get(x_webhook, params={"crc_token": "Zm9yZ2V0LW1l_Y2hhbGxlbmdl"}, timeout=30)
    assert ok.status_code == 200 and ok.json()["response_token"].startswith("sha256=")


@pytest.mark.slow
def test_a_signed_delivery_for_another_account_is_dropped(
    fake_x: FakeX, x_webhook: str, x_db: str
) -> None:
    sender = str(700_000 + uuid.uuid4().int % 99_999)
    event = fake_x.customer_dm(sender, "hello from an account we do not serve")
    body = json.loads(fake_x.activity_payload(event))
    body["for_user_id"] = "555000111"  # another account subscribed through the same app
    answer = signed_post(x_webhook, json.dumps(body).encode(), fake_x.consumer_secret)
    assert answer.status_code == 200 and answer.json() == {"stored": 0, "skipped": 1}
    time.sleep(1.5)
    assert stored_from(x_db, sender) == [] and fake_x.texts_to(sender) == []


@pytest.mark.slow
def test_our_own_account_is_known_from_the_configuration_not_the_payload(
    fake_x: FakeX, x_webhook: str, x_db: str
) -> None:
    # A delivery that claims to be for "31337" from "31337": before, sender == for_user_id
    # was the echo test, so the payload chose what counted as our own messages.
    event = fake_x.customer_dm("31337", "am I you?")
    body = json.loads(fake_x.activity_payload(event))
    body["for_user_id"] = "31337"
    answer = signed_post(x_webhook, json.dumps(body).encode(), fake_x.consumer_secret)
    assert answer.json() == {"stored": 0, "skipped": 1}
    assert stored_from(x_db, "31337") == []


@pytest.mark.slow
def test_x_webhook_bodies_are_size_limited(fake_x: FakeX, x_webhook: str) -> None:
    body = b'{"for_user_id": "' + b"9" * TOO_BIG + b'"}'
    assert signed_post(x_webhook, body, fake_x.consumer_secret).status_code == 413


@pytest.mark.slow
def test_a_dm_that_once_crashed_routing_leaves_other_conversations_answered(
    fake_x: FakeX, x_webhook: str
) -> None:
    mallory = str(800_000 + uuid.uuid4().int % 99_999)
    before = len(fake_x.texts_to(JAMES_X))
    assert fake_x.deliver(x_webhook, fake_x.customer_dm(mallory, "²")) == 200
    assert fake_x.deliver(x_webhook, fake_x.customer_dm(JAMES_X, "how many points?")) == 200
    eventually(lambda: len(fake_x.texts_to(JAMES_X)) == before + 1, 60)
    assert "points" in fake_x.texts_to(JAMES_X)[-1]
    assert fake_x.deliver(x_webhook, fake_x.customer_dm(mallory, "٣")) == 200
    assert fake_x.deliver(x_webhook, fake_x.customer_dm(JAMES_X, "is XY311 on time?")) == 200
    eventually(lambda: len(fake_x.texts_to(JAMES_X)) == before + 2, 60)
    assert "XY311" in fake_x.texts_to(JAMES_X)[-1]
    eventually(lambda: len(fake_x.texts_to(mallory)) >= 2, 60)  # answered as text


@pytest.mark.slow
def test_in_polling_mode_there_is_no_webhook_and_no_crc(
    fake_x: FakeX, x_db: str, servers: Servers, tmp_path: Path
) -> None:
    with relais_app(tmp_path, x_db, servers.rasa_url, x_env(fake_x, "polling")) as app:
        hook = f"{app}/x/webhook"
        assert (
            requests.get(hook, params={"crc_token": "challenge-1"}, timeout=30).status_code == 404
        )
        event = fake_x.customer_dm(JAMES_X, "hello")
        assert fake_x.deliver(hook, event) == 404  # even signed


# --- Telegram --------------------------------------------------------------------------------


@pytest.mark.slow
def test_telegram_refuses_near_miss_secrets_and_oversized_bodies(
    own_seeded_url: str, tmp_path: Path
) -> None:
    fake = FakeTelegram()
    fake.start_in_thread(free_port())
    env = {
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_URL": fake.url,
        "TELEGRAM_MODE": "webhook",
        "TELEGRAM_WEBHOOK_SECRET": "s3cret-token",
    }
    try:
        with relais_app(tmp_path, own_seeded_url, "http://127.0.0.1:9", env) as app:
            hook = f"{app}/telegram/webhook"
            update = {"update_id": 1, "message": {"message_id": 1, "date": 0, "text": "hi"}}
            for guess in ["s3cret", "s3cret-token ", "s3cret-tokenX", "S3CRET-TOKEN", ""]:
                headers = {"X-Telegram-Bot-Api-Secret-Token": guess}
                assert requests.post(hook, json=update, headers=headers).status_code == 403
            good = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}
            big = {"update_id": 2, "padding": "x" * TOO_BIG}
            assert requests.post(hook, json=big, headers=good).status_code == 413
    finally:
        fake.stop()


class FlakyDatabase:
    """`set_state` (the polling position) fails `times` times, as a database may."""

    def __init__(self, times: int) -> None:
        self.left = times
        self.real = bot.channels.telegram.set_state

    def __call__(self, *args: Any) -> None:
        if self.left > 0:
            self.left -= 1
            raise OperationalError("UPDATE channel_state …", {}, Exception("disk I/O error"))
        self.real(*args)


def test_a_polling_loop_that_raises_restarts_and_healthz_shows_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeTelegram()
    fake.start_in_thread(free_port())
    chat = 777_123
    monkeypatch.setattr(
        bot.channels.config,
        "telegram_settings",
        lambda: TelegramSettings(fake.token, "polling", None, fake.url),
    )
    monkeypatch.setattr(bot.channels.telegram, "set_state", FlakyDatabase(times=2))
    monkeypatch.setattr(
        bot.web,
        "keep_polling",
        functools.partial(keep_polling, healthy_after=1.0, first_backoff=0.3),
    )
    app = make_app(
        database_url=f"sqlite:///{tmp_path / 'relais.db'}",
        rasa_url="http://127.0.0.1:9",
        worker_id="worker-1",
    )
    rasa = FakeRasa()
    app[ROUTER].turn.rasa = rasa  # type: ignore[assignment]
    app[CONSOLE].desk.rasa = rasa

    async def main() -> list[str]:
        states: list[str] = []
        async with TestClient(TestServer(app)) as client:
            fake.customer_text(chat, "is my flight on time?")
            for _ in range(150):
                report = await (await client.get("/healthz")).json()
                assert (await client.get("/healthz")).status == 200  # documented: always 200
                states.append(report["channels"]["telegram"])
                if states[-1] == "ok" and fake.texts_to(chat) and len(states) > 5:
                    break
                await asyncio.sleep(0.1)
        return states

    try:
        states = asyncio.run(main())
    finally:
        fake.stop()
    down = [s for s in states if s.startswith("down: OperationalError")]
    assert down, states  # shown while it was down
    assert states[-1] == "ok", states  # and up again after the restart
    assert fake.texts_to(chat) == ["echo: is my flight on time?"]  # the update, handled once
