"""Telegram, through python-telegram-bot: webhook or polling in, Bot API calls out.

In: an update is parsed with the library (`Update.de_json`), turned into an `Inbound` and
stored before it is acknowledged (webhook: before the HTTP 200; polling: before the offset
moves on, and the offset itself is persisted). Private chats only: a group gets one short
note saying how to reach support privately, then nothing.

What a customer sends, as Telegram sends it:
- every kind of file or place a private chat carries (photo, video, GIF, video message,
  audio, voice note, file, sticker, location, venue, contact) is kept as an attachment with
  its file id, for agents; kinds Relais cannot use (a dice roll, a game, a story, paid
  media…) are stored as such and answered with one sentence; polls and service messages
  (a pinned message, a payment…) are ignored with a log line;
- an edit (`edited_message`, also how a live location moves) changes the stored message:
  agents see the new text, and the bot answers it only if the original was still waiting;
- an album (several photos sent together, one update each with one `media_group_id`) is one
  message with all its attachments, answered once;
- a button press (callback query) is answered, and stored with the time it arrived (Telegram
  gives it none).
The polling offset is trusted only as long as Telegram's own guarantees last: unconfirmed
updates are kept 24 hours, and after a week without updates the ids may start again lower,
where an old offset would confirm (and so drop) the new updates unseen.

Out: text split at 4,096 characters, buttons as an inline keyboard on the last piece, at
most one message a second per chat and 30 a second in all (Telegram's documented pace);
`callback_data` is 1-64 bytes, so a payload that does not fit travels as the button's number.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.channels.common import get_state, set_state, split_text
from bot.channels.config import check_webhook_secret
from bot.outbox import NotYet, Outgoing
from bot.pacing import LocalPace
from bot.router import Router
from relais.core.errors import SendFailed
from relais.core.http import json_error
from relais.core.pacing import Limit, describe
from relais.core.texts import LANGUAGES, say
from relais.core.untrusted import for_log
from relais.storage.db import run_atomic
from relais.storage.messages import Inbound, bot_message_for_platform_id

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
MAX_TEXT = 4096
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: callback_data holds 1-64 bytes (not characters).
MAX_CALLBACK_BYTES = 64
#: What the button's number travels as when its payload does not fit in callback_data.
BUTTON_NUMBER = re.compile(r"relais-button:(\d{1,3})")
#: The updates Relais asks for (setWebhook and getUpdates remember them).
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
#: Telegram keeps unconfirmed updates this long; an offset older than that vouches for
#: nothing (and after a week without updates the ids may start again, lower).
OFFSET_TRUSTED_S = 24 * 3600.0
#: Telegram's documented pace: about one message a second in a chat, 30 a second in all.
PER_CHAT = (Limit(1, 1.0),)
OVERALL = (Limit(30, 1.0),)
#: A wait this short is slept through; a longer one hands the entry back to the outbox.
SLEEP_AT_MOST_S = 0.25

#: What a private chat may carry that Relais keeps (with its file id), by the update's field.
KEPT = (
    "photo",
    "video",
    "animation",
    "document",
    "audio",
    "voice",
    "video_note",
    "sticker",
    "venue",
    "location",
    "contact",
)
#: Kinds Relais stores and answers with one sentence, keeping nothing of them.
UNUSABLE = (
    "dice",
    "game",
    "story",
    "paid_media",
    "checklist",
    "invoice",
    "giveaway",
    "passport_data",
)
#: A message's fields that are not its content (what is left names a service message).
_NOT_CONTENT = {
    "message_id",
    "message_thread_id",
    "from",
    "sender_chat",
    "sender_boost_count",
    "sender_business_bot",
    "sender_tag",
    "date",
    "business_connection_id",
    "chat",
    "forward_origin",
    "is_topic_message",
    "is_automatic_forward",
    "reply_to_message",
    "external_reply",
    "quote",
    "reply_to_story",
    "reply_to_checklist_task_id",
    "via_bot",
    "edit_date",
    "has_protected_content",
    "is_from_offline",
    "is_paid_post",
    "media_group_id",
    "author_signature",
    "paid_star_count",
    "text",
    "entities",
    "caption",
    "caption_entities",
    "link_preview_options",
    "effect_id",
    "show_caption_above_media",
    "has_media_spoiler",
    "reply_markup",
}


def group_note() -> str:
    """The one note a group gets, in every language: a group chat has no language of its own."""
    return " / ".join(say("telegram.group_note", lang) for lang in LANGUAGES)


def attachments_of(message: Message, raw: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The files, places and contacts in a Telegram message, by kind, with what an agent
    needs (a file id to fetch it). One entry per thing sent: an animation also fills
    `document`, and a venue `location`, for older clients; those copies are left out.
    Durations come from the update's own JSON (`raw`), in seconds as Telegram sends them."""
    raw = raw or {}

    def seconds(kind: str, name: str = "duration") -> float | None:
        value = (raw.get(kind) or {}).get(name)
        return float(value) if isinstance(value, (int, float)) else None

    found: list[dict[str, Any]] = []
    if message.photo:
        largest = max(message.photo, key=lambda p: (p.width or 0) * (p.height or 0))
        found.append({"kind": "photo", "ref": largest.file_id, "unique": largest.file_unique_id})
    if message.video:
        v = message.video
        found.append(
            {
                "kind": "video",
                "ref": v.file_id,
                "seconds": seconds("video"),
                "name": v.file_name,
                "mime": v.mime_type,
            }
        )
    if message.animation:
        gif = message.animation
        found.append({"kind": "animation", "ref": gif.file_id, "name": gif.file_name})
    elif message.document:
        d = message.document
        found.append(
            {"kind": "document", "ref": d.file_id, "name": d.file_name, "mime": d.mime_type}
        )
    if message.audio:
        a = message.audio
        found.append(
            {
                "kind": "audio",
                "ref": a.file_id,
                "seconds": seconds("audio"),
                "name": a.file_name or " - ".join(x for x in (a.performer, a.title) if x),
            }
        )
    if message.voice:
        found.append(
            {
                "kind": "voice",
                "ref": message.voice.file_id,
                "seconds": seconds("voice"),
            }
        )
    if message.video_note:
        n = message.video_note
        found.append({"kind": "video_note", "ref": n.file_id, "seconds": seconds("video_note")})
    if message.sticker:
        found.append(
            {"kind": "sticker", "ref": message.sticker.file_id, "emoji": message.sticker.emoji}
        )
    if message.venue:
        venue = message.venue
        found.append(
            {
                "kind": "venue",
                "latitude": venue.location.latitude,
                "longitude": venue.location.longitude,
                "name": venue.title,
                "address": venue.address,
            }
        )
    elif message.location:
        place = message.location
        found.append(
            {
                "kind": "location",
                "latitude": place.latitude,
                "longitude": place.longitude,
                # A live location: its edits move it for as long as this lasts.
                **({"live_s": live} if (live := seconds("location", "live_period")) else {}),
            }
        )
    if message.contact:
        c = message.contact
        found.append(
            {
                "kind": "contact",
                "name": " ".join(x for x in (c.first_name, c.last_name) if x),
                "phone": c.phone_number,
                "user_id": c.user_id,
            }
        )
    return found


def callback_data(button: dict[str, Any], number: int) -> str:
    """What a button carries back when pressed: its payload when that is 1-64 bytes (as
    Telegram counts), else its number among the message's buttons (read back by `take`)."""
    payload = str(button.get("payload") or button.get("title") or "")
    if 0 < len(payload.encode("utf-8")) <= MAX_CALLBACK_BYTES:
        return payload
    return f"relais-button:{number}"


def _seconds(value: float | timedelta | None) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


@dataclass
class Parsed:
    """What one update asks of the channel."""

    inbound: Inbound | None = None
    #: The update is an edit of `inbound`'s message, made at this time.
    edit: bool = False
    edited_at: datetime | None = None
    #: A callback query to answer (a button press).
    answer_callback: str | None = None
    #: The Telegram message a pressed button was on (to read its number back).
    pressed_on: str | None = None
    #: A group chat to send the group note to, once.
    group: int | None = None
    #: Why nothing is stored (logged).
    ignored: str | None = None


class TelegramChannel:
    name = CHANNEL

    def __init__(
        self,
        token: str,
        router: Router,
        webhook_secret: str | None = None,
        base_url: str | None = None,
        webhook_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not token:
            raise ValueError("a Telegram bot token is needed")
        if webhook_secret is not None:
            check_webhook_secret(webhook_secret)
        self.router = router
        self.secret = webhook_secret
        self.webhook_url = webhook_url
        #: Epoch seconds: when the persisted offset was written, and whether it still holds.
        self.clock = clock
        kwargs: dict[str, Any] = {}
        if base_url:
            kwargs["base_url"] = base_url.rstrip("/") + "/bot"
            kwargs["base_file_url"] = base_url.rstrip("/") + "/file/bot"
        self.bot = Bot(token, **kwargs)
        self.pace = LocalPace(PER_CHAT, OVERALL)
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Why polling keeps failing, while it does (bot/web.py's /healthz shows it).
        self.problem: str | None = None

    #: Shown by /healthz beside the replies waiting.
    limits = f"{describe(PER_CHAT)} in a chat, {describe(OVERALL)} in all"

    async def start(self) -> None:
        await self.bot.initialize()  # getMe: fails early on a wrong token
        if self.webhook_url:
            await self.bot.set_webhook(
                self.webhook_url, secret_token=self.secret, allowed_updates=ALLOWED_UPDATES
            )
            logger.info("telegram: webhook set to %s", self.webhook_url)

    async def stop(self) -> None:
        await self.bot.shutdown()

    # --- in --------------------------------------------------------------------------------

    def parse(self, data: dict[str, Any]) -> Parsed:
        """What to do with one update (see `Parsed`)."""
        raw = data.get("message") or data.get("edited_message")
        if isinstance(raw, dict) and raw.get("poll") is not None:
            # Before the library reads it: a poll is none of ours, whatever its shape.
            return Parsed(ignored="a poll (Relais does not take part in polls)")
        update = Update.de_json(data, self.bot)
        if update is None:
            return Parsed(ignored="empty update")
        if update.callback_query is not None:
            return self._parse_press(update)
        message = update.message or update.edited_message
        if message is None:
            kinds = ", ".join(k for k in data if k != "update_id")
            return Parsed(ignored=f"update kind not handled ({kinds})")
        edited = update.edited_message is not None
        if message.chat.type != "private":
            # A group hears from us once, however often it writes (or edits).
            return Parsed(ignored="group chat edit") if edited else Parsed(group=message.chat.id)
        if message.from_user is None:
            return Parsed(ignored="no sender")
        raw = data.get("edited_message" if edited else "message") or {}
        text = message.text or message.caption or ""
        attachments = attachments_of(message, raw)
        if not attachments:
            unusable = next((k for k in UNUSABLE if raw.get(k) is not None), None)
            if unusable is not None:
                attachments = [{"kind": unusable, "kept": False}]
            elif not text:
                rest = sorted(k for k in raw if k not in _NOT_CONTENT)
                return Parsed(ignored=f"service message ({', '.join(rest) or 'empty'})")
        chat = message.chat.id
        return Parsed(
            inbound=Inbound(
                channel=CHANNEL,
                sender=str(message.from_user.id),
                platform_id=f"{chat}:{message.message_id}",
                text=text,
                attachments=attachments,
                sent_at=_naive(message.date),
                album=f"{chat}:album:{message.media_group_id}" if message.media_group_id else None,
            ),
            edit=edited,
            edited_at=_naive(message.edit_date) if edited else None,
        )

    def _parse_press(self, update: Update) -> Parsed:
        query = update.callback_query
        assert query is not None
        chat = query.message.chat if query.message else None
        if chat is not None and chat.type != "private":
            return Parsed(answer_callback=query.id, ignored="group callback")
        if not query.data:  # a game's button: nothing of ours
            return Parsed(answer_callback=query.id, ignored="callback without data")
        return Parsed(
            inbound=Inbound(
                channel=CHANNEL,
                sender=str(query.from_user.id),
                platform_id=f"cb:{query.id}",
                text=query.data,
                # Telegram dates a press with nothing: it happened as it reached us (the
                # message it was on may be days old, or dated 1970 when no longer accessible).
                sent_at=_naive(datetime.fromtimestamp(self.clock(), timezone.utc)),
            ),
            answer_callback=query.id,
            pressed_on=str(query.message.message_id) if query.message else None,
        )

    async def take(self, data: dict[str, Any]) -> str:
        """Stores one update (and routes it in the background); returns what happened."""
        try:
            parsed = self.parse(data)
        except (TelegramError, KeyError, TypeError, ValueError, AttributeError) as error:
            logger.warning("telegram: unreadable update %s: %s", data.get("update_id"), error)
            return "unreadable"
        if parsed.answer_callback is not None:
            self._spawn(self._answer_callback(parsed.answer_callback))
        if parsed.group is not None:
            await self._note_group_once(parsed.group)
            return "group"
        inbound = parsed.inbound
        if inbound is None:
            logger.info(  # the update's own keys are in it: one clean line
                "telegram: update %s ignored: %s", data.get("update_id"), for_log(parsed.ignored)
            )
            return "ignored"
        if parsed.pressed_on is not None and BUTTON_NUMBER.fullmatch(inbound.text):
            inbound = await self._button_payload(inbound, parsed.pressed_on)
        if parsed.edit:
            _, outcome = await self.router.store_edit(inbound, parsed.edited_at)
            if outcome in ("pending", "stored"):
                self._spawn(self.router.process(inbound.conversation_id))
            return f"edit: {outcome}"
        if inbound.album is not None:
            _, outcome = await self.router.store_album_item(inbound)
            created = outcome == "stored"
        else:
            _, created = await self.router.store(inbound)
            outcome = "stored" if created else "duplicate"
        if created:
            self._spawn(self.router.process(inbound.conversation_id))
        return outcome

    async def _button_payload(self, inbound: Inbound, pressed_on: str) -> Inbound:
        """A button whose payload did not fit in callback_data: its payload, read from the
        message it was on; else its number, which the router reads as that option."""
        number = int(BUTTON_NUMBER.fullmatch(inbound.text).group(1))  # type: ignore[union-attr]

        def read(session: Session) -> str | None:
            sent = bot_message_for_platform_id(session, inbound.conversation_id, pressed_on)
            buttons = list(sent.buttons or []) if sent is not None else []
            if 1 <= number <= len(buttons):
                chosen = buttons[number - 1]
                return str(chosen.get("payload") or chosen.get("title") or "")
            return None

        payload = await asyncio.to_thread(run_atomic, self.router.engine, read)
        return Inbound(
            channel=inbound.channel,
            sender=inbound.sender,
            platform_id=inbound.platform_id,
            text=payload or str(number),
            sent_at=inbound.sent_at,
        )

    def _spawn(self, coroutine: Coroutine[Any, Any, object]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer_callback(self, query_id: str) -> None:
        try:
            await self.bot.answer_callback_query(query_id)
        except TelegramError as error:  # an old query expires: nothing to do
            logger.info("telegram: callback %s not answered: %s", query_id, error)

    async def _note_group_once(self, chat_id: int) -> None:
        key = f"group-noted:{chat_id}"
        first = await asyncio.to_thread(
            run_atomic, self.router.engine, lambda s: _mark_once(s, key)
        )
        if first:
            try:
                await self.bot.send_message(chat_id, group_note())
            except TelegramError as error:
                logger.warning("telegram: group note to %s failed: %s", chat_id, error)

    async def webhook(self, request: web.Request) -> web.Response:
        """POST from Telegram: the secret header checked, the update stored, then 200."""
        given = request.headers.get(SECRET_HEADER, "")
        if not self.secret or not hmac.compare_digest(given.encode(), self.secret.encode()):
            logger.warning(
                "telegram webhook: wrong or missing secret token from %s", request.remote
            )
            raise json_error(403, "forbidden")
        try:
            data = await request.json()
        except ValueError:
            logger.warning("telegram webhook: body is not JSON")
            raise json_error(400, "the body must be JSON") from None
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            logger.warning("telegram webhook: not an update")
            raise json_error(400, "not a Telegram update")
        outcome = await self.take(data)
        return web.json_response({"ok": True, "outcome": outcome})

    async def _stored_offset(self, key: str) -> int | None:
        """The persisted offset, if Telegram's guarantees still cover it (see the module's
        docstring); None: start from the oldest update Telegram still has (any already
        handled is stored once)."""
        value = await asyncio.to_thread(
            run_atomic, self.router.engine, lambda s: get_state(s, CHANNEL, key)
        )
        if not value:
            return None
        try:
            found = json.loads(value)
            offset, at = int(found["offset"]), float(found["at"])
        except (ValueError, TypeError, KeyError):
            offset, at = int(value) if value.isdigit() else 0, 0.0  # before the time was kept
        age = self.clock() - at
        if age > OFFSET_TRUSTED_S:
            logger.info(
                "telegram polling: the stored offset %s is %s old, past Telegram's 24 hours: "
                "starting from the oldest update Telegram still has",
                offset,
                "of unknown age" if not at else f"{age / 3600:.0f} h",
            )
            return None
        return offset

    async def poll(self, stop: asyncio.Event, timeout: int = 25) -> None:
        """Long polling: stores each batch, then persists the next offset (at least once in,
        and the store drops repeats, so each update is handled once)."""
        # The position belongs to one bot: another token starts afresh.
        key = f"offset:{self.bot.id}"
        next_offset = await self._stored_offset(key)
        last_update = self.clock()
        await self.bot.delete_webhook()
        backoff = 1.0
        while not stop.is_set():
            if next_offset is not None and self.clock() - last_update > OFFSET_TRUSTED_S:
                # Past Telegram's 24 hours, unconfirmed updates are gone, and after a week
                # without updates the ids may start again lower: the offset is not trusted.
                next_offset = None
            try:
                # Raw JSON, parsed one update at a time in `take`: one update the library
                # cannot read must not hold back the others.
                params: dict[str, Any] = {"timeout": timeout, "allowed_updates": ALLOWED_UPDATES}
                if next_offset is not None:
                    params["offset"] = next_offset
                updates = await self.bot.do_api_request(
                    "getUpdates", api_kwargs=params, read_timeout=timeout + 10
                )
                backoff = 1.0
                self.problem = None
            except RetryAfter as error:
                await asyncio.sleep(_seconds(error.retry_after) or 1.0)
                continue
            except Conflict as error:
                logger.warning("telegram polling: %s (retry in %.0fs)", error, backoff)
                self.problem = (
                    "another process polls this bot (Telegram allows one getUpdates at a "
                    "time; several workers need TELEGRAM_MODE=webhook)"
                )
                await asyncio.sleep(backoff)
                backoff = min(60.0, backoff * 2)
                continue
            except TelegramError as error:
                logger.warning("telegram polling: %s (retry in %.0fs)", error, backoff)
                self.problem = f"getUpdates fails: {type(error).__name__}: {error}"[:200]
                await asyncio.sleep(backoff)
                backoff = min(60.0, backoff * 2)
                continue
            for update in updates or []:
                if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
                    logger.warning("telegram polling: not an update: %.200r", update)
                    continue
                await self.take(update)
                next_offset = update["update_id"] + 1
            if updates:
                last_update = self.clock()
                value = json.dumps({"offset": next_offset, "at": last_update})
                await asyncio.to_thread(
                    run_atomic,
                    self.router.engine,
                    lambda s, value=value: set_state(s, CHANNEL, key, value),
                )

    # --- out -------------------------------------------------------------------------------

    async def send(self, item: Outgoing) -> list[str]:
        pieces = split_text(item.text, MAX_TEXT) or [""]
        markup = None
        if item.buttons:
            markup = InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton(
                            str(b.get("title") or b.get("payload") or "…"),
                            callback_data=callback_data(b, number),
                        )
                    ]
                    for number, b in enumerate(item.buttons, start=1)
                ]
            )
        ids: list[str] = []
        chat = item.recipient
        try:
            for i, piece in enumerate(pieces):
                if i < item.already_sent:
                    continue
                await self._paced(chat, ids)
                last = i == len(pieces) - 1
                try:
                    sent = await self.bot.send_message(
                        int(chat), piece or "…", reply_markup=markup if last else None
                    )
                finally:
                    self.pace.settle(chat)
                ids.append(str(sent.message_id))
        except RetryAfter as error:
            wait = _seconds(error.retry_after) or 1.0
            self.pace.hold(chat, wait)
            raise NotYet(f"Telegram: {error}", retry_after=wait, delivered=ids) from error
        except (Forbidden, BadRequest) as error:  # blocked by the user, chat gone, bad text
            raise SendFailed(str(error), permanent=True, delivered=ids) from error
        except NetworkError as error:
            raise SendFailed(str(error), delivered=ids) from error
        return ids

    async def _paced(self, chat: str, delivered: list[str]) -> None:
        """Waits for Telegram's pace in this chat: a moment's wait here, a longer one hands
        the entry back to the outbox (the other chats' replies go meanwhile)."""
        while (wait := self.pace.take(chat)) > 0:
            if wait > SLEEP_AT_MOST_S:
                raise NotYet(
                    f"Telegram's pace ({self.limits})", retry_after=wait, delivered=delivered
                )
            await asyncio.sleep(wait)


def _mark_once(session: Session, key: str) -> bool:
    """Sets `key`; True only if it was not set before."""
    if get_state(session, CHANNEL, key) is not None:
        return False
    set_state(session, CHANNEL, key, "1")
    return True


def _naive(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment
