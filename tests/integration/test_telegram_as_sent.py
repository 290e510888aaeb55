"""Telegram as it really behaves, against the stricter stand-in (bot/fakes/telegram.py), with
the app in this process and Rasa in memory, on SQLite and PostgreSQL: edits, albums, every
kind of content, button presses, the polling offset, and what Telegram refuses."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from bot.channels.telegram import ALLOWED_UPDATES, TelegramChannel
from bot.fakes.telegram import FakeTelegram
from bot.outbox import Outgoing
from relais.core.errors import ConfigError, SendFailed
from relais.core.texts import say
from relais.core.types import Delivery
from relais.storage.db import create_all, make_engine, session_scope
from tests.e2e.servers import free_port
from tests.integration.channel_app import (
    app_client,
    customer_messages,
    outbox_rows,
    telegram_on,
    until,
)
from tests.unit.fakes import FakeRasa

CHAT = 731_001


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    telegram = FakeTelegram()
    telegram.start_in_thread(free_port())
    yield telegram
    telegram.stop()


def test_an_edit_changes_the_stored_message_and_is_not_answered_twice(
    fake: FakeTelegram, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    telegram_on(monkeypatch, fake)

    async def run() -> None:
        async with app_client(monkeypatch, db_url):
            first = fake.customer_text(CHAT, "is my flight on tme?")
            await until(lambda: fake.texts_to(CHAT) == ["echo: is my flight on tme?"])
            fake.customer_edit(first, "is my flight on time?")
            # A second edit shares the first's id: it is applied too, not dropped.
            fake.customer_edit(first, "is my flight XY123 on time?")
            conversation = f"telegram:{CHAT}"
            await until(
                lambda: (
                    customer_messages(db_url, conversation)[0].text == "is my flight XY123 on time?"
                )
            )
            await asyncio.sleep(1.0)
            assert fake.texts_to(CHAT) == ["echo: is my flight on tme?"]  # answered once
            (stored,) = customer_messages(db_url, conversation)
            assert [e["text"] for e in stored.details["edits"]] == [
                "is my flight on tme?",
                "is my flight on time?",
            ]

    asyncio.run(run())


def test_an_edit_of_a_message_still_waiting_is_what_gets_answered(
    fake: FakeTelegram, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    telegram_on(monkeypatch, fake)
    rasa = FakeRasa()
    gate = asyncio.Event()

    async def hold(text: str) -> None:
        if text == "first question":
            await gate.wait()  # Rasa is busy with it while the customer writes and edits

    rasa.on_send = hold

    async def run() -> None:
        async with app_client(monkeypatch, db_url, rasa):
            fake.customer_text(CHAT, "first question")
            await until(lambda: len(rasa.sent) == 1)
            typo = fake.customer_text(CHAT, "how many bgas can I take?")
            await until(lambda: len(customer_messages(db_url, f"telegram:{CHAT}")) == 2)
            fake.customer_edit(typo, "how many bags can I take?")
            await until(
                lambda: (
                    customer_messages(db_url, f"telegram:{CHAT}")[1].text
                    == "how many bags can I take?"
                )
            )
            gate.set()
            await until(lambda: len(fake.texts_to(CHAT)) == 2)
            await asyncio.sleep(1.0)
            assert fake.texts_to(CHAT) == [
                "echo: first question",
                "echo: how many bags can I take?",
            ]

    asyncio.run(run())


def test_a_live_location_moving_is_asked_about_once_and_agents_see_where_it_is(
    fake: FakeTelegram, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    telegram_on(monkeypatch, fake)

    async def run() -> None:
        async with app_client(monkeypatch, db_url):
            shared = fake.customer_location(CHAT, live_period=900)
            await until(lambda: len(fake.texts_to(CHAT)) == 1)
            for step in range(1, 4):  # Telegram sends each move as an edit
                fake.customer_edit(
                    shared,
                    location={
                        "latitude": 49.01 + step / 100,
                        "longitude": 2.55,
                        "live_period": 900,
                    },
                )
            conversation = f"telegram:{CHAT}"
            await until(
                lambda: (
                    customer_messages(db_url, conversation)[0].attachments[0]["latitude"]
                    == pytest.approx(49.04)
                )
            )
            await asyncio.sleep(1.0)
            assert fake.texts_to(CHAT) == [say("attachment.question", "en", thing="location")]

    asyncio.run(run())


def test_an_album_is_one_message_with_every_photo_and_one_question(
    fake: FakeTelegram, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    telegram_on(monkeypatch, fake)

    async def run() -> None:
        async with app_client(monkeypatch, db_url):
            fake.customer_album(CHAT, 3)
            await until(lambda: len(fake.texts_to(CHAT)) == 1)
            await asyncio.sleep(1.5)
            assert fake.texts_to(CHAT) == [
                say("attachment.question_many", "en", things=say("attachment.kinds.photo", "en"))
            ]
            (album,) = customer_messages(db_url, f"telegram:{CHAT}")
            assert [a["ref"] for a in album.attachments] == [
                f"large-{CHAT}-0",
                f"large-{CHAT}-1",
                f"large-{CHAT}-2",
            ]

    asyncio.run(run())


def test_every_kind_a_private_chat_carries_is_kept_or_answered_and_polls_are_ignored(
    fake: FakeTelegram, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    telegram_on(monkeypatch, fake)
    sends = {
        "video": fake.customer_video,
        "video_note": fake.customer_video_note,
        "audio": fake.customer_audio,
        "voice": fake.customer_voice,
        "animation": fake.customer_animation,
        "contact": fake.customer_contact,
    }
    chats = {kind: CHAT + 10 + i for i, kind in enumerate(sends)}

    async def run() -> None:
        async with app_client(monkeypatch, db_url):
            for kind, send in sends.items():
                send(chats[kind])  # one chat each: no burst joins them
            fake.customer_dice(CHAT + 1)
            fake.customer_poll(CHAT + 2)
            fake.service_message(CHAT + 3)
            await until(lambda: all(fake.texts_to(chat) for chat in chats.values()))
            await until(lambda: bool(fake.texts_to(CHAT + 1)))
            await asyncio.sleep(1.0)
            for kind, chat in chats.items():
                (stored,) = customer_messages(db_url, f"telegram:{chat}")
                assert [a["kind"] for a in stored.attachments] == [kind]
                assert kind == "contact" or stored.attachments[0]["ref"]
                expected = say(
                    "attachment.question", "en", thing=say(f"attachment.kind.{kind}", "en")
                )
                assert fake.texts_to(chat) == [expected]
            assert fake.texts_to(CHAT + 1) == [
                say("attachment.unusable", "en", thing=say("attachment.unusable.dice", "en"))
            ]
            # A poll and a service message: nothing stored, nothing said.
            for chat in (CHAT + 2, CHAT + 3):
                assert customer_messages(db_url, f"telegram:{chat}") == []
                assert fake.texts_to(chat) == []

    asyncio.run(run())


def test_buttons_fit_in_64_bytes_and_presses_carry_their_own_time(
    fake: FakeTelegram, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    telegram_on(monkeypatch, fake)
    rasa = FakeRasa()
    long_payload = "/inform" + "é" * 40  # 47 characters, 87 bytes
    rasa.script(
        "which trip?",
        {
            "text": "Which trip?",
            "buttons": [
                {"title": "Lyon", "payload": long_payload},
                {"title": "Nice", "payload": "/pick_nice"},
                {"title": "Other", "payload": ""},
            ],
        },
    )

    async def run() -> None:
        async with app_client(monkeypatch, db_url, rasa):
            fake.customer_text(CHAT, "which trip?")
            await until(lambda: fake.texts_to(CHAT) == ["Which trip?"])
            (prompt,) = fake.sent_to(CHAT)
            data = [row[0]["callback_data"] for row in prompt.reply_markup["inline_keyboard"]]
            assert data == ["relais-button:1", "/pick_nice", "Other"]
            fake.press_button(CHAT, data[0], on=prompt)
            await until(lambda: len(rasa.sent) == 2)
            assert rasa.sent[-1].text == long_payload  # its payload, read back
            fake.press_button(CHAT, "/pick_nice", age_s=3 * 86400)
            fake.press_button(CHAT, "/pick_nice", inaccessible=True)
            await until(lambda: len(customer_messages(db_url, f"telegram:{CHAT}")) == 4)
            for press in customer_messages(db_url, f"telegram:{CHAT}")[2:]:
                # The press's own time (when it reached Relais): not the 3-day-old
                # prompt's, not 1970.
                assert abs((press.sent_at - press.created_at).total_seconds()) < 5

    asyncio.run(run())


def test_a_stored_offset_past_telegrams_guarantees_drops_no_update(
    fake: FakeTelegram, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Relais stopped two days ago at a high offset; Telegram has since chosen new, lower ids
    # (it does after a week without updates). Trusting the offset would confirm them unseen.
    engine = make_engine(db_url)
    create_all(engine)
    bot_id = fake.token.split(":")[0]
    with session_scope(engine) as session:
        from bot.channels.common import set_state

        stale = json.dumps({"offset": 95_000_000, "at": time.time() - 2 * 86400})
        set_state(session, "telegram", f"offset:{bot_id}", stale)
    engine.dispose()
    fake.restart_update_ids(1_000)
    telegram_on(monkeypatch, fake)

    async def run() -> None:
        async with app_client(monkeypatch, db_url):
            fake.customer_text(CHAT, "hello after a long silence")
            await until(lambda: fake.texts_to(CHAT) == ["echo: hello after a long silence"])

    asyncio.run(run())


def test_allowed_updates_are_asked_for_and_what_else_telegram_has_never_arrives(
    fake: FakeTelegram, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    telegram_on(monkeypatch, fake)

    async def run() -> None:
        async with app_client(monkeypatch, db_url):
            await until(lambda: fake.allowed_updates == ALLOWED_UPDATES)
            fake.reaction(CHAT)
            fake.customer_text(CHAT, "hello")
            await until(lambda: fake.texts_to(CHAT) == ["echo: hello"])
            assert fake.updates == []  # the reaction was never asked for, nor delivered

    asyncio.run(run())


def test_reply_texts_reach_telegram_as_written_not_as_json(
    fake: FakeTelegram, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    telegram_on(monkeypatch, fake)
    rasa = FakeRasa()
    for word in ("null", "123", "true"):
        rasa.script(f"say {word}", {"text": word})

    async def run() -> None:
        async with app_client(monkeypatch, db_url, rasa):
            for i, word in enumerate(("null", "123", "true")):
                fake.customer_text(CHAT + i, f"say {word}")
            await until(lambda: all(fake.texts_to(CHAT + i) for i in range(3)))
            assert [fake.texts_to(CHAT + i) for i in range(3)] == [["null"], ["123"], ["true"]]

    asyncio.run(run())


def test_replies_keep_telegrams_pace_in_a_chat_without_a_429(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeTelegram(pace=True)  # one message a second in a chat, or 429
    fake.start_in_thread(free_port())
    telegram_on(monkeypatch, fake)
    rasa = FakeRasa()
    long_reply = ("Your bag is on its way to you. " * 300).strip()  # three pieces
    rasa.script("where is my bag?", {"text": long_reply}, {"text": "Anything else?"})
    try:

        async def run() -> None:
            async with app_client(monkeypatch, db_url, rasa):
                fake.customer_text(CHAT, "where is my bag?")
                await until(lambda: len(fake.texts_to(CHAT)) == 4)
                texts = fake.texts_to(CHAT)
                assert " ".join(texts[:3]) == long_reply and texts[3] == "Anything else?"
                assert fake.refused_for_pace == 0
                times = [s.date for s in fake.sent_to(CHAT)]
                assert times == sorted(times)

        asyncio.run(run())
    finally:
        fake.stop()


def test_a_user_who_blocked_the_bot_fails_for_good_and_others_are_answered(
    fake: FakeTelegram, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    telegram_on(monkeypatch, fake)

    async def run() -> None:
        async with app_client(monkeypatch, db_url):
            fake.customer_text(CHAT, "hello")
            fake.block(CHAT)  # then blocks the bot before the reply
            fake.customer_text(CHAT + 1, "hello")
            await until(lambda: fake.texts_to(CHAT + 1) == ["echo: hello"])
            await until(
                lambda: (
                    [r.status for r in outbox_rows(db_url, "telegram")].count(Delivery.FAILED) == 1
                )
            )
            (failed,) = [r for r in outbox_rows(db_url, "telegram") if r.recipient == str(CHAT)]
            assert failed.attempts == 1 and "blocked" in failed.last_error

    asyncio.run(run())


def test_telegram_refuses_a_chat_that_never_wrote_and_a_second_poller_shows(
    fake: FakeTelegram, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = TelegramChannel(fake.token, router=None, base_url=fake.url)  # type: ignore[arg-type]

    async def send() -> None:
        await channel.start()
        with pytest.raises(SendFailed) as refused:
            await channel.send(Outgoing(1, "555", "hello", []))
        assert refused.value.permanent and "chat not found" in str(refused.value).lower()
        await channel.stop()

    asyncio.run(send())

    telegram_on(monkeypatch, fake)
    stop = threading.Event()

    def other_poller() -> None:  # a second process with the same token
        while not stop.is_set():
            requests.post(f"{fake.url}/bot{fake.token}/getUpdates", data={"timeout": "1"})

    async def run() -> None:
        async with app_client(monkeypatch, db_url) as client:
            thread = threading.Thread(target=other_poller, daemon=True)
            thread.start()
            seen: list[str] = []

            async def conflict_shown() -> bool:
                report = await (await client.get("/healthz")).json()
                seen.append(report["channels"]["telegram"])
                return "another process polls this bot" in seen[-1]

            deadline = time.monotonic() + 20
            while not await conflict_shown():
                assert time.monotonic() < deadline, seen
                await asyncio.sleep(0.2)
            stop.set()
            thread.join(5)
            assert fake.conflicts > 0

    asyncio.run(run())


def test_a_webhook_secret_telegram_refuses_stops_the_channel_at_once(fake: FakeTelegram) -> None:
    with pytest.raises(ConfigError, match="A-Z a-z 0-9 _ -"):
        TelegramChannel(fake.token, router=None, webhook_secret="my secret!")  # type: ignore[arg-type]
    # And Telegram itself refuses it, as the stand-in does.
    answer = requests.post(
        f"{fake.url}/bot{fake.token}/setWebhook",
        data={"url": "https://example.com/hook", "secret_token": "my secret!"},
    )
    assert answer.status_code == 400 and "unallowed characters" in answer.json()["description"]
