"""A local stand-in for the X API v2 direct-message and webhook endpoints, for tests and
benchmarks, as strict as X where Relais could go wrong.

Real shapes and codes (docs.x.com): `POST /2/dm_conversations/with/:id/messages` and
`POST /2/dm_conversations/:dm_conversation_id/messages` → 201
`{"data": {"dm_conversation_id", "dm_event_id"}}`; `GET /2/dm_events` → newest first,
`{"data": [...], "meta": {"result_count", "next_token"}}`; errors as X's problem bodies
(`{"title", "detail", "type", "status"}`).

Rate limits are enforced by default, as X documents them per user (the access token):
reads 15 per 15 minutes; sends 15 per 15 minutes and 1,440 per 24 hours (and 1,440 per 24
hours per app). Like X, each limit counts in fixed windows that start with their first
request and reset at `x-rate-limit-reset`; every answer carries the `x-rate-limit-limit /
-remaining / -reset` headers, and a request past a limit gets HTTP 429. `time_scale` divides
every window (tests and benchmarks keep the counts and shorten the wait); a test that needs
more says so (`read_limits=`, `send_limits=`, or `unlimited=True`).

Tests add customer DMs with `customer_dm` (with a quick-reply answer or a photo), group
conversations with `group_dm`, and push Account Activity deliveries, signed, to a webhook
(`deliver`). The webhook endpoints (`POST /2/webhooks` with its CRC check of the app,
subscriptions) let `relais x setup` run against it; `POST /oauth2/token` hands out the
app-only bearer token they need. Unlike X, a webhook URL may be loopback http.
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import aiohttp
import requests
from aiohttp import web

from bot.channels.x_wire import SIGNATURE_HEADER, crc_response, signature
from bot.fakes.serving import ThreadedServer
from relais.core.pacing import Limit

MINUTE, DAY = 60.0, 86400.0
READS = (Limit(15, 15 * MINUTE),)
SENDS = (Limit(15, 15 * MINUTE), Limit(1440, DAY))
APP_SENDS = (Limit(1440, DAY),)
_OAUTH_TOKEN = re.compile(r'oauth_token="([^"]*)"')


def problem(status: int, title: str, detail: str, kind: str = "about:blank") -> web.Response:
    """An error as X answers it (its "problem" body)."""
    body: dict[str, Any] = {"title": title, "detail": detail, "type": kind, "status": status}
    return web.json_response(body, status=status)


@dataclass
class Window:
    """One limit's count in X's fixed window."""

    limit: Limit
    started: float = 0.0
    used: int = 0

    def roll(self, now: float) -> None:
        if now >= self.started + self.limit.window_s:
            self.started, self.used = now, 0

    @property
    def remaining(self) -> int:
        return max(0, self.limit.count - self.used)

    @property
    def reset(self) -> float:
        return self.started + self.limit.window_s


@dataclass
class FakeX(ThreadedServer):
    account_id: str = "999111"
    consumer_key: str = "key"
    consumer_secret: str = "fake-consumer-secret"
    events: list[dict[str, Any]] = field(default_factory=list)  #: oldest first
    sent: list[tuple[str, str]] = field(default_factory=list)  #: (participant, text)
    #: Every window is this many times shorter than X's (same counts).
    time_scale: float = 1.0
    read_limits: Sequence[Limit] = READS
    send_limits: Sequence[Limit] = SENDS
    app_send_limits: Sequence[Limit] = APP_SENDS
    unlimited: bool = False

    def __post_init__(self) -> None:
        self._ids = itertools.count(random.randint(10**15, 9 * 10**15))
        self._lock = threading.Lock()
        self._limit_next = 0
        self._reset_in = 1
        self._windows: dict[tuple[str, str], list[Window]] = {}
        #: Requests refused with 429, by endpoint family ("read", "send").
        self.refused: dict[str, int] = {"read": 0, "send": 0}
        #: When each send was accepted (epoch seconds), for benchmarks.
        self.send_times: list[float] = []
        self.blocked: set[str] = set()
        self.webhooks: dict[str, dict[str, Any]] = {}
        self.subscriptions: dict[str, set[str]] = {}
        self.bearer = "fake-bearer-" + str(random.randint(0, 10**9))
        self.crc_checks: list[str] = []

    # --- what customers do (called by tests) -----------------------------------------------

    def _now_iso(self) -> str:
        moment = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        return moment.replace("+00:00", "Z")

    def _event(self, sender: str, text: str, conversation: str | None = None) -> dict[str, Any]:
        other = sender if sender != self.account_id else "0"
        first, second = sorted([other, self.account_id], key=int)
        return {
            "id": str(next(self._ids)),
            "event_type": "MessageCreate",
            "text": text,
            "sender_id": sender,
            "dm_conversation_id": conversation or f"{first}-{second}",
            "created_at": self._now_iso(),
        }

    def customer_dm(
        self,
        sender: str,
        text: str,
        quick_reply: str | None = None,
        photo: str | None = None,
    ) -> dict[str, Any]:
        """A customer's DM to the brand; `quick_reply`: the metadata of a quick-reply option
        the customer picked (the webhook carries it); `photo`: a media id attached."""
        with self._lock:
            event = self._event(str(sender), text)
            if quick_reply is not None:
                event["_quick_reply"] = quick_reply
            if photo is not None:
                event["attachments"] = {"media_keys": [f"3_{photo}"]}
            self.events.append(event)
        return event

    def group_dm(self, conversation: str, sender: str, text: str) -> dict[str, Any]:
        """A message in group conversation `conversation` (the brand is a participant)."""
        with self._lock:
            event = self._event(str(sender), text, conversation=str(conversation))
            self.events.append(event)
        return event

    def group_join(self, conversation: str, participants: Sequence[str]) -> dict[str, Any]:
        with self._lock:
            event = {
                "id": str(next(self._ids)),
                "event_type": "ParticipantsJoin",
                "sender_id": str(participants[0]),
                "participant_ids": [str(p) for p in participants],
                "dm_conversation_id": str(conversation),
                "created_at": self._now_iso(),
            }
            self.events.append(event)
        return event

    def block(self, participant: str) -> None:
        """The user does not accept DMs from the brand: sends to them get 403."""
        with self._lock:
            self.blocked.add(str(participant))

    def rate_limit_next(self, count: int, reset_in: int = 1) -> None:
        """The next `count` sends get 429 whatever the counts (another client of the
        account spent them), with the reset `reset_in` seconds away."""
        with self._lock:
            self._limit_next, self._reset_in = count, reset_in

    def texts_to(self, participant: str) -> list[str]:
        with self._lock:
            return [t for p, t in self.sent if p == str(participant)]

    def activity_payload(self, event: dict[str, Any], for_user_id: str | None = None) -> bytes:
        """An Account Activity delivery for one DM event, as X sends it."""
        data: dict[str, Any] = {"text": event.get("text", ""), "entities": {}}
        if event.get("_quick_reply") is not None:
            data["quick_reply_response"] = {"type": "options", "metadata": event["_quick_reply"]}
        for key in (event.get("attachments") or {}).get("media_keys") or []:
            media_id = key.split("_", 1)[-1]
            data["attachment"] = {
                "type": "media",
                "media": {
                    "id_str": media_id,
                    "type": "photo",
                    "media_url_https": f"https://pbs.twimg.com/dm/{media_id}.jpg",
                },
            }
        body = {
            "for_user_id": for_user_id or self.account_id,
            "direct_message_events": [
                {
                    "type": "message_create",
                    "id": event["id"],
                    "created_timestamp": str(int(time.time() * 1000)),
                    "message_create": {
                        "target": {"recipient_id": self.account_id},
                        "sender_id": event["sender_id"],
                        "message_data": data,
                    },
                }
            ],
        }
        return json.dumps(body).encode()

    def deliver(self, webhook_url: str, event: dict[str, Any], secret: str | None = None) -> int:
        body = self.activity_payload(event)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(secret or self.consumer_secret, body),
        }
        return requests.post(webhook_url, data=body, headers=headers, timeout=30).status_code

    # --- limits ----------------------------------------------------------------------------

    def _windows_for(self, family: str, who: str, limits: Sequence[Limit]) -> list[Window]:
        key = (family, who)
        if key not in self._windows:
            self._windows[key] = [Window(limit.scaled(self.time_scale)) for limit in limits]
        return self._windows[key]

    def _count(self, family: str, who: str, limits: Sequence[Limit]) -> tuple[bool, Window]:
        """Under the lock: counts one request of `family` by `who`; (allowed?, the window
        its headers show: the one closest to its limit)."""
        windows = self._windows_for(family, who, limits)
        now = time.time()
        for window in windows:
            window.roll(now)
        shown = min(windows, key=lambda w: (w.remaining, -w.reset))
        if self.unlimited:
            return True, shown
        if any(w.remaining == 0 for w in windows):
            return False, shown
        for window in windows:
            window.used += 1
        return True, shown

    @staticmethod
    def _headers(window: Window | None) -> dict[str, str]:
        if window is None:
            return {}
        return {
            "x-rate-limit-limit": str(window.limit.count),
            "x-rate-limit-remaining": str(window.remaining),
            "x-rate-limit-reset": str(int(window.reset + 0.999)),
        }

    def _too_many(self, family: str, window: Window) -> web.Response:
        self.refused[family] += 1
        response = problem(429, "Too Many Requests", "Too Many Requests")
        response.headers.update(self._headers(window))
        return response

    @staticmethod
    def _user(request: web.Request) -> str | None:
        """The access token of an OAuth 1.0a request (the user it acts for)."""
        found = _OAUTH_TOKEN.search(request.headers.get("Authorization", ""))
        return found.group(1) if found else None

    # --- the DM API ------------------------------------------------------------------------

    async def _send(self, request: web.Request) -> web.Response:
        user = self._user(request)
        if user is None:
            return problem(403, "Unsupported Authentication", "OAuth 1.0a User Context needed")
        participant = request.match_info.get("participant")
        conversation = request.match_info.get("conversation")
        try:
            body = await request.json()
        except ValueError:
            body = None
        text = str(body.get("text") or "") if isinstance(body, dict) else ""
        with self._lock:
            if self._limit_next > 0:
                self._limit_next -= 1
                window = Window(Limit(15, 900), started=time.time() + self._reset_in - 900)
                window.used = 15
                return self._too_many("send", window)
            if not 1 <= len(text) <= 10_000:
                return web.json_response(
                    {
                        "errors": [
                            {"parameters": {"text": [text[:20]]}, "message": "text: 1-10000"}
                        ],
                        "title": "Invalid Request",
                        "detail": "One or more parameters to your request was invalid.",
                        "type": "https://api.twitter.com/2/problems/invalid-request",
                    },
                    status=400,
                )
            if participant is not None and participant in self.blocked:
                return problem(
                    403,
                    "Forbidden",
                    "You are not permitted to send a message to this user.",
                    "https://api.twitter.com/2/problems/not-authorized-for-resource",
                )
            allowed, window = self._count("send", user, self.send_limits)
            if allowed:
                app_allowed, _ = self._count("send-app", "app", self.app_send_limits)
                if not app_allowed:
                    allowed = False
            if not allowed:
                return self._too_many("send", window)
            if conversation is not None:
                event = self._event(self.account_id, text, conversation=conversation)
                who = f"group:{conversation}"
            else:
                event = self._event(self.account_id, text)
                event["dm_conversation_id"] = "-".join(
                    sorted([str(participant), self.account_id], key=int)
                )
                who = str(participant)
            self.events.append(event)
            self.sent.append((who, text))
            self.send_times.append(time.time())
        return web.json_response(
            {
                "data": {
                    "dm_conversation_id": event["dm_conversation_id"],
                    "dm_event_id": event["id"],
                }
            },
            status=201,
            headers=self._headers(window),
        )

    async def _list(self, request: web.Request) -> web.Response:
        user = self._user(request)
        if user is None:
            return problem(403, "Unsupported Authentication", "OAuth 1.0a User Context needed")
        try:
            size = min(100, int(request.query.get("max_results", "100")))
            start = int(request.query.get("pagination_token", "0") or 0)
        except ValueError:
            return problem(
                400,
                "Invalid Request",
                "One or more parameters to your request was invalid.",
                "https://api.twitter.com/2/problems/invalid-request",
            )
        with self._lock:
            allowed, window = self._count("read", user, self.read_limits)
            if not allowed:
                return self._too_many("read", window)
            newest_first = [
                {k: v for k, v in e.items() if not k.startswith("_")} for e in reversed(self.events)
            ]
        page = newest_first[start : start + size]
        meta: dict[str, Any] = {"result_count": len(page)}
        if start + size < len(newest_first):
            meta["next_token"] = str(start + size)
        body: dict[str, Any] = {"meta": meta}
        if page:
            body["data"] = page
        return web.json_response(body, headers=self._headers(window))

    # --- app-only auth and the webhook endpoints -------------------------------------------

    async def _token(self, request: web.Request) -> web.Response:
        given = request.headers.get("Authorization", "")
        expected = base64.b64encode(f"{self.consumer_key}:{self.consumer_secret}".encode())
        form = await request.post()
        if given != f"Basic {expected.decode()}" or form.get("grant_type") != "client_credentials":
            return web.json_response(
                {"errors": [{"code": 99, "message": "Unable to verify your credentials"}]},
                status=403,
            )
        return web.json_response({"token_type": "bearer", "access_token": self.bearer})

    def _app_only(self, request: web.Request) -> bool:
        return request.headers.get("Authorization", "") == f"Bearer {self.bearer}"

    async def _crc(self, url: str) -> bool:
        """X's challenge-response check of a webhook URL."""
        token = base64.urlsafe_b64encode(random.randbytes(24)).decode()
        self.crc_checks.append(url)
        try:
            async with aiohttp.ClientSession() as http:
                async with http.get(url, params={"crc_token": token}, timeout=10) as reply:
                    if reply.status != 200:
                        return False
                    answer = await reply.json()
        except (aiohttp.ClientError, ValueError, TimeoutError):
            return False
        return isinstance(answer, dict) and answer == crc_response(self.consumer_secret, token)

    async def _create_webhook(self, request: web.Request) -> web.Response:
        if not self._app_only(request):
            return problem(403, "Unsupported Authentication", "OAuth 2.0 App-Only needed")
        body = await request.json()
        url = str((body or {}).get("url") or "")
        if not url.startswith(("https://", "http://127.0.0.1")):
            return _webhook_error("UrlValidationFailed", "the URL must be https")
        if any(w["url"] == url for w in self.webhooks.values()):
            return _webhook_error("DuplicateUrlFailed", "a webhook has this URL already")
        if self.webhooks:
            return _webhook_error("WebhookLimitExceeded", "one webhook per app")
        if not await self._crc(url):
            return _webhook_error("CrcValidationFailed", "the URL did not answer the CRC")
        webhook_id = str(random.randint(10**17, 10**18))
        self.webhooks[webhook_id] = {
            "id": webhook_id,
            "url": url,
            "valid": True,
            "created_at": self._now_iso(),
        }
        return web.json_response({"data": self.webhooks[webhook_id]})

    async def _list_webhooks(self, request: web.Request) -> web.Response:
        if not self._app_only(request):
            return problem(403, "Unsupported Authentication", "OAuth 2.0 App-Only needed")
        data = list(self.webhooks.values())
        return web.json_response({"data": data, "meta": {"result_count": len(data)}})

    async def _validate_webhook(self, request: web.Request) -> web.Response:
        if not self._app_only(request):
            return problem(403, "Unsupported Authentication", "OAuth 2.0 App-Only needed")
        webhook = self.webhooks.get(request.match_info["webhook_id"])
        if webhook is None:
            return _webhook_error("WebhookIdInvalid", "no such webhook", 404)
        webhook["valid"] = await self._crc(webhook["url"])
        return web.json_response({"data": {"attempted": True}})

    async def _delete_webhook(self, request: web.Request) -> web.Response:
        if not self._app_only(request):
            return problem(403, "Unsupported Authentication", "OAuth 2.0 App-Only needed")
        if self.webhooks.pop(request.match_info["webhook_id"], None) is None:
            return _webhook_error("WebhookIdInvalid", "no such webhook", 404)
        return web.json_response({"data": {"deleted": True}})

    async def _subscription(self, request: web.Request) -> web.Response:
        user = self._user(request)
        if user is None:
            return problem(403, "Unsupported Authentication", "OAuth 1.0a User Context needed")
        webhook_id = request.match_info["webhook_id"]
        if webhook_id not in self.webhooks:
            return _webhook_error("WebhookIdInvalid", "no such webhook", 404)
        subscribed = self.subscriptions.setdefault(webhook_id, set())
        if request.method == "POST":
            if self.account_id in subscribed:
                return _webhook_error("DuplicateSubscriptionFailed", "subscribed already", 409)
            subscribed.add(self.account_id)
        return web.json_response({"data": {"subscribed": self.account_id in subscribed}})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2/dm_conversations/with/{participant}/messages", self._send)
        app.router.add_post("/2/dm_conversations/{conversation}/messages", self._send)
        app.router.add_get("/2/dm_events", self._list)
        app.router.add_post("/oauth2/token", self._token)
        app.router.add_post("/2/webhooks", self._create_webhook)
        app.router.add_get("/2/webhooks", self._list_webhooks)
        app.router.add_put("/2/webhooks/{webhook_id}", self._validate_webhook)
        app.router.add_delete("/2/webhooks/{webhook_id}", self._delete_webhook)
        path = "/2/account_activity/webhooks/{webhook_id}/subscriptions/all"
        app.router.add_post(path, self._subscription)
        app.router.add_get(path, self._subscription)
        return app


def _webhook_error(reason: str, detail: str, status: int = 400) -> web.Response:
    return web.json_response(
        {
            "errors": [{"message": reason}],
            "title": "Invalid Request",
            "detail": f"{reason}: {detail}",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        },
        status=status,
    )
