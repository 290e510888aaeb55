"""The Relais app (aiohttp): the web chat channel, the agent console's API, background loops.

    python -m bot.web --port 8000        (make run starts it beside Rasa and the action server)

Pages: /chat (customer side), /console (agents), /console/metrics (supervisors),
/console/review (designers and supervisors); /metrics for Prometheus (bot/prometheus.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, NoReturn, Protocol

from aiohttp import web
from sqlalchemy.engine import Connection

from bot.headers import security_headers
from bot.outbox import Outbox, Sender
from bot.prometheus import add_metrics_route
from bot.rasa_client import RasaClient
from bot.router import Router
from bot.supervise import Health, keep_polling, repeat
from bot.wakeups import OutgoingListener
from bot.web_identity import WebIdentity, add_identity_routes, answer, current_visitor
from handoff.desk import Desk
from handoff.metrics import outbox_backlog
from handoff.queue import requeue_silent
from handoff.satisfaction import ask_idle
from handoff.settings import load_handoff_settings
from handoff.waiting_news import tell_queue_news
from handoff.web import CONSOLE, Console, add_console_routes, client_address
from relais.core.brand import load_brand
from relais.core.config import settings
from relais.core.http import json_error, json_errors, json_object
from relais.core.types import Author
from relais.core.untrusted import clean_text
from relais.storage.db import create_all, get_engine, run_atomic, run_statements
from relais.storage.messages import Inbound, customer_view, mark_delivered
from relais.storage.wakeups import on_outgoing

logger = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
MAX_TEXT_CHARS = 4096
#: Long polling of the web chat: the longest hold, and how often a held request looks again.
MAX_WAIT_S = 25.0
#: The most messages one answer to the web chat carries (the page asks again for more).
TRANSCRIPT_LIMIT = 500
#: Replies wake a held request at once (`_wakeups`); looking again this often is only the
#: fallback (a lost listening connection), so it need not be frequent.
LONG_POLL_LOOK_S = 2.0


ROUTER = web.AppKey("router", Router)
OUTBOX = web.AppKey("outbox", Outbox)
HEALTH = web.AppKey("health", Health)
#: How often each background job runs (seconds); the outbox also runs as soon as something
#: is written for a customer. Requeueing silent agents' conversations is less urgent.
BACKGROUND_EVERY_S = 2.0
REQUEUE_EVERY_S = 30.0
#: Asking silent conversations for a rating, telling waiting customers the queue moved.
CUSTOMER_NEWS_EVERY_S = 30.0
#: /healthz says "degraded" when a reply has waited this long to go out (X's send limit at
#: 15 per 15 minutes reaches it with ten replies waiting).
BACKLOG_DEGRADED_S = 600


class PushChannel(Protocol):
    """What the app runs of a channel beside its routes: Telegram, X."""

    name: str
    #: Set by the polling loop while the platform's API keeps failing (shown by /healthz).
    problem: str | None

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def poll(self, stop: asyncio.Event) -> None: ...


def make_app(
    database_url: str | None = None,
    rasa_url: str | None = None,
    background: bool = True,
    worker_id: str = "relais",
    demo: bool | None = None,
) -> web.Application:
    """The app; `demo` (default: RELAIS_DEMO) lets web chat visitors pick a demo customer."""
    engine = get_engine(database_url)
    create_all(engine)
    # Rasa's HTTP API refuses requests without its token (`rasa run --auth-token`).
    rasa = RasaClient(rasa_url or settings().rasa_url, token=settings().rasa_token)
    router = Router(engine, rasa, load_brand(), load_handoff_settings(), worker_id=worker_id)
    # security_headers first: the outermost, so that it sees every answer, errors included.
    app = web.Application(client_max_size=256 * 1024, middlewares=[security_headers, json_errors])
    app[ROUTER] = router
    desk = Desk(engine, rasa, changed=router.changed, worker_id=worker_id)
    app.router.add_get("/", _to_chat)
    app.router.add_get("/chat", _page("chat.html"))
    app.router.add_post("/api/chat/messages", post_message)
    app.router.add_get("/api/chat/messages", get_messages)
    app.router.add_get("/healthz", health)
    app.router.add_static("/static/", STATIC)
    app.router.add_get("/console", _page("console.html"))
    app.router.add_get("/console/metrics", _page("metrics.html"))
    app.router.add_get("/console/review", _page("review.html"))
    add_console_routes(app, Console(engine=engine, desk=desk, clock=router.clock))
    found = settings()
    add_identity_routes(
        app,
        WebIdentity(
            engine=engine,
            key=found.web_secret.encode(),
            site_secret=found.site_secret,
            demo=found.demo if demo is None else demo,
            # Behind an HTTPS proxy the app itself speaks plain HTTP: the setting says.
            secure=(found.public_url or "").startswith("https://"),
        ),
    )
    app[HEALTH] = Health()
    add_metrics_route(app, router, app[HEALTH])
    _add_channels(app, router)
    app.cleanup_ctx.append(_wakeups)
    if background:
        app.cleanup_ctx.append(_background)
    app.on_cleanup.append(lambda _app: rasa.close())
    return app


async def _wakeups(app: web.Application) -> AsyncIterator[None]:
    """A message written to a customer wakes that conversation's held web chat requests and
    the outbox at its commit: in this process through the commit hook, from other workers
    through PostgreSQL's NOTIFY (bot/wakeups.py)."""
    router = app[ROUTER]
    loop = asyncio.get_running_loop()

    def woken(conversation_ids: Iterable[str]) -> None:
        for conversation_id in conversation_ids:
            router.wake(conversation_id)
        router.changed.set()

    def committed(conversation_ids: Iterable[str]) -> None:  # in the committing thread
        ids = list(conversation_ids)
        with contextlib.suppress(RuntimeError):  # the loop is closing: nobody waits any more
            loop.call_soon_threadsafe(woken, ids)

    stop = on_outgoing(committed)
    listener = None
    if router.engine.dialect.name == "postgresql":
        listener = OutgoingListener(router.engine.url, woken)
        listener.start()
    yield
    stop()
    if listener is not None:
        listener.close()


async def _to_chat(request: web.Request) -> NoReturn:
    raise web.HTTPFound("/chat")


def _page(name: str) -> Callable[[web.Request], Awaitable[web.FileResponse]]:
    async def page(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / name)

    return page


def _add_channels(app: web.Application, router: Router) -> None:
    """Telegram (and X) when their credentials are set; their sends go through the outbox."""
    from bot.channels.config import telegram_settings
    from bot.channels.telegram import TelegramChannel

    senders: dict[str, Sender] = {}
    found = telegram_settings()
    if found is None:
        logger.info("Telegram is off: no TELEGRAM_BOT_TOKEN")
    else:
        telegram = TelegramChannel(
            found.token, router, found.webhook_secret, found.api_url, found.webhook_url
        )
        senders["telegram"] = telegram
        app.router.add_post("/telegram/webhook", telegram.webhook)
        app.cleanup_ctx.append(_run_channel(app, telegram, polling=found.mode == "polling"))
        logger.info("Telegram is on (%s)", found.mode)
    from bot.channels.config import x_settings
    from bot.channels.x import XChannel

    found_x = x_settings()
    if found_x is None:
        logger.info("X is off: no X_* credentials")
    else:
        x = XChannel(
            router,
            found_x.account_id,
            found_x.consumer_key,
            found_x.consumer_secret,
            found_x.access_token,
            found_x.access_token_secret,
            found_x.api_url,
            # Polling: /x/webhook answers 404, the CRC included (it signs what it is given).
            webhook=found_x.mode == "webhook",
            limits=found_x.limits,
        )
        senders["x"] = x
        app.router.add_get("/x/webhook", x.crc)
        app.router.add_post("/x/webhook", x.webhook)
        app.cleanup_ctx.append(_run_channel(app, x, polling=found_x.mode == "polling"))
        logger.info(
            "X is on (%s; %s access: sends %s, reads %s)",
            found_x.mode,
            found_x.limits.level,
            found_x.limits.sends_text,
            found_x.limits.reads_text,
        )
    app[OUTBOX] = Outbox(
        router.engine,
        senders,
        worker_id=router.worker_id,
        wake=router.changed,
        metrics=router.metrics,
    )


def _run_channel(
    app: web.Application, channel: PushChannel, polling: bool
) -> Callable[[web.Application], AsyncIterator[None]]:
    health = app[HEALTH]
    health.channels[channel.name] = None
    health.troubles[channel.name] = lambda: channel.problem

    async def context(app: web.Application) -> AsyncIterator[None]:
        await channel.start()
        stop = asyncio.Event()
        # Started again with backoff if it raises (a database error, say), rather than
        # ending in silence; /healthz shows the channel down meanwhile.
        task = (
            asyncio.create_task(keep_polling(channel.name, channel.poll, stop, health))
            if polling
            else None
        )
        yield
        stop.set()
        if task is not None:
            task.cancel()
            await _stopped(task, f"{channel.name} poller")
        try:
            await asyncio.wait_for(channel.stop(), SHUTDOWN_WAIT_S)
        except asyncio.TimeoutError:
            logger.warning("%s channel did not stop within %s s", channel.name, SHUTDOWN_WAIT_S)

    return context


async def _background(app: web.Application) -> AsyncIterator[None]:
    """Routes what waits (after a restart, or while Rasa was down), delivers the outbox,
    writes missed agent replies and resumes into trackers, requeues silent agents'
    conversations, asks silent customers for a rating and tells waiting ones that the queue
    moved: six tasks, so that one failing (and backing off) never holds up the others, and
    each conversation's failure stays its own (`Router.drain`)."""
    router, desk, health = app[ROUTER], app[CONSOLE].desk, app[HEALTH]
    # Its own lease owner: these take a conversation's routing lease for one transaction,
    # and must not take it over from this worker's router while it answers a message.
    owner = f"{router.worker_id}/background"

    async def requeue() -> None:
        now = router.clock()
        moved = await asyncio.to_thread(
            run_atomic, router.engine, lambda s: requeue_silent(s, now, router.settings)
        )
        if moved:
            router.changed.set()

    async def ratings() -> None:
        now = router.clock()
        if await asyncio.to_thread(ask_idle, router.engine, now, router.settings, owner):
            router.changed.set()

    async def waiting_news() -> None:
        now = router.clock()
        told = await asyncio.to_thread(
            tell_queue_news, router.engine, now, router.brand, router.settings, owner
        )
        if told:
            router.changed.set()

    jobs = {
        "drain": repeat("drain", router.drain, BACKGROUND_EVERY_S, health),
        # Woken early when something was written for customers (replies to deliver).
        "outbox": repeat(
            "outbox", app[OUTBOX].deliver_due, BACKGROUND_EVERY_S, health, wake=router.changed
        ),
        "tracker_sync": repeat("tracker_sync", desk.sync_tracker, BACKGROUND_EVERY_S, health),
        "requeue": repeat("requeue", requeue, REQUEUE_EVERY_S, health),
        "ratings": repeat("ratings", ratings, CUSTOMER_NEWS_EVERY_S, health),
        "waiting_news": repeat("waiting_news", waiting_news, CUSTOMER_NEWS_EVERY_S, health),
    }
    tasks = [asyncio.create_task(job, name=f"background {name}") for name, job in jobs.items()]
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        await _stopped(task, task.get_name())


#: How long stopping waits for a task or a channel before going on without it: a shutdown
#: that hangs on one of them would keep the process (and a restart) waiting for ever.
SHUTDOWN_WAIT_S = 10.0


async def _stopped(task: asyncio.Task[object], what: str) -> None:
    """Waits for a cancelled task to end, at most SHUTDOWN_WAIT_S (logged when it does not)."""
    done, _ = await asyncio.wait({task}, timeout=SHUTDOWN_WAIT_S)
    if not done:
        logger.warning("%s did not stop within %s s", what, SHUTDOWN_WAIT_S)
    elif not task.cancelled() and task.exception() is not None:
        logger.warning("%s ended with %r", what, task.exception())


async def health(request: web.Request) -> web.Response:
    """Always 200 while the app serves (start-up scripts and load balancers wait for it, and
    a channel's poller or Rasa being down is no reason to stop serving the web chat and the
    console); `status` is "degraded" when anything is down, and says what:
    {"status", "relais", "rasa", "channels": {"telegram": "ok" | "down: <why>"},
    "tasks": {"drain": "ok" | "failing: <why>", …},
    "outbox": {"x": {"waiting": 12, "oldest_s": 540, "limits": …}}}.
    A reply waiting longer than BACKLOG_DEGRADED_S (a platform's rate limit, or a platform
    that is down) makes the status "degraded" too."""
    router = request.app[ROUTER]
    rasa_ok = await router.rasa.healthy()
    report = request.app[HEALTH].report()
    now = router.clock()
    backlog = await asyncio.to_thread(run_atomic, router.engine, lambda s: outbox_backlog(s, now))
    outbox: dict[str, dict[str, Any]] = {}
    for name, sender in request.app[OUTBOX].senders.items():
        entry: dict[str, Any] = dict(backlog.get(name) or {"waiting": 0, "oldest_s": 0})
        pace_report = getattr(sender, "pace_report", None)
        if pace_report is not None:
            entry["limits"] = await pace_report()
        elif (limits := getattr(sender, "limits", None)) is not None:
            entry["limits"] = str(limits)
        outbox[name] = entry
    late = any(e["oldest_s"] > BACKLOG_DEGRADED_S for e in outbox.values())
    status = "ok" if rasa_ok and report["status"] == "ok" and not late else "degraded"
    return web.json_response(
        {
            **report,
            "status": status,
            "relais": "ok",
            "rasa": "ok" if rasa_ok else "unreachable",
            "outbox": outbox,
        }
    )


async def post_message(request: web.Request) -> web.Response:
    """A customer message from the web chat: stored, then routed; replies arrive by polling.

    The conversation is the visitor's, from their signed cookie (bot/web_identity.py); a
    `sender` in the body is ignored, so nobody writes into someone else's conversation.
    """
    body = await json_object(request)
    sender = current_visitor(request)
    text = body.get("text")
    if isinstance(text, str):
        text = clean_text(text)  # before the check: control characters alone are no text
    if not isinstance(text, str) or not text.strip():
        raise json_error(400, "text must be a non-empty string")
    if len(text) > MAX_TEXT_CHARS:
        raise json_error(400, f"text is longer than {MAX_TEXT_CHARS} characters")
    # The page sends its own id per message, so a retried POST is stored once.
    client_id = body.get("client_id") or uuid.uuid4().hex
    if not isinstance(client_id, str) or len(client_id) > 100:
        raise json_error(400, "client_id must be a string of at most 100 characters")
    inbound = Inbound(
        channel="web",
        sender=sender,
        platform_id=f"{sender}:{client_id}",
        text=text,
        client_address=client_address(request),
    )
    router = request.app[ROUTER]
    message_id, created = await router.store(inbound)
    if created:
        router.schedule(inbound.conversation_id)
    return answer(
        request,
        {"message_id": message_id, "duplicate": not created},
        status=201 if created else 200,
    )


async def get_messages(request: web.Request) -> web.Response:
    """What the customer sees after message `after`: their messages, the bot's and agents'.

    With `wait=N` (at most 25 seconds) the answer is held until a bot or agent message is
    there, or N seconds have passed (long polling: the page, or a client, need not poll
    fast). Returning an outgoing message to the page is its delivery on this channel.

    Only the visitor's own conversation is read (their cookie's); a `sender` is ignored.
    """
    sender = current_visitor(request)
    try:
        after = int(request.query.get("after", "0"))
        wait = float(request.query.get("wait", "0"))
    except ValueError:
        raise json_error(400, "after must be a message id and wait a number of seconds") from None
    if not 0 <= wait <= MAX_WAIT_S:
        raise json_error(400, f"wait must be between 0 and {MAX_WAIT_S:.0f} seconds")
    conversation_id = f"web:{sender}"
    router = request.app[ROUTER]

    def read(connection: Connection, final: bool) -> dict[str, Any] | None:
        """The answer; None while there is nothing new from the bot or an agent (not final).
        One statement while there is nothing new: a waiting page asks this for every
        message it sends."""
        state, seen = customer_view(connection, conversation_id, after, TRANSCRIPT_LIMIT)
        outgoing = [m.id for m in seen if m.author != Author.CUSTOMER]
        if not outgoing and not final:
            return None
        router.metrics.delivered("web", count=mark_delivered(connection, outgoing))
        return {
            "state": str(state) if state else "bot",
            "messages": [
                {
                    "id": m.id,
                    "author": str(m.author),
                    "text": m.text,
                    "buttons": m.buttons,
                    "at": m.sent_at.isoformat() + "Z",
                }
                for m in seen
            ],
        }

    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        final = loop.time() >= deadline
        # Listening before reading: a reply written in between still wakes this request.
        woken = router.listen(conversation_id)
        try:
            found = await asyncio.to_thread(
                run_statements, router.engine, lambda c, final=final: read(c, final)
            )
            if found is not None:
                return answer(request, found)
            # Woken at once by any reply committed for this conversation (`_wakeups`).
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(
                    woken.wait(), max(0.0, min(LONG_POLL_LOOK_S, deadline - loop.time()))
                )
        finally:
            router.unlisten(conversation_id, woken)


def main() -> None:
    parser = argparse.ArgumentParser(description="the Relais app: web chat and agent console")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--worker-id",
        help="this worker's name among the workers sharing the "
        "database (default: <hostname>:<port>); keep it across restarts",
    )
    parser.add_argument(
        "--reuse-port",
        action="store_true",
        help="let several workers listen on the same port (SO_REUSEPORT)",
    )
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    worker_id = args.worker_id or f"{socket.gethostname()}:{args.port}"
    if args.reuse_port and not args.worker_id:
        parser.error("--reuse-port needs --worker-id: the workers share a port")
    web.run_app(
        make_app(worker_id=worker_id),
        host=args.host,
        port=args.port,
        print=None,
        reuse_port=args.reuse_port or None,
    )


if __name__ == "__main__":
    main()
