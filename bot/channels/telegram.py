"""Telegram, through python-telegram-bot: webhook or polling in, Bot API calls out.

In: an update is parsed with the library (`Update.de_json`), turned into an `Inbound` and
stored before it is acknowledged (webhook: before the HTTP 200; polling: before the offset
moves on, and the offset itself is persisted). Private chats only: a group gets one short
note saying how to reach support privately, then nothing. Photos, documents, voice notes,
stickers and locations are stored as attachments (the file id is kept for agents).
Out: text split at 4,096 characters, buttons as an inline keyboard on the last piece;
callback queries (button presses) are answered and routed as the button's payload.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Coroutine
from datetime import datetime, timedelta, timezone
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.channels.common import get_state, set_state, split_text
from bot.outbox import Outgoing
from bot.router import Router
from relais.core.errors import SendFailed
from relais.core.http import json_error
from relais.core.texts import LANGUAGES, say
from relais.core.untrusted import for_log
from relais.storage.db import run_atomic
from relais.storage.messages import Inbound

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
MAX_TEXT = 4096
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
#: callback_data holds at most 64 bytes.
MAX_CALLBACK = 64


def group_note() -> str:
    """The one note a group gets, in every language: a group chat has no language of its own."""
    return " / ".join(say("telegram.group_note", lang) for lang in LANGUAGES)


def attachments_of(message: Message) -> list[dict[str, Any]]:
    """The files and places in a Telegram message, by kind, with what an agent needs."""
    found: list[dict[str, Any]] = []
    if message.photo:
        largest = max(message.photo, key=lambda p: (p.width or 0) * (p.height or 0))
        found.append({"kind": "photo", "ref": largest.file_id, "unique": largest.file_unique_id})
    if message.document:
        d = message.document
        found.append(
            {"kind": "document", "ref": d.file_id, "name": d.file_name, "mime": d.mime_type}
        )
    if message.voice:
        found.append(
            {"kind": "voice", "ref": message.voice.file_id, "seconds": message.voice.duration}
        )
    if message.sticker:
        found.append(
            {"kind": "sticker", "ref": message.sticker.file_id, "emoji": message.sticker.emoji}
        )
    if message.location:
        found.append(
            {
                "kind": "location",
                "latitude": message.location.latitude,
                "longitude": message.location.longitude,
            }
        )
    return found


class TelegramChannel:
    name = CHANNEL

    def __init__(
        self,
        token: str,
        router: Router,
        webhook_secret: str | None = None,
        base_url: str | None = None,
        webhook_url: str | None = None,
    ) -> None:
        if not token:
            raise ValueError("a Telegram bot token is needed")
        self.router = router
        self.secret = webhook_secret
        self.webhook_url = webhook_url
        kwargs: dict[str, Any] = {}
        if base_url:
            kwargs["base_url"] = base_url.rstrip("/") + "/bot"
            kwargs["base_file_url"] = base_url.rstrip("/") + "/file/bot"
        self.bot = Bot(token, **kwargs)
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Why polling keeps failing, while it does (bot/web.py's /healthz shows it).
        self.problem: str | None = None

    async def start(self) -> None:
        await self.bot.initialize()  # getMe: fails early on a wrong token
        if self.webhook_url:
            await self.bot.set_webhook(
                self.webhook_url,
                secret_token=self.secret,
                allowed_updates=["message", "edited_message", "callback_query"],
            )
            logger.info("telegram: webhook set to %s", self.webhook_url)

    async def stop(self) -> None:
        await self.bot.shutdown()

    # --- in --------------------------------------------------------------------------------

    def parse(self, data: dict[str, Any]) -> tuple[Inbound | None, dict[str, Any]]:
        """(the customer's message or None, what else to do: answer a callback, note a group)."""
        update = Update.de_json(data, self.bot)
        if update is None:
            return None, {"ignored": "empty update"}
        if update.callback_query is not None:
            query = update.callback_query
            chat = query.message.chat if query.message else None
            if chat is not None and chat.type != "private":
                return None, {"answer_callback": query.id, "ignored": "group callback"}
            inbound = Inbound(
                channel=CHANNEL,
                sender=str(query.from_user.id),
                platform_id=f"cb:{query.id}",
                text=query.data or "",
                sent_at=_naive(query.message.date) if query.message else None,
            )
            return inbound, {"answer_callback": query.id}
        message = update.message or update.edited_message
        if message is None:
            kinds = ", ".join(k for k in data if k != "update_id")
            return None, {"ignored": f"update kind not handled ({kinds})"}
        if message.chat.type != "private":
            return None, {"group": message.chat.id}
        if message.from_user is None:
            return None, {"ignored": "no sender"}
        edited = update.edited_message is not None
        platform_id = f"{message.chat.id}:{message.message_id}" + (":edit" if edited else "")
        text = message.text or message.caption or ""
        return Inbound(
            channel=CHANNEL,
            sender=str(message.from_user.id),
            platform_id=platform_id,
            text=text,
            attachments=attachments_of(message),
            sent_at=_naive(message.date),
        ), {}

    async def take(self, data: dict[str, Any]) -> str:
        """Stores one update (and routes it in the background); returns what happened."""
        try:
            inbound, extra = self.parse(data)
        except (TelegramError, KeyError, TypeError, ValueError, AttributeError) as error:
            logger.warning("telegram: unreadable update %s: %s", data.get("update_id"), error)
            return "unreadable"
        if "answer_callback" in extra:
            self._spawn(self._answer_callback(extra["answer_callback"]))
        if "group" in extra:
            await self._note_group_once(extra["group"])
            return "group"
        if inbound is None:
            logger.info(  # the update's own keys are in it: one clean line
                "telegram: update %s ignored: %s",
                data.get("update_id"),
                for_log(extra.get("ignored")),
            )
            return "ignored"
        _, created = await self.router.store(inbound)
        if created:
            self._spawn(self.router.process(inbound.conversation_id))
        return "stored" if created else "duplicate"

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

    async def poll(self, stop: asyncio.Event, timeout: int = 25) -> None:
        """Long polling: stores each batch, then persists the next offset (at least once in,
        and the store drops repeats, so each update is handled once)."""
        # The position belongs to one bot: another token starts afresh.
        key = f"offset:{self.bot.id}"
        offset = await asyncio.to_thread(
            run_atomic, self.router.engine, lambda s: get_state(s, CHANNEL, key)
        )
        next_offset = int(offset) if offset else None
        await self.bot.delete_webhook()
        backoff = 1.0
        while not stop.is_set():
            try:
                # Raw JSON, parsed one update at a time in `take`: one update the library
                # cannot read must not hold back the others.
                params: dict[str, Any] = {
                    "timeout": timeout,
                    "allowed_updates": ["message", "edited_message", "callback_query"],
                }
                if next_offset is not None:
                    params["offset"] = next_offset
                updates = await self.bot.do_api_request(
                    "getUpdates", api_kwargs=params, read_timeout=timeout + 10
                )
                backoff = 1.0
                self.problem = None
            except RetryAfter as error:
                await asyncio.sleep(_seconds(error.retry_after))
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
                value = str(next_offset)
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
                            str(b.get("title", ""))[:64],
                            callback_data=str(b.get("payload", ""))[:MAX_CALLBACK],
                        )
                    ]
                    for b in item.buttons
                ]
            )
        ids: list[str] = []
        try:
            for i, piece in enumerate(pieces):
                if i < item.already_sent:
                    continue
                last = i == len(pieces) - 1
                sent = await self.bot.send_message(
                    int(item.recipient), piece or "…", reply_markup=markup if last else None
                )
                ids.append(str(sent.message_id))
        except RetryAfter as error:
            raise SendFailed(
                str(error), retry_after=_seconds(error.retry_after), delivered=ids
            ) from error
        except (Forbidden, BadRequest) as error:  # blocked by the user, chat gone, bad text
            raise SendFailed(str(error), permanent=True, delivered=ids) from error
        except NetworkError as error:
            raise SendFailed(str(error), delivered=ids) from error
        return ids


def _mark_once(session: Session, key: str) -> bool:
    """Sets `key`; True only if it was not set before."""
    if get_state(session, CHANNEL, key) is not None:
        return False
    set_state(session, CHANNEL, key, "1")
    return True


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _naive(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment
