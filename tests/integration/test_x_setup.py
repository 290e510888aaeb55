"""`relais x setup` against the X stand-in, with the app in this process answering X's CRC:
a dry run changes nothing, a run registers the webhook and subscribes the account, a second
run finds everything in place; and what X refuses is said in a sentence."""

from __future__ import annotations

import asyncio
import dataclasses
import io
from collections.abc import Iterator

import pytest

from bot.channels.config import XSettings
from bot.fakes.x import FakeX
from relais.tools.x_setup import setup
from tests.e2e.servers import free_port
from tests.integration.channel_app import X_LIMITS, app_client, x_on


@pytest.fixture
def fake() -> Iterator[FakeX]:
    x = FakeX()
    x.start_in_thread(free_port())
    yield x
    x.stop()


def settings_for(fake: FakeX) -> XSettings:
    return XSettings(
        fake.account_id,
        fake.consumer_key,
        fake.consumer_secret,
        "token",
        "token-secret",
        "webhook",
        fake.url,
        X_LIMITS,
    )


def test_setup_registers_the_webhook_and_subscribes_the_account_once(
    fake: FakeX, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    x_on(monkeypatch, fake)

    async def run() -> None:
        async with app_client(monkeypatch, db_url) as client:
            url = str(client.make_url("/x/webhook"))

            async def relais_x_setup(**options: bool) -> tuple[int, str]:
                out = io.StringIO()
                code = await asyncio.to_thread(setup, settings_for(fake), url, out=out, **options)
                return code, out.getvalue()

            code, said = await relais_x_setup(dry_run=True)
            assert code == 0 and fake.webhooks == {} and fake.crc_checks == []
            assert f"would register webhook {url}" in said
            assert "would subscribe account 999111" in said

            code, said = await relais_x_setup()
            assert code == 0, said
            (webhook,) = fake.webhooks.values()
            assert webhook["url"] == url and webhook["valid"]
            assert fake.crc_checks == [url]  # X checked the app's CRC answer
            assert fake.subscriptions[webhook["id"]] == {fake.account_id}
            assert "registered now" in said and "subscribed now" in said

            code, said = await relais_x_setup()  # again: nothing to change
            assert code == 0 and len(fake.webhooks) == 1
            assert "registered already" in said and "subscribed already" in said

    asyncio.run(run())


def test_what_x_refuses_is_said_and_another_webhook_is_replaced_only_when_asked(
    fake: FakeX, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    x_on(monkeypatch, fake)
    fake.webhooks["1"] = {"id": "1", "url": "http://127.0.0.1:1/old", "valid": False}

    async def run() -> None:
        async with app_client(monkeypatch, db_url) as client:
            url = str(client.make_url("/x/webhook"))
            settings = settings_for(fake)
            wrong = dataclasses.replace(settings, consumer_secret="not-the-secret")
            assert await asyncio.to_thread(setup, wrong, url, out=io.StringIO()) == 2
            assert "X refused the consumer key and secret" in capsys.readouterr().err
            assert await asyncio.to_thread(setup, settings, url, out=io.StringIO()) == 2
            assert "run again with --replace" in capsys.readouterr().err
            out = io.StringIO()
            assert await asyncio.to_thread(setup, settings, url, replace=True, out=out) == 0
            assert [w["url"] for w in fake.webhooks.values()] == [url]

    asyncio.run(run())


def test_a_real_x_address_must_be_https_without_a_port(
    capsys: pytest.CaptureFixture[str],
) -> None:
    real = dataclasses.replace(settings_for(FakeX()), api_url=None)
    assert setup(real, "http://support.example.com:8000/x/webhook", out=io.StringIO()) == 2
    assert "https address without a port" in capsys.readouterr().err
