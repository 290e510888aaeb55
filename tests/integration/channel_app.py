"""The Relais app in this process, with a channel pointed at its platform stand-in and Rasa
in memory (tests/unit/fakes.py): the channel code as it runs, against platforms as strict as
the real ones, on SQLite and on PostgreSQL, without a trained model."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

import bot.channels.config
import bot.web
from bot.channels.config import TelegramSettings, XSettings
from bot.channels.x_limits import PAY_PER_USE, XLimits
from bot.fakes.telegram import FakeTelegram
from bot.fakes.x import FakeX
from bot.supervise import keep_polling
from bot.web import CONSOLE, ROUTER, make_app
from relais.core.types import Author
from relais.storage.conversations import Message, OutboxItem
from relais.storage.db import make_engine, session_scope
from tests.unit.fakes import FakeRasa

#: Tests shorten X's windows by this factor, keeping its counts (15 per 15 min: per 3 s).
X_SCALE = 300.0
X_LIMITS = PAY_PER_USE.scaled(X_SCALE)


def telegram_on(
    monkeypatch: pytest.MonkeyPatch,
    fake: FakeTelegram,
    mode: str = "polling",
    secret: str | None = None,
    webhook_url: str | None = None,
) -> None:
    monkeypatch.setattr(
        bot.channels.config,
        "telegram_settings",
        lambda: TelegramSettings(fake.token, mode, secret, fake.url, webhook_url),
    )
    monkeypatch.setattr(bot.channels.config, "x_settings", lambda: None)


def x_on(
    monkeypatch: pytest.MonkeyPatch,
    fake: FakeX,
    mode: str = "webhook",
    limits: XLimits = X_LIMITS,
) -> None:
    settings = XSettings(
        fake.account_id,
        fake.consumer_key,
        fake.consumer_secret,
        "token",
        "token-secret",
        mode,
        fake.url,
        limits,
    )
    monkeypatch.setattr(bot.channels.config, "x_settings", lambda: settings)
    monkeypatch.setattr(bot.channels.config, "telegram_settings", lambda: None)


@contextlib.asynccontextmanager
async def app_client(
    monkeypatch: pytest.MonkeyPatch, db_url: str, rasa: FakeRasa | None = None
) -> AsyncIterator[TestClient]:
    """The app with its background tasks and the channels set by `telegram_on` / `x_on`."""
    monkeypatch.setattr(
        bot.web,
        "keep_polling",
        functools.partial(keep_polling, healthy_after=1.0, first_backoff=0.3),
    )
    app = make_app(database_url=db_url, rasa_url="http://127.0.0.1:9", worker_id="worker-1")
    fake_rasa = rasa or FakeRasa()
    app[ROUTER].turn.rasa = fake_rasa  # type: ignore[assignment]
    app[CONSOLE].desk.rasa = fake_rasa  # type: ignore[assignment]
    async with TestClient(TestServer(app)) as client:
        yield client


async def until(check: Callable[[], Any], limit: float = 20.0) -> None:
    """Waits (without blocking the app's loop) until `check()` is true."""
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {limit:.0f} s: {check}")
        await asyncio.sleep(0.05)


def customer_messages(db_url: str, conversation_id: str) -> list[Message]:
    """The customer's stored messages (detached), oldest first."""
    engine = make_engine(db_url)
    try:
        with session_scope(engine) as session:
            rows = list(
                session.execute(
                    select(Message)
                    .where(
                        Message.conversation_id == conversation_id,
                        Message.author == Author.CUSTOMER,
                    )
                    .order_by(Message.id)
                ).scalars()
            )
            session.expunge_all()
            return rows
    finally:
        engine.dispose()


def outbox_rows(db_url: str, channel: str) -> list[OutboxItem]:
    engine = make_engine(db_url)
    try:
        with session_scope(engine) as session:
            rows = list(
                session.execute(
                    select(OutboxItem).where(OutboxItem.channel == channel).order_by(OutboxItem.id)
                ).scalars()
            )
            session.expunge_all()
            return rows
    finally:
        engine.dispose()
