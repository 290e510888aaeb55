"""X direct messages, through tweepy: the Account Activity webhook (or polling) in, the v2
DM endpoint out, both within X's rate limits (bot/channels/x_limits.py).

In: `GET /x/webhook?crc_token=` is answered for a plausible token only (bot/channels/x_wire.py
says why); a POST is accepted only with a valid `x-twitter-webhooks-signature` and for our
account (`for_user_id`), and its DMs are stored before the 200 (our own echoed messages
dropped). In polling mode the webhook does not exist (404), its CRC included: instead,
`GET /2/dm_events` is polled at the pace the read limit allows (15 per 15 minutes: once a
minute), each page one request, and the newest event id handled is persisted, so a restart
neither loses nor repeats a message. A catch-up longer than the limit allows goes on at the
limit's pace, and its messages are stored oldest first once it is complete. The very first
start (no position kept yet) reads the newest page only and answers only the DMs of the last
24 hours: older ones were written before Relais was connected, and a bot's reply days later
would answer a question long settled (they stay on X for the team to read).
Group conversations are not answered as one customer: each gets one note, in both languages,
that the brand answers privately (sent through the outbox like any reply).
Out: `POST /2/dm_conversations/with/:id/messages`, text split at 10,000 characters, buttons as
numbered options (the v2 endpoint has no quick replies; a reply "2" is read as the second
option's payload by the router). Each send takes a slot of the account's send limit, shared
by every worker (bot/pacing.py): when none is free the outbox keeps the replies, in order,
until one is; an HTTP 429 holds every send until `x-rate-limit-reset`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime, timezone
from typing import Any

import requests
import tweepy
from aiohttp import web
from sqlalchemy.orm import Session

from bot.channels.common import get_state, numbered_options, set_state, split_text
from bot.channels.x_limits import PAY_PER_USE, XLimits
from bot.channels.x_wire import (
    CHANNEL,
    MAX_TEXT,
    SIGNATURE_HEADER,
    crc_response,
    crc_token_ok,
    read_dm_events,
    read_webhook,
    signature_ok,
)
from bot.outbox import NotYet, Outgoing
from bot.pacing import MemoryPace, SharedPace
from bot.router import Router
from relais.core.errors import SendFailed
from relais.core.http import json_error
from relais.core.texts import LANGUAGES, say
from relais.core.types import Author
from relais.core.untrusted import for_log
from relais.storage.db import run_atomic
from relais.storage.messages import Inbound, add_outgoing, conversation_for

logger = logging.getLogger(__name__)

#: A group conversation's outbox recipient: "group:<dm_conversation_id>".
GROUP = "group:"
#: On the very first start, DMs older than this many seconds are not answered.
FIRST_START_WINDOW_S = 24 * 3600


def group_note() -> str:
    """The one note a group conversation gets, in every language."""
    return " / ".join(say("x.group_note", lang) for lang in LANGUAGES)


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
        router: Router | None,
        account_id: str,
        consumer_key: str,
        consumer_secret: str,
        access_token: str,
        access_token_secret: str,
        api_url: str | None = None,
        webhook: bool = True,
        limits: XLimits = PAY_PER_USE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.router = router
        self.account_id = str(account_id)
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        #: Webhook mode: /x/webhook answers (CRC and deliveries); else it is a 404.
        self.webhook_on = webhook
        self.limits = limits
        self.clock = clock
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
        # The account's limits are shared by every worker of the database (the row in
        # channel_state); without a router (a script that only sends) this process's own.
        self.send_pace: SharedPace | MemoryPace
        self.read_pace: SharedPace | MemoryPace
        if router is not None:
            engine = router.engine
            self.send_pace = SharedPace(
                engine, CHANNEL, f"pace:send:{self.account_id}", limits.sends, clock
            )
            self.read_pace = SharedPace(
                engine, CHANNEL, f"pace:read:{self.account_id}", limits.reads, clock
            )
        else:
            self.send_pace = MemoryPace(limits.sends, clock)
            self.read_pace = MemoryPace(limits.reads, clock)
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.client.session.close()

    async def pace_report(self) -> dict[str, Any]:
        """For /healthz: the limits kept to, and how long until the next send may go."""
        return {
            "access_level": self.limits.level,
            "sends": self.limits.sends_text,
            "reads": self.limits.reads_text,
            "next_send_in_s": round(await self.send_pace.wait(), 1),
        }

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
            read = read_webhook(json.loads(body), self.account_id)
        except ValueError as error:
            logger.warning("x webhook: unreadable body: %s", error)
            raise json_error(400, "the body must be an Account Activity JSON object") from None
        stored = 0
        router = self._router()
        for inbound in read.messages:
            _, created = await router.store(inbound)
            if created:
                stored += 1
                self._spawn(router.process(inbound.conversation_id))
        for group in read.groups:
            await self.note_group_once(group)
        if read.skipped:
            # Event types come from the payload: one clean line.
            logger.info("x webhook: skipped %s", for_log(", ".join(read.skipped)))
        return web.json_response({"stored": stored, "skipped": len(read.skipped)})

    def _router(self) -> Router:
        if self.router is None:
            raise RuntimeError("this X channel only sends: it has no router")
        return self.router

    def _spawn(self, coroutine: Coroutine[Any, Any, object]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def note_group_once(self, dm_conversation_id: str) -> bool:
        """Tells a group conversation, once, that the brand answers privately; the note goes
        out through the outbox (it counts against the send limit like any reply). True if
        it was written now."""
        router = self._router()
        key = f"group-noted:{dm_conversation_id}"

        def work(session: Session) -> bool:
            if get_state(session, CHANNEL, key) is not None:
                return False
            set_state(session, CHANNEL, key, "1")
            conversation = conversation_for(session, CHANNEL, f"{GROUP}{dm_conversation_id}")
            add_outgoing(
                session, conversation, Author.BOT, group_note(), details={"kind": "group_note"}
            )
            return True

        written = await asyncio.to_thread(run_atomic, router.engine, work)
        if written:
            logger.info("x: group conversation %s told to write privately", dm_conversation_id)
            router.changed.set()
        return written

    async def poll(self, stop: asyncio.Event, every: float | None = None) -> None:
        """Polls DM events at the read limit's pace; the newest id handled is persisted
        (restart-safe)."""
        router = self._router()
        pause = self.limits.poll_every_s if every is None else every
        key = f"since:{self.account_id}"
        since = await asyncio.to_thread(
            run_atomic, router.engine, lambda s: get_state(s, CHANNEL, key)
        )
        while not stop.is_set():
            try:
                events = await self._catch_up(since, stop)
            except (tweepy.TweepyException, requests.RequestException, ValueError) as error:
                logger.warning("x polling: %s", error)
                self.problem = f"the X API fails: {type(error).__name__}"
                await _pause(stop, pause)
                continue
            if events is None:  # stopped while waiting for the read limit
                return
            self.problem = None
            read = read_dm_events({"data": events}, self.account_id)
            messages = read.messages if since is not None else self._recent(read.messages)
            for inbound in messages:
                _, created = await router.store(inbound)
                if created:
                    await router.process(inbound.conversation_id)
            if since is not None:  # the very first start answers no group's history
                for group in read.groups:
                    await self.note_group_once(group)
            if events:
                since = max((str(e["id"]) for e in events), key=int)
                value = since
                await asyncio.to_thread(
                    run_atomic,
                    router.engine,
                    lambda s, value=value: set_state(s, CHANNEL, key, value),
                )
            await _pause(stop, pause)

    def _recent(self, messages: Sequence[Inbound]) -> list[Inbound]:
        """The DMs of the last FIRST_START_WINDOW_S (or of an unknown time): what the very
        first start answers."""
        cutoff = datetime.fromtimestamp(self.clock() - FIRST_START_WINDOW_S, tz=timezone.utc)
        naive = cutoff.replace(tzinfo=None)  # Inbound.sent_at is naive UTC
        kept = [m for m in messages if m.sent_at is None or m.sent_at >= naive]
        if len(kept) < len(messages):
            logger.info(
                "x: first start: %d DMs older than %d h left unanswered",
                len(messages) - len(kept),
                FIRST_START_WINDOW_S // 3600,
            )
        return kept

    async def _catch_up(
        self, since: str | None, stop: asyncio.Event
    ) -> list[dict[str, Any]] | None:
        """Every event newer than `since`, across pages, newest first; each page waits for a
        slot of the read limit. With no position yet (the very first start) only the newest
        page: not the account's whole DM history. None if `stop` was set meanwhile."""
        found: list[dict[str, Any]] = []
        token = None
        while True:
            while (wait := await self.read_pace.take()) > 0:
                if await _pause(stop, wait):
                    return None
            try:
                page = await asyncio.to_thread(self._read_page, token)
            except tweepy.TooManyRequests as error:
                # Another client of this account spent the reads: wait for X's reset.
                await self.read_pace.hold(self._reset_at(error.response))
                continue
            finally:
                await self.read_pace.settle()
            data = [e for e in page.get("data") or [] if isinstance(e, dict) and e.get("id")]
            fresh = [e for e in data if since is None or int(e["id"]) > int(since)]
            found += fresh
            token = (page.get("meta") or {}).get("next_token")
            if not token or since is None or len(fresh) < len(data):
                return found

    def _read_page(self, token: str | None) -> dict[str, Any]:
        params: dict[str, Any] = {
            "dm_event.fields": "id,text,event_type,created_at,sender_id,attachments,"
            "dm_conversation_id,participant_ids",
            "max_results": 100,
        }
        if token:
            params["pagination_token"] = token
        response = self.client.request("GET", "/2/dm_events", params=params, user_auth=True)
        body = response.json()
        if not isinstance(body, dict):
            raise ValueError("GET /2/dm_events did not answer a JSON object")
        return body

    # --- out -------------------------------------------------------------------------------

    async def send(self, item: Outgoing) -> list[str]:
        text = numbered_options(item.text, item.buttons)
        pieces = split_text(text, MAX_TEXT) or ["…"]
        ids: list[str] = []
        for i, piece in enumerate(pieces):
            if i < item.already_sent:
                continue
            wait = await self.send_pace.take()
            if wait > 0:
                raise NotYet(
                    f"waiting for X's send limit ({self.limits.sends_text})",
                    retry_after=wait,
                    whole_channel=True,
                    delivered=ids,
                )
            try:
                response = await asyncio.to_thread(self._post, item.recipient, piece)
            except tweepy.TooManyRequests as error:
                await self.send_pace.settle()
                until = self._reset_at(error.response)
                await self.send_pace.hold(until)
                raise NotYet(
                    "X answered HTTP 429: waiting for x-rate-limit-reset",
                    retry_after=max(1.0, until - self.clock()),
                    whole_channel=True,
                    delivered=ids,
                ) from error
            except (tweepy.BadRequest, tweepy.Forbidden, tweepy.NotFound) as error:
                await self.send_pace.settle()
                raise SendFailed(str(error), permanent=True, delivered=ids) from error
            except (tweepy.TweepyException, requests.RequestException, ValueError) as error:
                await self.send_pace.settle()
                raise SendFailed(str(error), delivered=ids) from error
            # X accepted the piece: nothing after this may fail the send, or the outbox
            # would send it again (a duplicate DM, and one more of the window's sends).
            try:
                await self.send_pace.settle()
                if response.headers.get("x-rate-limit-remaining") == "0":
                    # X counts this account's sends from elsewhere too: it says when to go on.
                    await self.send_pace.hold(self._reset_at(response))
            except Exception:
                logger.exception("X send pacing could not be updated after a delivered DM")
            ids.append(_dm_event_id(response))
        return ids

    def _post(self, recipient: str, text: str) -> requests.Response:
        if recipient.startswith(GROUP):
            route = f"/2/dm_conversations/{recipient[len(GROUP) :]}/messages"
        else:
            route = f"/2/dm_conversations/with/{recipient}/messages"
        response: requests.Response = self.client.request(
            "POST", route, json={"text": text}, user_auth=True
        )
        return response

    def _reset_at(self, response: requests.Response | None) -> float:
        """When X's window resets (epoch seconds, `x-rate-limit-reset`); a minute from now
        when it does not say."""
        header = response.headers.get("x-rate-limit-reset") if response is not None else None
        try:
            return max(self.clock() + 1.0, float(header)) if header else self.clock() + 60.0
        except ValueError:
            return self.clock() + 60.0


async def _pause(stop: asyncio.Event, seconds: float, step: float = 0.25) -> bool:
    """Waits `seconds`, or until `stop` is set (short sleeps: see bot/supervise.py `_pause`);
    True if stopped."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while not stop.is_set() and (left := until - loop.time()) > 0:
        await asyncio.sleep(min(step, left))
    return stop.is_set()


def _dm_event_id(response: requests.Response) -> str:
    """The id X gave a sent DM ("" when its body cannot be read: the DM was sent all the same)."""
    try:
        body = response.json() or {}
        return str((body.get("data") or {}).get("dm_event_id", ""))
    except (ValueError, AttributeError):
        return ""
