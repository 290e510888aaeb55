"""X direct messages, through tweepy: the Account Activity webhook (or polling) in, the v2
DM endpoint out.

In: `GET /x/webhook?crc_token=` is answered for a plausible token only (bot/channels/x_wire.py
says why); a POST is accepted only with a valid `x-twitter-webhooks-signature` and for our
account (`for_user_id`), and its DMs are stored before the 200 (our own echoed messages
dropped). In polling mode the webhook does not exist (404), its CRC included: instead,
`GET /2/dm_events` is polled and the newest event id seen is persisted, so a restart
neither loses nor repeats a message.
Out: `create_direct_message` (tweepy's Client, whose requests.Session a stand-in can be
mounted on), text split at 10,000 characters, buttons as numbered options (the v2 endpoint has
no quick replies; a reply "2" is read as the second option's payload by the router).
HTTP 429 waits until `x-rate-limit-reset`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any

import requests
import tweepy
from aiohttp import web

from bot.channels.common import get_state, numbered_options, set_state, split_text
from bot.channels.x_wire import (
    CHANNEL,
    MAX_TEXT,
    SIGNATURE_HEADER,
    crc_response,
    crc_token_ok,
    inbound_from_dm_events,
    inbound_from_webhook,
    signature_ok,
)
from bot.outbox import Outgoing
from bot.router import Router
from relais.core.errors import SendFailed
from relais.core.http import json_error
from relais.core.untrusted import for_log
from relais.storage.db import run_atomic

logger = logging.getLogger(__name__)


class RedirectAdapter(requests.adapters.HTTPAdapter):
    """Sends https://api.x.com and https://api.twitter.com requests to another base URL."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float | None, float | None] | None = None,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        for host in ("https://api.twitter.com", "https://api.x.com"):
            if request.url and request.url.startswith(host):
                request.url = self.base_url + request.url[len(host) :]
        return super().send(
            request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies
        )


class XChannel:
    name = CHANNEL

    def __init__(
        self,
        router: Router,
        account_id: str,
        consumer_key: str,
        consumer_secret: str,
        access_token: str,
        access_token_secret: str,
        api_url: str | None = None,
        webhook: bool = True,
    ) -> None:
        self.router = router
        self.account_id = str(account_id)
        self.consumer_secret = consumer_secret
        #: Webhook mode: /x/webhook answers (CRC and deliveries); else it is a 404.
        self.webhook_on = webhook
        #: Why polling keeps failing, while it does (bot/web.py's /healthz shows it).
        self.problem: str | None = None
        self.client = tweepy.Client(
            consumer_key=consumer_key,
            consumer_secret=consumer_secret,
            access_token=access_token,
            access_token_secret=access_token_secret,
        )
        if api_url:
            adapter = RedirectAdapter(api_url)
            self.client.session.mount("https://", adapter)
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.client.session.close()

    # --- in --------------------------------------------------------------------------------

    async def crc(self, request: web.Request) -> web.Response:
        if not self.webhook_on:
            raise json_error(404, "X is polled here: there is no webhook")
        token = request.query.get("crc_token")
        if not token:
            raise json_error(400, "crc_token is required")
        if not crc_token_ok(token):
            # Signing it would hand out the signature of a body of the asker's choosing.
            logger.warning("x webhook: implausible crc_token refused from %s", request.remote)
            raise json_error(400, "crc_token must be 1-128 URL-safe characters")
        return web.json_response(crc_response(self.consumer_secret, token))

    async def webhook(self, request: web.Request) -> web.Response:
        if not self.webhook_on:
            raise json_error(404, "X is polled here: there is no webhook")
        body = await request.read()
        if not signature_ok(self.consumer_secret, body, request.headers.get(SIGNATURE_HEADER)):
            logger.warning("x webhook: bad or missing signature from %s", request.remote)
            raise json_error(403, "bad signature")
        try:
            import json

            messages, skipped = inbound_from_webhook(json.loads(body), self.account_id)
        except ValueError as error:
            logger.warning("x webhook: unreadable body: %s", error)
            raise json_error(400, "the body must be an Account Activity JSON object") from None
        stored = 0
        for inbound in messages:
            _, created = await self.router.store(inbound)
            if created:
                stored += 1
                self._spawn(self.router.process(inbound.conversation_id))
        if skipped:
            # Event types come from the payload: one clean line.
            logger.info("x webhook: skipped %s", for_log(", ".join(skipped)))
        return web.json_response({"stored": stored, "skipped": len(skipped)})

    def _spawn(self, coroutine: Coroutine[Any, Any, object]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def poll(self, stop: asyncio.Event, every: float = 15.0) -> None:
        """Polls DM events; the newest id handled is persisted (restart-safe)."""
        key = f"since:{self.account_id}"
        since = await asyncio.to_thread(
            run_atomic, self.router.engine, lambda s: get_state(s, CHANNEL, key)
        )
        while not stop.is_set():
            try:
                newest = await asyncio.to_thread(self._read_since, since)
            except tweepy.TooManyRequests as error:
                await asyncio.sleep(_reset_wait(error.response))
                continue
            except (tweepy.TweepyException, requests.RequestException) as error:
                logger.warning("x polling: %s", error)
                self.problem = f"the X API fails: {type(error).__name__}"
                await asyncio.sleep(every)
                continue
            self.problem = None
            for inbound in newest:
                _, created = await self.router.store(inbound)
                if created:
                    await self.router.process(inbound.conversation_id)
            if newest:
                since = max((m.platform_id for m in newest), key=int)
                value = since
                await asyncio.to_thread(
                    run_atomic,
                    self.router.engine,
                    lambda s, value=value: set_state(s, CHANNEL, key, value),
                )
            try:
                await asyncio.wait_for(stop.wait(), every)
            except asyncio.TimeoutError:
                pass

    def _read_since(self, since: str | None) -> list[Any]:
        """Every DM newer than `since`, across pages, oldest first. With no position yet
        (the very first start) only the newest page: not the account's whole DM history."""
        found: list[Any] = []
        token = None
        while True:
            params: dict[str, Any] = {
                "dm_event.fields": "id,text,event_type,created_at,sender_id,attachments",
                "max_results": 100,
            }
            if token:
                params["pagination_token"] = token
            page = self.client.get_direct_message_events(**params)
            body = {"data": [dict(e.data) for e in (page.data or [])], "meta": page.meta or {}}
            fresh = [
                m
                for m in inbound_from_dm_events(body, self.account_id)
                if since is None or int(m.platform_id) > int(since)
            ]
            found = fresh + found
            older_than_since = since is not None and any(
                int(e["id"]) <= int(since) for e in body["data"]
            )
            token = (page.meta or {}).get("next_token")
            if not token or older_than_since or since is None:
                return found

    # --- out -------------------------------------------------------------------------------

    async def send(self, item: Outgoing) -> list[str]:
        text = numbered_options(item.text, item.buttons)
        pieces = split_text(text, MAX_TEXT) or ["…"]
        ids: list[str] = []
        for i, piece in enumerate(pieces):
            if i < item.already_sent:
                continue
            try:
                response = await asyncio.to_thread(
                    self.client.create_direct_message, participant_id=item.recipient, text=piece
                )
            except tweepy.TooManyRequests as error:
                raise SendFailed(
                    "HTTP 429", retry_after=_reset_wait(error.response), delivered=ids
                ) from error
            except (tweepy.BadRequest, tweepy.Forbidden, tweepy.NotFound) as error:
                raise SendFailed(str(error), permanent=True, delivered=ids) from error
            except (tweepy.TweepyException, requests.RequestException) as error:
                raise SendFailed(str(error), delivered=ids) from error
            ids.append(str((response.data or {}).get("dm_event_id", "")))
        return ids


def _reset_wait(response: requests.Response | None) -> float:
    """Seconds until `x-rate-limit-reset` (epoch seconds), at least one."""
    header = response.headers.get("x-rate-limit-reset") if response is not None else None
    if header is None:
        return 60.0
    try:
        reset = float(header)
    except ValueError:
        return 60.0
    return max(1.0, reset - time.time())
