"""A local stand-in for the Telegram Bot API, for tests and benchmarks.

It speaks the real wire format (`POST /bot<token>/<method>`, form or JSON parameters,
`{"ok": true, "result": …}` or `{"ok": false, "error_code": …, "description": …}`), keeps
updates for `getUpdates` (offset confirms, timeout long-polls) or pushes them to the webhook
set with `setWebhook` (with the secret token header), and records what the bot sends.
Tests add customer updates with `customer_text`, `customer_photo`, `press_button`… and can
make the next sends fail with HTTP 429 (`rate_limit_next`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import threading
import time
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


@dataclass
class Sent:
    chat_id: int
    text: str
    reply_markup: dict[str, Any] | None
    message_id: int


@dataclass
class FakeTelegram(ThreadedServer):
    token: str = ""  #: "<bot id>:<secret>", as real tokens are; made up when not given
    updates: list[dict[str, Any]] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    answered_callbacks: list[str] = field(default_factory=list)
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_statuses: list[int] = field(default_factory=list)

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

    # --- what customers do (called by tests) -----------------------------------------------

    def _add(self, body: dict[str, Any]) -> int:
        with self._lock:
            update_id = next(self._ids)
            self.updates.append({"update_id": update_id, **body})
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

    def _message(self, user_id: int, chat_type: str = "private", **content: Any) -> dict[str, Any]:
        chat = {"id": user_id if chat_type == "private" else -100 - user_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = "Customer"
        else:
            chat["title"] = "A group"
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": self._user(user_id),
            **content,
        }

    def customer_text(self, user_id: int, text: str, chat_type: str = "private") -> int:
        return self._add({"message": self._message(user_id, chat_type, text=text)})

    def customer_photo(self, user_id: int, caption: str = "") -> int:
        photo = [
            {"file_id": f"small-{user_id}", "file_unique_id": "s1", "width": 90, "height": 60},
            {"file_id": f"large-{user_id}", "file_unique_id": "l1", "width": 1280, "height": 960},
        ]
        body: dict[str, Any] = {"photo": photo}
        if caption:
            body["caption"] = caption
        return self._add({"message": self._message(user_id, **body)})

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
        return self._add({"message": self._message(user_id, sticker=sticker)})

    def customer_location(self, user_id: int) -> int:
        return self._add(
            {"message": self._message(user_id, location={"latitude": 49.01, "longitude": 2.55})}
        )

    def press_button(self, user_id: int, data: str) -> int:
        message = self._message(user_id, text="(buttons)")
        message["from"] = self.bot_user
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

    def unknown_update(self) -> int:
        """An update of a kind this bot does not handle (as newer Bot API versions add)."""
        return self._add({"some_future_update": {"id": 1}})

    def malformed_update(self) -> int:
        """A message the library cannot read (no chat): must be skipped, not crash polling."""
        return self._add({"message": {"message_id": 1, "date": int(time.time()), "text": "x"}})

    def rate_limit_next(self, count: int, retry_after: int = 1) -> None:
        """The next `count` sendMessage calls get HTTP 429 with this retry_after."""
        with self._lock:
            self._limit_next, self._retry_after = count, retry_after

    def texts_to(self, chat_id: int) -> list[str]:
        with self._lock:
            return [s.text for s in self.sent if s.chat_id == chat_id]

    # --- the Bot API -----------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            body = await request.json()
            return dict(body or {})
        form = await request.post()
        params: dict[str, Any] = {}
        for key, value in form.items():
            text = value if isinstance(value, str) else str(value)
            try:
                params[key] = json.loads(text)
            except ValueError:
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
        return await handler(params)

    async def _m_getme(self, params: dict[str, Any]) -> web.Response:
        return _ok(self.bot_user)

    async def _m_setwebhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook_url = params.get("url") or None
        self.webhook_secret = params.get("secret_token")
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
            }
        )

    async def _m_getupdates(self, params: dict[str, Any]) -> web.Response:
        if self.webhook_url:
            return _error(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = params.get("offset")
        timeout = float(params.get("timeout") or 0)
        limit = int(params.get("limit") or 100)
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if offset is not None:  # confirms everything before it
                    self.updates = [u for u in self.updates if u["update_id"] >= int(offset)]
                ready = self.updates[:limit]
            if ready or time.monotonic() >= deadline:
                return _ok(ready)
            self._new_update = asyncio.Event()
            try:
                await asyncio.wait_for(
                    self._new_update.wait(), max(0.01, deadline - time.monotonic())
                )
            except asyncio.TimeoutError:
                pass

    async def _m_sendmessage(self, params: dict[str, Any]) -> web.Response:
        text = str(params.get("text") or "")
        if not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return _error(400, "Bad Request: message is too long")
        with self._lock:
            if self._limit_next > 0:
                self._limit_next -= 1
                return web.json_response(
                    {
                        "ok": False,
                        "error_code": 429,
                        "description": f"Too Many Requests: retry after {self._retry_after}",
                        "parameters": {"retry_after": self._retry_after},
                    },
                    status=429,
                )
            chat_id = int(params["chat_id"])
            sent = Sent(chat_id, text, params.get("reply_markup"), next(self._message_ids))
            self.sent.append(sent)
        result = {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "from": self.bot_user,
            "chat": {"id": chat_id, "type": "private", "first_name": "Customer"},
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
            pending = list(self.updates)
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
