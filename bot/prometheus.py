"""The operators' metrics: `GET /metrics` in Prometheus's text format (README, "Metrics
(Prometheus)").

Counters and histograms move as messages go through (one call each, no database work):
messages in and out per channel, how long each stage of a message took, handoffs by reason,
outbox failures. What is read from the database (the queue by priority, the outbox backlog)
and whether the channels' loops, the background tasks and Rasa are up is read when
Prometheus scrapes, once per scrape. Each app has its own registry: several apps in one
process (the tests) count apart.

Who may read it: a scraper sending `Authorization: Bearer <RELAIS_METRICS_TOKEN>`, or a
supervisor logged into the console. Anyone else gets 401, or 404 while no token is set (the
endpoint is then off for everything but the console's supervisors).
"""

from __future__ import annotations

import asyncio
import hmac
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.rasa_client import RasaClient
from bot.supervise import Health
from handoff.auth import agent_for_token
from handoff.metrics import PUSHED, outbox_backlog
from handoff.web import COOKIE
from relais.core.config import settings
from relais.core.handoff import PRIORITIES
from relais.core.http import json_error
from relais.core.policy import Reason
from relais.core.types import EscalationStatus, Role
from relais.storage.db import run_atomic
from relais.storage.escalations import Escalation

#: Seconds, from a database write (milliseconds) to an outbox entry held by X's send limit
#: (many minutes): one set of buckets for every stage, so stages compare on one scale.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)
#: Handoff reasons are counted under their own name when they are Relais's (relais/core/
#: policy.py), else as "other": a label takes no value an action server could invent.
KNOWN_REASONS = frozenset(reason.value for reason in Reason)
#: A message's stages as bot/rasa_turn.py times them (milliseconds), by the stage's name here.
TURN_STAGES = {"waited": "wait", "before_rasa": "before_rasa", "rasa": "rasa"}
#: The longest a scrape waits for Rasa's status before counting it down.
RASA_CHECK_S = 3.0


class GatewayMetrics:
    """The app's counters and gauges, in a registry of its own (`registry`)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.received = Counter(
            "relais_messages_received",
            "Customer messages stored (duplicates of a platform's message not counted).",
            ["channel"],
            registry=r,
        )
        self.sent = Counter(
            "relais_messages_sent",
            "Messages delivered to customers: taken by the platform (Telegram, X), or "
            "fetched by the web chat's page.",
            ["channel"],
            registry=r,
        )
        self.stages = Histogram(
            "relais_stage_seconds",
            "Where a message's time goes: store (the inbound message written), wait (stored "
            "until its routing starts: the conversation's turn and lease), before_rasa, rasa "
            "(Rasa's turn, its actions included), replies (replies and handoff written), "
            "total (routing started until replies written), outbox (reply written until the "
            "platform took it).",
            ["stage"],
            buckets=BUCKETS,
            registry=r,
        )
        self.handoffs = Counter(
            "relais_handoffs",
            "Conversations handed to the queue, by reason (one handoff may have several).",
            ["reason"],
            registry=r,
        )
        self.outbox_failures = Counter(
            "relais_outbox_failures",
            "Failed outbox deliveries: retried later, or given up for good.",
            ["channel", "outcome"],
            registry=r,
        )
        self.queue_waiting = Gauge(
            "relais_queue_waiting",
            "Conversations waiting in the agents' queue, by priority (1 is the most urgent).",
            ["priority"],
            registry=r,
        )
        self.queue_oldest = Gauge(
            "relais_queue_oldest_wait_seconds",
            "How long the longest-waiting conversation of each priority has waited.",
            ["priority"],
            registry=r,
        )
        self.outbox_waiting = Gauge(
            "relais_outbox_waiting",
            "Replies waiting to go out on a channel that pushes (Telegram, X).",
            ["channel"],
            registry=r,
        )
        self.outbox_oldest = Gauge(
            "relais_outbox_oldest_wait_seconds",
            "How long the oldest reply waiting to go out on the channel has waited.",
            ["channel"],
            registry=r,
        )
        self.channel_up = Gauge(
            "relais_channel_up",
            "1 while a channel's loop runs and its platform answers (as /healthz says), else 0.",
            ["channel"],
            registry=r,
        )
        self.task_up = Gauge(
            "relais_background_task_up",
            "1 while a background task (drain, outbox…) succeeds, 0 while it keeps failing.",
            ["task"],
            registry=r,
        )
        self.rasa_up = Gauge(
            "relais_rasa_up", "1 when Rasa answered this scrape's status call.", registry=r
        )

    # --- as messages go through (cheap: no database, no I/O) --------------------------------

    def stored(self, channel: str, new: bool, started: float) -> None:
        """An inbound message was written (`new`: not a duplicate) since `started`
        (time.perf_counter)."""
        self.stages.labels("store").observe(time.perf_counter() - started)
        if new:
            self.received.labels(channel).inc()

    def turn(self, timings_ms: Mapping[str, float]) -> None:
        """A message answered by Rasa, with its stages as bot/rasa_turn.py timed them."""
        for key, stage in TURN_STAGES.items():
            if key in timings_ms:
                self.stages.labels(stage).observe(max(0.0, timings_ms[key]) / 1000)
        if "total" in timings_ms:
            total = timings_ms["total"]
            replies = total - timings_ms.get("before_rasa", 0.0) - timings_ms.get("rasa", 0.0)
            self.stages.labels("replies").observe(max(0.0, replies) / 1000)
            self.stages.labels("total").observe(max(0.0, total) / 1000)

    def handed_over(self, reasons: Iterable[str]) -> None:
        for reason in reasons:
            self.handoffs.labels(reason if reason in KNOWN_REASONS else "other").inc()

    def delivered(self, channel: str, waited: timedelta | None = None, count: int = 1) -> None:
        """`count` messages reached the customer on `channel`; `waited`: since the reply was
        written (an outbox entry's wait)."""
        if count:
            self.sent.labels(channel).inc(count)
        if waited is not None:
            self.stages.labels("outbox").observe(max(0.0, waited.total_seconds()))

    def send_failed(self, channel: str, gave_up: bool) -> None:
        self.outbox_failures.labels(channel, "gave_up" if gave_up else "retry").inc()

    # --- when Prometheus scrapes ------------------------------------------------------------

    def set_scraped(self, found: Scraped, health: Mapping[str, object], rasa_up: bool) -> None:
        """Sets the gauges read at scrape time (the previous scrape's labels are dropped)."""
        for gauge in (
            self.queue_waiting,
            self.queue_oldest,
            self.outbox_waiting,
            self.outbox_oldest,
            self.channel_up,
            self.task_up,
        ):
            gauge.clear()
        for priority in sorted({*PRIORITIES, *found.queue}):
            count, oldest = found.queue.get(priority, (0, 0.0))
            self.queue_waiting.labels(str(priority)).set(count)
            self.queue_oldest.labels(str(priority)).set(oldest)
        for channel in PUSHED:
            entry = found.backlog.get(channel) or {"waiting": 0, "oldest_s": 0}
            self.outbox_waiting.labels(channel).set(entry["waiting"])
            self.outbox_oldest.labels(channel).set(entry["oldest_s"])
        for kind, gauge in (("channels", self.channel_up), ("tasks", self.task_up)):
            states = health.get(kind)
            if isinstance(states, dict):
                for name, state in states.items():
                    gauge.labels(name).set(1 if state == "ok" else 0)
        self.rasa_up.set(1 if rasa_up else 0)


@dataclass(frozen=True)
class Scraped:
    """What a scrape reads from the database."""

    #: Priority → (conversations waiting, seconds the oldest has waited).
    queue: dict[int, tuple[int, float]]
    #: Channel → {"waiting", "oldest_s"} (handoff/metrics.py `outbox_backlog`).
    backlog: dict[str, dict[str, int]]


def read_scraped(session: Session, now: datetime) -> Scraped:
    """One grouped query on the queue (its index is status, priority…), one on the outbox."""
    rows = session.execute(
        select(Escalation.priority, func.count(), func.min(Escalation.created_at))
        .where(Escalation.status == EscalationStatus.WAITING)
        .group_by(Escalation.priority)
    ).all()
    queue = {
        int(priority): (int(count), max(0.0, (now - oldest).total_seconds()))
        for priority, count, oldest in rows
    }
    return Scraped(queue=queue, backlog=outbox_backlog(session, now))


class Router(Protocol):
    """What /metrics reads of bot/router.py's `Router` (which imports this module)."""

    @property
    def engine(self) -> Engine: ...

    @property
    def clock(self) -> Callable[[], datetime]: ...

    @property
    def rasa(self) -> RasaClient: ...

    @property
    def metrics(self) -> GatewayMetrics: ...


def add_metrics_route(app: web.Application, router: Router, health: Health) -> None:
    """GET /metrics (see the module's docstring for who may read it)."""

    async def serve(request: web.Request) -> web.Response:
        await _check_reader(request, router)
        now = router.clock()
        found, rasa_up = await asyncio.gather(
            asyncio.to_thread(run_atomic, router.engine, lambda s: read_scraped(s, now)),
            _rasa_up(router),
        )
        # Set and rendered without a pause in between: a scrape running meanwhile cannot
        # clear the gauges under this one.
        router.metrics.set_scraped(found, health.report(), rasa_up)
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(
            body=encode(router.metrics.registry), headers={"Content-Type": content_type}
        )

    app.router.add_get("/metrics", serve)


async def _rasa_up(router: Router) -> bool:
    # Within a scrape's time (Prometheus gives up after 10 s by default), even if Rasa hangs.
    try:
        return await asyncio.wait_for(router.rasa.healthy(), RASA_CHECK_S)
    except asyncio.TimeoutError:
        return False


async def _check_reader(request: web.Request, router: Router) -> None:
    """Returns when the request may read the metrics: the right bearer token, or a
    supervisor's console session; raises 401 (404 while no token is set) otherwise."""
    token = settings().metrics_token
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer":
        # Bytes: compare_digest refuses non-ASCII str, and the client wrote this one.
        if hmac.compare_digest(given.strip().encode(), token.encode()):
            return
    cookie = request.cookies.get(COOKIE)
    if cookie:
        now = router.clock()

        def role(session: Session) -> str | None:
            agent = agent_for_token(session, cookie, now)
            return str(agent.role) if agent else None

        if await asyncio.to_thread(run_atomic, router.engine, role) == Role.SUPERVISOR.value:
            return
    if not token:
        raise json_error(404, "not found")
    raise json_error(
        401,
        "send Authorization: Bearer <RELAIS_METRICS_TOKEN>",
        headers={"WWW-Authenticate": 'Bearer realm="relais metrics"'},
    )
