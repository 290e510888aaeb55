"""A local stand-in for the X API v2 direct-message endpoints, for tests and benchmarks.

Real shapes and codes: `POST /2/dm_conversations/with/:id/messages` → 201
`{"data": {"dm_conversation_id", "dm_event_id"}}`; `GET /2/dm_events` → newest first,
`{"data": [...], "meta": {"result_count", "next_token"}}`; HTTP 429 with the
`x-rate-limit-limit / -remaining / -reset` headers. Tests add customer DMs with
`customer_dm` and can push Account Activity deliveries, signed, to a webhook (`deliver`).
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import requests
from aiohttp import web

from bot.channels.x_wire import SIGNATURE_HEADER, signature
from bot.fakes.serving import ThreadedServer


@dataclass
class FakeX(ThreadedServer):
    account_id: str = "999111"
    consumer_secret: str = "fake-consumer-secret"
    events: list[dict[str, Any]] = field(default_factory=list)  #: oldest first
    sent: list[tuple[str, str]] = field(default_factory=list)  #: (participant, text)

    def __post_init__(self) -> None:
        self._ids = itertools.count(random.randint(10**15, 9 * 10**15))
        self._lock = threading.Lock()
        self._limit_next = 0
        self._reset_in = 1

    def _event(self, sender: str, text: str) -> dict[str, Any]:
        other = sender if sender != self.account_id else "0"
        return {
            "id": str(next(self._ids)),
            "event_type": "MessageCreate",
            "text": text,
            "sender_id": sender,
            "dm_conversation_id": f"{other}-{self.account_id}",
            "created_at": datetime.now(timezone.utc)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
        }

    def customer_dm(self, sender: str, text: str) -> dict[str, Any]:
        with self._lock:
            event = self._event(str(sender), text)
            self.events.append(event)
        return event

    def rate_limit_next(self, count: int, reset_in: int = 1) -> None:
        with self._lock:
            self._limit_next, self._reset_in = count, reset_in

    def texts_to(self, participant: str) -> list[str]:
        with self._lock:
            return [t for p, t in self.sent if p == str(participant)]

    def activity_payload(self, event: dict[str, Any]) -> bytes:
        """An Account Activity delivery for one DM event, as X sends it."""
        body = {
            "for_user_id": self.account_id,
            "direct_message_events": [
                {
                    "type": "message_create",
                    "id": event["id"],
                    "created_timestamp": str(int(time.time() * 1000)),
                    "message_create": {
                        "target": {"recipient_id": self.account_id},
                        "sender_id": event["sender_id"],
                        "message_data": {"text": event["text"], "entities": {}},
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

    # --- the API ---------------------------------------------------------------------------

    def _limits(self, remaining: int) -> dict[str, str]:
        return {
            "x-rate-limit-limit": "15",
            "x-rate-limit-remaining": str(remaining),
            "x-rate-limit-reset": str(int(time.time()) + self._reset_in),
        }

    async def _send(self, request: web.Request) -> web.Response:
        participant = request.match_info["participant"]
        body = await request.json()
        text = str(body.get("text") or "")
        with self._lock:
            if self._limit_next > 0:
                self._limit_next -= 1
                return web.json_response(
                    {
                        "title": "Too Many Requests",
                        "detail": "Too Many Requests",
                        "type": "about:blank",
                        "status": 429,
                    },
                    status=429,
                    headers=self._limits(0),
                )
            if not text or len(text) > 10_000:
                return web.json_response(
                    {
                        "errors": [{"message": "text must be 1-10000 characters"}],
                        "title": "Invalid Request",
                        "status": 400,
                    },
                    status=400,
                )
            event = self._event(self.account_id, text)
            self.events.append(event)
            self.sent.append((participant, text))
        return web.json_response(
            {
                "data": {
                    "dm_conversation_id": event["dm_conversation_id"],
                    "dm_event_id": event["id"],
                }
            },
            status=201,
            headers=self._limits(14),
        )

    async def _list(self, request: web.Request) -> web.Response:
        size = min(100, int(request.query.get("max_results", "100")))
        start = int(request.query.get("pagination_token", "0") or 0)
        with self._lock:
            newest_first = list(reversed(self.events))
        page = newest_first[start : start + size]
        meta: dict[str, Any] = {"result_count": len(page)}
        if start + size < len(newest_first):
            meta["next_token"] = str(start + size)
        body: dict[str, Any] = {"meta": meta}
        if page:
            body["data"] = page
        return web.json_response(body, headers=self._limits(14))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2/dm_conversations/with/{participant}/messages", self._send)
        app.router.add_get("/2/dm_events", self._list)
        return app
