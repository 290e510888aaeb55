"""Telegram end to end through python-telegram-bot against the local Bot API stand-in:
polling and webhook, attachments, groups, buttons, rate limits; and sending alone.
(Splitting text and numbering buttons, plain functions, are in tests/unit/test_split_text.py.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bot.fakes.telegram import FakeTelegram
from tests.e2e.servers import Servers, eventually, free_port, relais_app

pytestmark = pytest.mark.slow
JAMES = 100002  # James Miller's Telegram id in the demo records
CAMILLE = 777001  # a Telegram user no other test writes as


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    telegram = FakeTelegram()
    telegram.start_in_thread(free_port())
    yield telegram
    telegram.stop()


def test_polling_conversation_with_attachments_groups_buttons_and_rate_limits(
    fake: FakeTelegram, servers: Servers, own_seeded_url: str, tmp_path: Path
) -> None:
    env = {
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_URL": fake.url,
        "TELEGRAM_MODE": "polling",
    }
    with relais_app(tmp_path, own_seeded_url, servers.rasa_url, env):
        fake.customer_text(JAMES, "is my flight on time?")
        eventually(lambda: any("XY123" in t for t in fake.texts_to(JAMES)))
        assert len(fake.texts_to(JAMES)) == 1

        # A group gets one note about writing privately, however often it is written in.
        fake.customer_text(4242, "hello support", chat_type="group")
        fake.customer_text(4242, "anyone?", chat_type="group")
        eventually(lambda: len(fake.texts_to(-100 - 4242)) == 1)
        time.sleep(1.5)
        assert len(fake.texts_to(-100 - 4242)) == 1

        # A photo without words: stored with its file id, and the customer is asked about it.
        before = len(fake.texts_to(JAMES))
        fake.customer_photo(JAMES)
        eventually(lambda: len(fake.texts_to(JAMES)) == before + 1)

        # Unknown update kinds and stickers never crash the channel.
        fake.unknown_update()
        fake.malformed_update()
        fake.customer_sticker(JAMES)
        eventually(lambda: len(fake.texts_to(JAMES)) >= before + 2)

        # 429 on the next two sends: the reply still arrives, once.
        fake.rate_limit_next(2, retry_after=1)
        before = len(fake.texts_to(JAMES))
        fake.customer_text(JAMES, "how many points do I have?")
        eventually(lambda: any("points" in t for t in fake.texts_to(JAMES)[before:]))
        time.sleep(2)
        after = fake.texts_to(JAMES)[before:]
        assert len(after) == len(set(after)) and sum("points" in t for t in after) == 1, after

        # A button press is answered and routed as its payload.
        before = len(fake.texts_to(JAMES))
        fake.press_button(JAMES, "/flight_status")
        eventually(lambda: len(fake.answered_callbacks) == 1 and len(fake.texts_to(JAMES)) > before)
        assert "XY123" in fake.texts_to(JAMES)[-1]


def test_sending_splits_long_text_and_turns_buttons_into_an_inline_keyboard(
    fake: FakeTelegram,
) -> None:
    import asyncio

    from bot.channels.telegram import TelegramChannel
    from bot.outbox import NotYet, Outgoing
    from relais.core.errors import SendFailed

    channel = TelegramChannel(fake.token, router=None, base_url=fake.url)  # type: ignore[arg-type]
    fake.start_chat(JAMES)  # Telegram refuses a chat that never wrote to the bot
    fake.start_chat(CAMILLE)

    async def run() -> None:
        await channel.start()
        long_text = ("Your bag is on its way to you. " * 300).strip()
        item = Outgoing(1, str(JAMES), long_text, [{"title": "Lyon", "payload": "/pick_lyon"}])
        ids: list[str] = []
        while len(ids) < 3:  # as the outbox does: one message a second in a chat
            try:
                ids += await channel.send(
                    Outgoing(item.outbox_id, item.recipient, item.text, item.buttons, len(ids))
                )
            except NotYet as held:
                ids += held.delivered
                await asyncio.sleep(held.retry_after or 0)
        assert len(ids) == 3
        sent = [s for s in fake.sent if s.chat_id == JAMES]
        assert [s.reply_markup is None for s in sent] == [True, True, False]
        assert sent[-1].reply_markup == {
            "inline_keyboard": [[{"text": "Lyon", "callback_data": "/pick_lyon"}]]
        }
        assert " ".join(s.text for s in sent) == long_text
        # A 429 in the middle: the pieces already out are reported, so a retry skips them.
        fake.rate_limit_next(1, retry_after=7)
        try:
            await channel.send(Outgoing(2, str(CAMILLE), "short", []))
        except SendFailed as error:
            assert error.retry_after == 7 and error.delivered == [] and not error.permanent
        else:
            raise AssertionError("a 429 must raise SendFailed")
        await channel.stop()

    asyncio.run(run())


def test_webhook_checks_the_secret_and_stores_each_update_once(
    fake: FakeTelegram, servers: Servers, own_seeded_url: str, tmp_path: Path
) -> None:
    env = {
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_URL": fake.url,
        "TELEGRAM_MODE": "webhook",
        "TELEGRAM_WEBHOOK_SECRET": "s3cret-token",
    }
    with relais_app(tmp_path, own_seeded_url, servers.rasa_url, env) as app:
        hook = f"{app}/telegram/webhook"
        fake.start_chat(CAMILLE)  # this test posts her update itself
        update = {
            "update_id": 77,
            "message": {
                "message_id": 9,
                "date": int(time.time()),
                "text": "hello",
                "chat": {"id": CAMILLE, "type": "private"},
                "from": {"id": CAMILLE, "is_bot": False, "first_name": "C"},
            },
        }
        assert requests.post(hook, json=update).status_code == 403
        assert (
            requests.post(
                hook, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}
            ).status_code
            == 403
        )
        good = {"X-Telegram-Bot-Api-Secret-Token": "s3cret-token"}
        assert requests.post(hook, data="{not json", headers=good).status_code == 400
        assert requests.post(hook, json={"hello": 1}, headers=good).status_code == 400
        first = requests.post(hook, json=update, headers=good)
        again = requests.post(hook, json=update, headers=good)  # Telegram retries a delivery
        assert (first.json()["outcome"], again.json()["outcome"]) == ("stored", "duplicate")
        eventually(lambda: len(fake.texts_to(CAMILLE)) == 1)
        time.sleep(1.5)
        assert len(fake.texts_to(CAMILLE)) == 1

        # Updates pushed by the stand-in itself, with the secret, arrive too.
        requests.post(
            f"{fake.url}/bot{fake.token}/setWebhook",
            data={"url": hook, "secret_token": "s3cret-token"},
        )
        fake.customer_text(CAMILLE, "merci !")
        eventually(lambda: len(fake.texts_to(CAMILLE)) == 2)
        assert fake.webhook_statuses[-1] == 200


def test_edits_albums_and_every_kind_of_content_as_telegram_sends_them(
    fake: FakeTelegram, servers: Servers, own_seeded_url: str, tmp_path: Path
) -> None:
    from relais.core.texts import say

    env = {
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_URL": fake.url,
        "TELEGRAM_MODE": "polling",
    }
    with relais_app(tmp_path, own_seeded_url, servers.rasa_url, env):
        # An edit of an answered message: stored, not answered again.
        asked = fake.customer_text(JAMES, "is my flight on tme?")
        eventually(lambda: len(fake.texts_to(JAMES)) == 1)
        fake.customer_edit(asked, "is my flight on time?")
        # An album: one question about all its photos.
        fake.customer_album(CAMILLE, 3)
        eventually(lambda: len(fake.texts_to(CAMILLE)) == 1)
        assert fake.texts_to(CAMILLE)[0] in [
            say("attachment.question_many", lang, things=say("attachment.kinds.photo", lang))
            for lang in ("en", "fr")
        ]
        # A video and a dice roll, from two other chats; a poll is ignored.
        fake.customer_video(CAMILLE + 1)
        fake.customer_dice(CAMILLE + 2)
        fake.customer_poll(CAMILLE + 3)
        eventually(lambda: bool(fake.texts_to(CAMILLE + 1)) and bool(fake.texts_to(CAMILLE + 2)))
        assert "vid" in fake.texts_to(CAMILLE + 1)[0]  # video / vidéo
        assert fake.texts_to(CAMILLE + 2)[0] in [
            say("attachment.unusable", lang, thing=say("attachment.unusable.dice", lang))
            for lang in ("en", "fr")
        ]
        time.sleep(2)
        assert len(fake.texts_to(JAMES)) == 1 and len(fake.texts_to(CAMILLE)) == 1
        assert fake.texts_to(CAMILLE + 3) == []
