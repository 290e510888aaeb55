"""Talking to the Rasa server over HTTP: its REST channel and its HTTP API (never `import rasa`).

- `send` posts a customer message to the REST channel and returns the bot's messages;
- `append_events` writes to a conversation's tracker (a message logged while a person holds
  the conversation, an agent's reply, pause and resume);
- `trigger_intent` makes the bot act without a customer message (the follow-up on hand-back).

The server must run with `--enable-api` (make run does). Errors become `RasaUnavailable`,
which the router treats as "try again later": the message stays pending, in order.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from relais.core.errors import RasaUnavailable

logger = logging.getLogger(__name__)
#: Rasa's REST channel.
WEBHOOK = "/webhooks/rest/webhook"


class RasaClient:
    def __init__(self, url: str, timeout_s: float = 30.0, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._token = token
        self._session: aiohttp.ClientSession | None = None
        #: The REST channel's address with its query, built once: every message is posted
        #: there.
        self._webhook = URL(self.url + WEBHOOK)
        if token:
            self._webhook = self._webhook.with_query(token=token)

    async def _http(self) -> aiohttp.ClientSession:
        # One session (one pool of kept-alive connections) for the life of the process. Rasa
        # sets no cookies: no jar to look through on every request.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | list[dict[str, Any]] | None = None,
        params: dict[str, str] | None = None,
    ) -> object:
        """The decoded JSON answer; each caller checks the shape it expects."""
        url: str | URL = self.url + path
        if path == WEBHOOK and not params:
            url, params = self._webhook, None
        else:
            params = dict(params or {})
            if self._token:
                params["token"] = self._token
        try:
            http = await self._http()
            async with http.request(method, url, json=body, params=params) as reply:
                if reply.status >= 500 or reply.status in (404, 409, 429):
                    text = await reply.text()
                    raise RasaUnavailable(f"{method} {path}: HTTP {reply.status} {text[:200]}")
                if reply.status >= 400:
                    text = await reply.text()
                    raise ValueError(
                        f"Rasa refused {method} {path}: HTTP {reply.status} {text[:200]}"
                    )
                return await reply.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError) as error:
            raise RasaUnavailable(f"{method} {path}: {error!r}") from error

    async def send(
        self, sender: str, text: str, metadata: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """The bot's replies to `text` from `sender`, in order (empty while the bot is paused)."""
        body = {"sender": sender, "message": text, "metadata": metadata or {}}
        replies = await self._request("POST", WEBHOOK, body)
        if not isinstance(replies, list):
            raise RasaUnavailable(f"unexpected REST channel answer: {str(replies)[:200]}")
        return replies

    async def parse(self, text: str) -> dict[str, Any]:
        """Rasa's NLU parse of `text` (intent, entities, anger…), with no effect on any tracker."""
        answer = await self._request("POST", "/model/parse", {"text": text})
        return dict(_json_object(answer or {}, "/model/parse"))

    async def append_events(self, conversation_id: str, events: list[dict[str, Any]]) -> None:
        await self._request(
            "POST",
            f"/conversations/{quote(conversation_id, safe='')}/tracker/events",
            events,
            params={"include_events": "NONE"},
        )

    async def trigger_intent(
        self, conversation_id: str, intent: str, entities: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Runs the bot as if the customer had sent `intent`; returns what it says."""
        answer = await self._request(
            "POST",
            f"/conversations/{quote(conversation_id, safe='')}/trigger_intent",
            {"name": intent, "entities": entities or {}},
            params={"include_events": "NONE"},
        )
        return list(_json_object(answer or {}, "trigger_intent").get("messages") or [])

    async def tracker(self, conversation_id: str) -> dict[str, Any]:
        answer = await self._request(
            "GET",
            f"/conversations/{quote(conversation_id, safe='')}/tracker",
            params={"include_events": "ALL"},
        )
        return _json_object(answer, "tracker")

    async def healthy(self) -> bool:
        try:
            await self._request("GET", "/status")
            return True
        except (RasaUnavailable, ValueError):
            return False


def _json_object(answer: object, what: str) -> dict[str, Any]:
    if not isinstance(answer, dict):
        raise ValueError(f"unexpected Rasa {what} answer: {str(answer)[:200]}")
    return answer
