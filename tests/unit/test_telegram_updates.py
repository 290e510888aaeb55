"""Telegram updates as the Bot API sends them (built by the stand-in, read without a server):
every kind of content a private chat carries, edits, albums, button presses, and what
Telegram refuses of ours (callback_data in bytes, the webhook secret's characters)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from bot.channels.config import check_webhook_secret, telegram_settings
from bot.channels.telegram import TelegramChannel, callback_data
from bot.fakes.telegram import FakeTelegram
from relais.core.errors import ConfigError

CHAT = 424242
NOW = datetime(2026, 12, 5, 9, 30, tzinfo=timezone.utc)


@pytest.fixture
def fake() -> FakeTelegram:
    return FakeTelegram(clock=lambda: NOW.timestamp())  # never started: it only builds updates


@pytest.fixture
def channel(fake: FakeTelegram) -> TelegramChannel:
    return TelegramChannel(fake.token, router=None, clock=lambda: NOW.timestamp())  # type: ignore[arg-type]


def last(fake: FakeTelegram) -> dict[str, Any]:
    return fake.updates[-1]


@pytest.mark.parametrize(
    ("send", "kind", "ref"),
    [
        (FakeTelegram.customer_photo, "photo", f"large-{CHAT}"),
        (FakeTelegram.customer_video, "video", f"video-{CHAT}"),
        (FakeTelegram.customer_video_note, "video_note", f"note-{CHAT}"),
        (FakeTelegram.customer_audio, "audio", f"audio-{CHAT}"),
        (FakeTelegram.customer_voice, "voice", f"voice-{CHAT}"),
        (FakeTelegram.customer_animation, "animation", f"gif-{CHAT}"),
        (FakeTelegram.customer_sticker, "sticker", "sticker-1"),
    ],
)
def test_every_file_a_private_chat_carries_is_kept_once_with_its_file_id(
    fake: FakeTelegram, channel: TelegramChannel, send: Any, kind: str, ref: str
) -> None:
    send(fake, CHAT)
    inbound = channel.parse(last(fake)).inbound
    assert inbound is not None
    # An animation also fills `document` for older clients: one attachment, not two.
    assert [(a["kind"], a["ref"]) for a in inbound.attachments] == [(kind, ref)]


def test_places_and_contacts_are_kept_with_what_an_agent_needs(
    fake: FakeTelegram, channel: TelegramChannel
) -> None:
    fake.customer_contact(CHAT)
    contact = channel.parse(last(fake)).inbound
    assert contact is not None and contact.attachments == (
        {"kind": "contact", "name": "Camille Dubois", "phone": "+33612345678", "user_id": None},
    )
    fake.customer_message(
        CHAT,
        venue={
            "location": {"latitude": 48.86, "longitude": 2.35},
            "title": "Gate B32",
            "address": "Terminal 2E",
        },
        location={"latitude": 48.86, "longitude": 2.35},  # filled too, for older clients
    )
    venue = channel.parse(last(fake)).inbound
    assert venue is not None and [a["kind"] for a in venue.attachments] == ["venue"]
    fake.customer_location(CHAT, live_period=900)
    live = channel.parse(last(fake)).inbound
    assert live is not None and live.attachments[0]["live_s"] == 900


def test_kinds_relais_cannot_use_are_stored_to_be_answered_and_polls_and_service_ignored(
    fake: FakeTelegram, channel: TelegramChannel
) -> None:
    fake.customer_dice(CHAT)
    dice = channel.parse(last(fake)).inbound
    assert dice is not None and dice.attachments == ({"kind": "dice", "kept": False},)
    fake.customer_poll(CHAT)
    poll = channel.parse(last(fake))
    assert poll.inbound is None and "poll" in (poll.ignored or "")
    fake.service_message(CHAT)
    service = channel.parse(last(fake))
    assert service.inbound is None and service.ignored == "service message (pinned_message)"


def test_an_edit_names_the_message_it_changes_and_when(
    fake: FakeTelegram, channel: TelegramChannel
) -> None:
    first = fake.customer_text(CHAT, "is my flight on tme?")
    original = channel.parse(last(fake)).inbound
    fake.customer_edit(first, "is my flight on time?")
    edit = channel.parse(last(fake))
    assert edit.edit and edit.inbound is not None and original is not None
    assert edit.inbound.platform_id == original.platform_id
    assert edit.inbound.text == "is my flight on time?"
    assert edit.edited_at == NOW.replace(tzinfo=None) + timedelta(seconds=1)


def test_an_albums_photos_share_one_album_id(fake: FakeTelegram, channel: TelegramChannel) -> None:
    fake.customer_album(CHAT, 3, caption="my bag")
    parsed = [channel.parse(u).inbound for u in fake.updates]
    albums = {p.album for p in parsed if p is not None}
    assert len(albums) == 1 and None not in albums
    assert [p.text for p in parsed if p is not None] == ["my bag", "", ""]


def test_a_button_press_is_dated_when_it_arrives_not_when_the_prompt_was_sent(
    fake: FakeTelegram, channel: TelegramChannel
) -> None:
    fake.press_button(CHAT, "/flight_status", age_s=2 * 86400)
    old_prompt = channel.parse(last(fake))
    fake.press_button(CHAT, "/flight_status", inaccessible=True)
    gone = channel.parse(last(fake))
    for parsed in (old_prompt, gone):
        assert parsed.inbound is not None and parsed.answer_callback
        assert parsed.inbound.sent_at == NOW.replace(tzinfo=None)  # not 2 days ago, not 1970


def test_callback_data_is_counted_in_bytes_and_never_empty() -> None:
    assert callback_data({"payload": "/pick_lyon", "title": "Lyon"}, 1) == "/pick_lyon"
    fits = "é" * 32  # 32 characters, 64 bytes: fits
    assert callback_data({"payload": fits}, 1) == fits
    too_long = "é" * 40  # 40 characters but 80 bytes: Telegram refuses it
    assert callback_data({"payload": too_long}, 2) == "relais-button:2"
    assert callback_data({"payload": "", "title": "Yes"}, 3) == "Yes"
    assert callback_data({"payload": "", "title": ""}, 4) == "relais-button:4"


@pytest.mark.parametrize("secret", ["s3cret-token", "A_b-9", "x" * 256])
def test_webhook_secrets_telegram_accepts(secret: str) -> None:
    assert check_webhook_secret(secret) == secret


@pytest.mark.parametrize("secret", ["has space", "s3cret!", "é", "x" * 257, "a=b"])
def test_a_webhook_secret_telegram_would_refuse_stops_the_configuration(secret: str) -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET must be 1-256"):
        telegram_settings(
            {
                "TELEGRAM_BOT_TOKEN": "123:abc",
                "TELEGRAM_MODE": "webhook",
                "TELEGRAM_WEBHOOK_SECRET": secret,
            }
        )
