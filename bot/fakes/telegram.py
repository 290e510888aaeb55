"""A local stand-in for the Telegram Bot API, for tests and benchmarks, as strict as Telegram
where Relais could go wrong.

It speaks the real wire format (`POST /bot<token>/<method>`, form or JSON parameters,
`{"ok": true, "result": …}` or `{"ok": false, "error_code": …, "description": …}`), keeps
updates for `getUpdates` or pushes them to the webhook set with `setWebhook` (with the secret
token header), and records what the bot sends. Like Telegram (core.telegram.org/bots/api):

- form fields are strings; only the parameters whose type is JSON (reply_markup,
  allowed_updates…) are decoded, so a text "123" or "null" is that text;
- `allowed_updates` (setWebhook, getUpdates) is remembered, and updates of other kinds are
  not delivered (by default all but chat_member and the reactions);
- `offset` confirms every update before it; unconfirmed updates are kept 24 hours; update ids
  may start again lower (`restart_update_ids`, as after a week without updates);
- a second `getUpdates` while one is waiting ends the first with 409 Conflict;
- `sendMessage` answers 403 to a user who blocked the bot, 400 for a chat that never wrote
  (or is unknown), 400 for an empty or too long text and for `callback_data` that is not
  1-64 bytes; `setWebhook` refuses a secret token outside A-Z a-z 0-9 _ -;
- with `pace=True`, more than one message a second in a chat, or 30 a second in all, gets
  429 with `retry_after` (Telegram documents the pace; it may allow short bursts).

Tests add customer updates with `customer_text`, `customer_photo`, `customer_album`,
`customer_edit`, `press_button`… and can make the next sends fail with HTTP 429
(`rate_limit_next`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from bot.fakes.serving import ThreadedServer

BOT_USER = {
    "id": 999000,
    "is_bot": True,
    "first_name": "Céleste Air",
    "username": "celeste_air_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
#: The parameters whose type is JSON; every other form field is a string.
JSON_PARAMETERS = {
    "reply_markup",
    "allowed_updates",
    "entities",
    "caption_entities",
    "link_preview_options",
    "reply_parameters",
    "media",
    "commands",
    "scope",
    "options",
}
#: Delivered when allowed_updates was never given (or given empty).
DEFAULT_EXCLUDED = {"chat_member", "message_reaction", "message_reaction_count"}
UNCONFIRMED_KEPT_S = 24 * 3600.0
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


@dataclass
class Sent:
    chat_id: int
    text: str
    reply_markup: dict[str, Any] | None
    message_id: int
    date: int = 0


@dataclass
class FakeTelegram(ThreadedServer):
    token: str = ""  #: "<bot id>:<secret>", as real tokens are; made up when not given
    updates: list[dict[str, Any]] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    answered_callbacks: list[str] = field(default_factory=list)
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_statuses: list[int] = field(default_factory=list)
    #: Telegram's documented pace enforced (429 past one message a second in a chat).
    pace: bool = False
    #: The stand-in's clock (epoch seconds): how old an unconfirmed update is.
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        bot_id = int(self.token.split(":")[0]) if self.token else random.randint(10**8, 10**9)
        self.token = self.token or f"{bot_id}:TEST-{random.randint(0, 10**6)}"
        self.bot_user = {**BOT_USER, "id": bot_id}
        # Telegram's update ids are large and keep growing; start each stand-in elsewhere.
        self._ids = itertools.count(random.randint(10_000_000, 90_000_000))
        self._message_ids = itertools.count(5000)
        self._lock = threading.Lock()
        self._limit_next = 0
        self._retry_after = 1
        self._new_update: asyncio.Event | None = None
        #: Chats that wrote to the bot (a private chat exists once its user starts the bot).
        self.known_chats: set[int] = set()
        self.blocked: set[int] = set()
        self.allowed_updates: list[str] | None = None
        #: Kept with each update: when it was made (for the 24 hours).
        self._made: dict[int, float] = {}
        #: Every message a customer sent, by update id (to edit it later).
        self.messages: dict[int, dict[str, Any]] = {}
        self._waiting_poll: asyncio.Future[None] | None = None
        self.conflicts = 0
        self.refused_for_pace = 0
        self._chat_sends: dict[int, list[float]] = {}
        self._all_sends: list[float] = []

    # --- what customers do (called by tests) -----------------------------------------------

    def _add(self, body: dict[str, Any]) -> int:
        with self._lock:
            update_id = next(self._ids)
            self.updates.append({"update_id": update_id, **body})
            self._made[update_id] = self.clock()
            message = body.get("message")
            if message:
                self.messages[update_id] = message
            for part in (body.get("message"), body.get("edited_message")):
                if part and isinstance(part.get("chat"), dict):
                    self.known_chats.add(part["chat"]["id"])
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._wake)
        return update_id

    def _wake(self) -> None:
        if self._new_update is not None:
            self._new_update.set()
        if self.webhook_url:
            asyncio.ensure_future(self._push_pending())

    @staticmethod
    def _user(user_id: int, name: str = "Customer") -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": name, "language_code": "en"}

    def _chat(self, user_id: int, chat_type: str = "private") -> dict[str, Any]:
        chat: dict[str, Any] = {
            "id": user_id if chat_type == "private" else -100 - user_id,
            "type": chat_type,
        }
        if chat_type == "private":
            chat["first_name"] = "Customer"
        else:
            chat["title"] = "A group"
        return chat

    def _message(self, user_id: int, chat_type: str = "private", **content: Any) -> dict[str, Any]:
        return {
            "message_id": next(self._message_ids),
            "date": int(self.clock()),
            "chat": self._chat(user_id, chat_type),
            "from": self._user(user_id),
            **content,
        }

    def start_chat(self, user_id: int) -> None:
        """The user opened a chat with the bot (it may write to them from now on)."""
        with self._lock:
            self.known_chats.add(user_id)

    def block(self, user_id: int) -> None:
        """The user blocked the bot: sends to them get 403 from now on."""
        with self._lock:
            self.blocked.add(user_id)

    def customer_text(self, user_id: int, text: str, chat_type: str = "private") -> int:
        return self._add({"message": self._message(user_id, chat_type, text=text)})

    def customer_message(self, user_id: int, **content: Any) -> int:
        """A private message with any content: `video={...}`, `dice={...}`, a service field…"""
        return self._add({"message": self._message(user_id, **content)})

    @staticmethod
    def _photo(name: str) -> list[dict[str, Any]]:
        return [
            {"file_id": f"small-{name}", "file_unique_id": f"s-{name}", "width": 90, "height": 60},
            {
                "file_id": f"large-{name}",
                "file_unique_id": f"l-{name}",
                "width": 1280,
                "height": 960,
            },
        ]

    def customer_photo(self, user_id: int, caption: str = "") -> int:
        body: dict[str, Any] = {"photo": self._photo(str(user_id))}
        if caption:
            body["caption"] = caption
        return self.customer_message(user_id, **body)

    def customer_album(self, user_id: int, count: int = 3, caption: str = "") -> list[int]:
        """`count` photos sent together: one update each, one media_group_id, the caption on
        the first (as Telegram's apps send an album)."""
        group = str(random.randint(10**17, 10**18))
        updates = []
        for i in range(count):
            body: dict[str, Any] = {"photo": self._photo(f"{user_id}-{i}"), "media_group_id": group}
            if caption and i == 0:
                body["caption"] = caption
            updates.append(self.customer_message(user_id, **body))
        return updates

    def customer_video(self, user_id: int, caption: str = "") -> int:
        video = {
            "file_id": f"video-{user_id}",
            "file_unique_id": "v1",
            "width": 1280,
            "height": 720,
            "duration": 12,
            "mime_type": "video/mp4",
        }
        return self.customer_message(
            user_id, video=video, **({"caption": caption} if caption else {})
        )

    def customer_video_note(self, user_id: int) -> int:
        note = {"file_id": f"note-{user_id}", "file_unique_id": "n1", "length": 240, "duration": 7}
        return self.customer_message(user_id, video_note=note)

    def customer_audio(self, user_id: int) -> int:
        audio = {
            "file_id": f"audio-{user_id}",
            "file_unique_id": "a1",
            "duration": 95,
            "performer": "Someone",
            "title": "A tune",
            "mime_type": "audio/mpeg",
        }
        return self.customer_message(user_id, audio=audio)

    def customer_voice(self, user_id: int) -> int:
        voice = {"file_id": f"voice-{user_id}", "file_unique_id": "vo1", "duration": 4}
        return self.customer_message(user_id, voice=voice)

    def customer_animation(self, user_id: int) -> int:
        animation = {
            "file_id": f"gif-{user_id}",
            "file_unique_id": "g1",
            "width": 320,
            "height": 240,
            "duration": 3,
            "file_name": "plane.mp4",
        }
        # Telegram fills `document` too, for older clients.
        document = {"file_id": f"gif-{user_id}", "file_unique_id": "g1", "file_name": "plane.mp4"}
        return self.customer_message(user_id, animation=animation, document=document)

    def customer_contact(self, user_id: int) -> int:
        contact = {"phone_number": "+33612345678", "first_name": "Camille", "last_name": "Dubois"}
        return self.customer_message(user_id, contact=contact)

    def customer_sticker(self, user_id: int) -> int:
        sticker = {
            "file_id": "sticker-1",
            "file_unique_id": "st1",
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "😡",
        }
        return self.customer_message(user_id, sticker=sticker)

    def customer_location(self, user_id: int, live_period: int | None = None) -> int:
        place: dict[str, Any] = {"latitude": 49.01, "longitude": 2.55}
        if live_period:
            place["live_period"] = live_period
        return self.customer_message(user_id, location=place)

    def customer_poll(self, user_id: int) -> int:
        poll = {
            "id": str(random.randint(10**9, 10**10)),
            "question": "Window or aisle?",
            "options": [
                {"text": "Window", "voter_count": 0, "persistent_id": "o1"},
                {"text": "Aisle", "voter_count": 0, "persistent_id": "o2"},
            ],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": True,
            "type": "regular",
            "allows_multiple_answers": False,
        }
        return self.customer_message(user_id, poll=poll)

    def customer_dice(self, user_id: int) -> int:
        return self.customer_message(user_id, dice={"emoji": "🎲", "value": 4})

    def service_message(self, user_id: int) -> int:
        """A service message in a private chat (the user pinned a message)."""
        pinned = self._message(user_id, text="pinned text")
        return self.customer_message(user_id, pinned_message=pinned)

    def message_id_of(self, update_id: int) -> int:
        return int(self.messages[update_id]["message_id"])

    def customer_edit(self, update_id: int, text: str | None = None, **content: Any) -> int:
        """The customer edits the message of update `update_id`: an `edited_message` with the
        message's new content and an `edit_date` (a live location's move is one too)."""
        with self._lock:
            original = dict(self.messages[update_id])
        edited = {**original, **content, "edit_date": int(self.clock()) + 1}
        if text is not None:
            edited["caption" if "caption" in original or "photo" in original else "text"] = text
        with self._lock:
            self.messages[update_id] = edited
        return self._add({"edited_message": edited})

    def press_button(
        self,
        user_id: int,
        data: str,
        on: Sent | None = None,
        inaccessible: bool = False,
        age_s: int = 0,
    ) -> int:
        """The user presses a button whose callback_data is `data`, on message `on` (one the
        bot sent), or on a prompt sent `age_s` ago; `inaccessible`: the message is too old
        for Telegram to include (it then sends its chat, its id and a date of 0)."""
        chat = self._chat(user_id)
        if inaccessible:
            message: dict[str, Any] = {"chat": chat, "message_id": 1, "date": 0}
        elif on is not None:
            message = {
                "message_id": on.message_id,
                "date": on.date,
                "chat": chat,
                "from": self.bot_user,
                "text": on.text,
                **({"reply_markup": on.reply_markup} if on.reply_markup else {}),
            }
        else:
            message = self._message(user_id, text="(buttons)")
            message["from"] = self.bot_user
            message["date"] -= age_s
        return self._add(
            {
                "callback_query": {
                    "id": f"cbq-{next(self._ids)}",
                    "from": self._user(user_id),
                    "chat_instance": "ci-1",
                    "data": data,
                    "message": message,
                }
            }
        )

    def reaction(self, user_id: int) -> int:
        """A message_reaction update: not delivered unless asked for in allowed_updates."""
        return self._add(
            {
                "message_reaction": {
                    "chat": self._chat(user_id),
                    "message_id": 1,
                    "user": self._user(user_id),
                    "date": int(self.clock()),
                    "old_reaction": [],
                    "new_reaction": [{"type": "emoji", "emoji": "👍"}],
                }
            }
        )

    def unknown_update(self) -> int:
        """An update of a kind this bot does not handle (as newer Bot API versions add)."""
        return self._add({"some_future_update": {"id": 1}})

    def malformed_update(self) -> int:
        """A message the library cannot read (no chat): must be skipped, not crash polling."""
        return self._add({"message": {"message_id": 1, "date": int(self.clock()), "text": "x"}})

    def restart_update_ids(self, start: int) -> None:
        """The next updates get ids from `start` on: Telegram chooses the next id at random
        after a week without updates, possibly lower than every earlier one."""
        with self._lock:
            self._ids = itertools.count(start)

    def rate_limit_next(self, count: int, retry_after: int = 1) -> None:
        """The next `count` sendMessage calls get HTTP 429 with this retry_after."""
        with self._lock:
            self._limit_next, self._retry_after = count, retry_after

    def texts_to(self, chat_id: int) -> list[str]:
        with self._lock:
            return [s.text for s in self.sent if s.chat_id == chat_id]

    def sent_to(self, chat_id: int) -> list[Sent]:
        with self._lock:
            return [s for s in self.sent if s.chat_id == chat_id]

    # --- the Bot API -----------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            body = await request.json()
            return dict(body or {})
        form = await request.post()
        params: dict[str, Any] = {}
        for key, value in form.items():
            text = value if isinstance(value, str) else str(value)
            if key in JSON_PARAMETERS:
                try:
                    params[key] = json.loads(text)
                except ValueError:
                    params[key] = text  # refused by the method that reads it
            else:
                params[key] = text
        return params

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await self._params(request)
        handler = getattr(self, f"_m_{method.lower()}", None)
        if handler is None:
            return _error(404, "Not Found: method not found")
        response: web.Response = await handler(params)
        return response

    async def _m_getme(self, params: dict[str, Any]) -> web.Response:
        return _ok(self.bot_user)

    def _remember_allowed(self, value: object) -> web.Response | None:
        if value is None or value == "":
            return None  # not given: the previous setting stays
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return _error(400, "Bad Request: can't parse allowed updates")
        self.allowed_updates = value
        return None

    def _allowed(self, update: dict[str, Any]) -> bool:
        kind = next((k for k in update if k != "update_id"), "")
        if not self.allowed_updates:
            return kind not in DEFAULT_EXCLUDED
        return kind in self.allowed_updates

    async def _m_setwebhook(self, params: dict[str, Any]) -> web.Response:
        secret = params.get("secret_token")
        if secret is not None and not _SECRET.fullmatch(str(secret)):
            return _error(400, "Bad Request: secret token contains unallowed characters")
        refused = self._remember_allowed(params.get("allowed_updates"))
        if refused is not None:
            return refused
        self.webhook_url = params.get("url") or None
        self.webhook_secret = secret
        if self.webhook_url:
            asyncio.ensure_future(self._push_pending())
        return _ok(True)

    async def _m_deletewebhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook_url = None
        return _ok(True)

    async def _m_getwebhookinfo(self, params: dict[str, Any]) -> web.Response:
        with self._lock:
            pending = len(self.updates)
        return _ok(
            {
                "url": self.webhook_url or "",
                "has_custom_certificate": False,
                "pending_update_count": pending,
                **({"allowed_updates": self.allowed_updates} if self.allowed_updates else {}),
            }
        )

    def _ready(self, offset: int | None, limit: int) -> list[dict[str, Any]]:
        """Under the lock: confirms what `offset` confirms, forgets updates older than 24
        hours and those of kinds not asked for; the next updates to deliver."""
        if offset is not None:
            if offset < 0:  # -N: the last N updates, everything before forgotten
                self.updates = self.updates[offset:]
            else:
                self.updates = [u for u in self.updates if u["update_id"] >= offset]
        oldest = self.clock() - UNCONFIRMED_KEPT_S
        self.updates = [
            u
            for u in self.updates
            if self._made.get(u["update_id"], 0) >= oldest and self._allowed(u)
        ]
        return self.updates[:limit]

    async def _m_getupdates(self, params: dict[str, Any]) -> web.Response:
        if self.webhook_url:
            return _error(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        refused = self._remember_allowed(params.get("allowed_updates"))
        if refused is not None:
            return refused
        try:
            offset = int(params["offset"]) if params.get("offset") not in (None, "") else None
            timeout = float(params.get("timeout") or 0)
            limit = int(params.get("limit") or 100)
        except ValueError:
            return _error(400, "Bad Request: wrong parameter")
        # One getUpdates at a time: a newer one ends the one still waiting.
        if self._waiting_poll is not None and not self._waiting_poll.done():
            self._waiting_poll.set_result(None)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting_poll = mine
        deadline = time.monotonic() + timeout
        while True:
            if mine.done():
                self.conflicts += 1
                return _error(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only "
                    "one bot instance is running",
                )
            with self._lock:
                ready = self._ready(offset, limit)
            if ready or time.monotonic() >= deadline:
                if self._waiting_poll is mine:
                    self._waiting_poll = None
                return _ok(ready)
            self._new_update = asyncio.Event()
            woken: asyncio.Future[Any] = asyncio.ensure_future(self._new_update.wait())
            done, _ = await asyncio.wait(
                [woken, mine],
                timeout=max(0.01, deadline - time.monotonic()),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if woken not in done:
                woken.cancel()

    def _refuse_send(self, chat_id: int, text: str, markup: object) -> web.Response | None:
        """Under the lock: why Telegram would refuse this sendMessage, if it would."""
        if chat_id in self.blocked:
            return _error(403, "Forbidden: bot was blocked by the user")
        if chat_id not in self.known_chats:
            return _error(400, "Bad Request: chat not found")
        if not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return _error(400, "Bad Request: message is too long")
        if markup is not None:
            if not isinstance(markup, dict):
                return _error(400, "Bad Request: can't parse reply keyboard markup JSON object")
            for row in markup.get("inline_keyboard") or []:
                for button in row:
                    if not str(button.get("text") or "").strip():
                        return _error(400, "Bad Request: text buttons are unallowed")
                    data = button.get("callback_data")
                    if data is not None and not 1 <= len(str(data).encode("utf-8")) <= 64:
                        return _error(400, "Bad Request: BUTTON_DATA_INVALID")
        return None

    def _too_fast(self, chat_id: int) -> bool:
        """Under the lock, with `pace`: a second message in a chat within a second, or more
        than 30 in a second in all."""
        now = time.monotonic()
        chat = [t for t in self._chat_sends.get(chat_id, []) if t > now - 1.0]
        every = [t for t in self._all_sends if t > now - 1.0]
        if chat or len(every) >= 30:
            return True
        self._chat_sends[chat_id] = [*chat, now]
        self._all_sends = [*every, now]
        return False

    async def _m_sendmessage(self, params: dict[str, Any]) -> web.Response:
        text = str(params.get("text") or "")
        try:
            chat_id = int(params["chat_id"])
        except (KeyError, ValueError):
            return _error(400, "Bad Request: chat not found")
        with self._lock:
            refused = self._refuse_send(chat_id, text, params.get("reply_markup"))
            if refused is not None:
                return refused
            if self._limit_next > 0 or (self.pace and self._too_fast(chat_id)):
                if self._limit_next > 0:
                    self._limit_next -= 1
                else:
                    self.refused_for_pace += 1
                return web.json_response(
                    {
                        "ok": False,
                        "error_code": 429,
                        "description": f"Too Many Requests: retry after {self._retry_after}",
                        "parameters": {"retry_after": self._retry_after},
                    },
                    status=429,
                )
            sent = Sent(
                chat_id,
                text,
                params.get("reply_markup"),
                next(self._message_ids),
                int(self.clock()),
            )
            self.sent.append(sent)
        chat_type = "private" if chat_id > 0 else "group"
        result: dict[str, Any] = {
            "message_id": sent.message_id,
            "date": sent.date,
            "from": self.bot_user,
            "chat": {"id": chat_id, "type": chat_type, "first_name": "Customer"},
            "text": text,
        }
        if sent.reply_markup:
            result["reply_markup"] = sent.reply_markup
        return _ok(result)

    async def _m_answercallbackquery(self, params: dict[str, Any]) -> web.Response:
        with self._lock:
            self.answered_callbacks.append(str(params.get("callback_query_id")))
        return _ok(True)

    async def _m_getfile(self, params: dict[str, Any]) -> web.Response:
        file_id = str(params.get("file_id"))
        return _ok(
            {
                "file_id": file_id,
                "file_unique_id": file_id[-6:],
                "file_size": 1024,
                "file_path": f"photos/{file_id}.jpg",
            }
        )

    async def _push_pending(self) -> None:
        """Webhook mode: delivers updates in order; one that is not acknowledged stays."""
        with self._lock:
            pending = list(self._ready(None, 100))
        async with aiohttp.ClientSession() as http:
            for update in pending:
                headers = {"X-Telegram-Bot-Api-Secret-Token": self.webhook_secret or ""}
                try:
                    async with http.post(
                        self.webhook_url or "", json=update, headers=headers
                    ) as reply:
                        self.webhook_statuses.append(reply.status)
                        if reply.status != 200:
                            return
                except aiohttp.ClientError:
                    return
                with self._lock:
                    self.updates = [
                        u for u in self.updates if u["update_id"] != update["update_id"]
                    ]

    # --- running it ------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        return app


def _ok(result: object) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(code: int, description: str) -> web.Response:
    return web.json_response(
        {"ok": False, "error_code": code, "description": description}, status=code
    )
