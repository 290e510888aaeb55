"""The agent console's HTTP API (JSON) and pages. Every /api/console route needs a login.

What an agent may see: the conversations waiting in the queue and those they hold or held;
a supervisor sees all. Anything else is answered 404 like a conversation that does not exist,
so that ids cannot be probed. What changes something (POST…) must come from the console's own
pages: see `console_guard`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy import exists, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff import records_view
from handoff.auth import (
    LoginLimits,
    agent_for_token,
    dummy_hash,
    forget_attempt,
    log_in,
    log_out,
    login_succeeded,
    start_attempt,
    wait_before_login,
)
from handoff.desk import Desk
from handoff.knowledge_suggestions import latest_customer_texts, suggest
from handoff.metrics import backlog_lines, metrics, metrics_csv, outbox_backlog
from handoff.queue import QueueError, claim, claim_next, held_by, requeue, transfer, waiting
from handoff.review import (
    AgentOutcome,
    ReviewError,
    agent_outcome,
    note_outcome,
    worth_reviewing,
)
from handoff.review_web import Review, add_review_routes
from handoff.waiting_news import announce_agent
from relais.core.config import settings
from relais.core.errors import NotFound, RelaisError
from relais.core.http import error_response, json_error, json_object
from relais.core.types import OPEN_STATUSES, EscalationStatus, Role
from relais.storage.conversations import Conversation, Message
from relais.storage.db import run_atomic
from relais.storage.escalations import Agent, CannedResponse, Escalation, Note
from relais.storage.messages import add_system, transcript

logger = logging.getLogger(__name__)
COOKIE = "relais_session"
#: What is answered for an escalation that does not exist and for one the agent may not see.
NO_SUCH_ESCALATION = "No such conversation in the queue."
#: The methods that change something: a page of another site must not make an agent's
#: browser send them (`console_guard`).
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: The longest username and password a login is checked with (scrypt of a megabyte is work
#: an attacker should not get for free).
MAX_USERNAME, MAX_PASSWORD = 200, 1024
Handler = Callable[[web.Request, int], Awaitable[web.StreamResponse]]
#: What an agent can do to one escalation (POST /api/console/escalations/{id}/{action}).
ACTIONS = ("claim", "release", "transfer", "reply", "note", "resolve", "hand-back")
MAX_ID = 2**31 - 1
T = TypeVar("T")


@dataclass(frozen=True)
class Console:
    """What the console's routes work with."""

    engine: Engine
    desk: Desk
    clock: Callable[[], datetime]


CONSOLE = web.AppKey("console", Console)


def add_console_routes(app: web.Application, console: Console) -> None:
    """The agents' API (the gateway serves the console's pages)."""
    app[CONSOLE] = console
    app.middlewares.append(console_guard)
    dummy_hash()  # made now, so that the first unknown username takes no longer than later ones
    app.router.add_post("/api/login", login)
    app.router.add_post("/api/logout", logout)
    app.router.add_get("/api/console/me", authed(me))
    app.router.add_get("/api/console/queue", authed(queue))
    app.router.add_post("/api/console/claim-next", authed(take_next, queue_work=True))
    app.router.add_get("/api/console/conversations/{id}", authed(conversation))
    app.router.add_post("/api/console/escalations/{id}/{action}", authed(act, queue_work=True))
    app.router.add_get("/api/console/metrics", authed(get_metrics, supervisor=True))
    add_review_routes(app, Review(console.engine, console.desk, console.clock), authed)


def _engine(request: web.Request) -> Engine:
    return request.app[CONSOLE].engine


def _clock(request: web.Request) -> Callable[[], datetime]:
    return request.app[CONSOLE].clock


async def _atomic(request: web.Request, work: Callable[[Session], T]) -> T:
    try:
        return await asyncio.to_thread(run_atomic, _engine(request), work)
    except RelaisError as error:
        raise error_response(error) from None


def _id(value: object, what: str) -> int:
    """`value` as a row id: a positive integer, or its digits (a path segment); else a 400.

    Ids are 32-bit columns: a bigger number would fail in the database, not be "not found".
    """
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID:
        return value
    raise json_error(400, f"{what} must be a whole number (an id)")


def own_origin(request: web.Request) -> str:
    """The origin the app is served at: RELAIS_PUBLIC_URL's behind a proxy, else the scheme
    and Host the request came to (what a browser on our pages sends as Origin)."""
    return settings().public_url or f"{request.scheme}://{request.host}".lower()


def _guarded(path: str) -> bool:
    return path in ("/api/login", "/api/logout") or path.startswith("/api/console/")


@web.middleware
async def console_guard(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Cross-site request forgery, refused before any console handler runs.

    A request that changes something (login, logout, every POST… under /api/console) must
    1. show that it comes from our own pages: an Origin header equal to `own_origin`, or,
       without Origin, `Sec-Fetch-Site: same-origin`; browsers send one or both on every
       POST, so a request with neither is refused too (403), cookie or not; a script
       calling the API sends `Origin: <the app's URL>`;
    2. be JSON (Content-Type: application/json, even without a body), else 415: an HTML
       form on another site cannot send that type, and fetch() cannot without a CORS
       preflight, which the app never grants.
    Together with the SameSite=Strict cookie, each of the three is enough on its own.
    """
    if request.method in STATE_CHANGING and _guarded(request.path):
        origin = request.headers.get("Origin")
        if origin is not None:
            if origin.lower() != own_origin(request):
                raise json_error(403, "cross-origin request refused")
        elif request.headers.get("Sec-Fetch-Site") != "same-origin":
            raise json_error(
                403, "the request does not show where it comes from: send an Origin header"
            )
        if request.content_type != "application/json":
            raise json_error(415, "send JSON (Content-Type: application/json)")
    return await handler(request)


def client_address(request: web.Request) -> str:
    """Who the login limits count: the peer, or behind RELAIS_TRUSTED_PROXIES proxies the
    address the outermost trusted one saw (X-Forwarded-For; entries further left are the
    client's own words and could be anything)."""
    hops = settings().trusted_proxies
    if hops:
        forwarded = [
            entry.strip()
            for header in request.headers.getall("X-Forwarded-For", [])
            for entry in header.split(",")
            if entry.strip()
        ]
        if len(forwarded) >= hops:
            return forwarded[-hops]
    return request.remote or "unknown"


def _secure_cookie() -> bool:
    # Behind an HTTPS proxy the app itself speaks plain HTTP: the setting, not the request,
    # says whether browsers reach it over HTTPS.
    return (settings().public_url or "").startswith("https://")


def authed(
    handler: Handler, supervisor: bool = False, queue_work: bool = False
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """`handler` behind the login; `supervisor`: for supervisors only; `queue_work`: taking
    and working conversations of the queue, which designers do not do (403)."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        token = request.cookies.get(COOKIE)
        now = _clock(request)()

        def who(session: Session) -> tuple[int, str] | None:
            agent = agent_for_token(session, token, now)
            return (agent.id, str(agent.role)) if agent else None

        found = await asyncio.to_thread(run_atomic, _engine(request), who)
        if found is None:
            raise json_error(401, "log in first")
        if supervisor and found[1] != Role.SUPERVISOR.value:
            raise json_error(403, "supervisors only")
        if queue_work and found[1] == Role.DESIGNER.value:
            raise json_error(403, "designers review conversations; they do not take the queue")
        return await handler(request, found[0])

    return wrapped


async def login(request: web.Request) -> web.Response:
    """A login, within the limits on failures per username and per client address (429 with
    Retry-After past them, before any password is checked); see handoff/auth.py."""
    from handoff.settings import load_handoff_settings

    try:
        body = await request.json()
    except ValueError:
        body = None
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("username"), str)
        or not isinstance(body.get("password"), str)
    ):
        raise json_error(400, "username and password are required")
    username, password = body["username"], body["password"]
    if len(username) > MAX_USERNAME or len(password) > MAX_PASSWORD:
        raise json_error(400, "username or password too long")
    found_settings = load_handoff_settings()
    hours = found_settings.session_hours
    limits = LoginLimits(
        per_username=found_settings.login_failures_per_username,
        per_address=found_settings.login_failures_per_address,
        window=timedelta(minutes=found_settings.login_window_minutes),
    )
    now = _clock(request)()
    address = client_address(request)
    engine = _engine(request)
    # Committed before counting (two transactions): see handoff/auth.py on racing workers.
    attempt = await asyncio.to_thread(
        run_atomic, engine, lambda s: start_attempt(s, username, address, now, limits)
    )
    wait = await asyncio.to_thread(
        run_atomic, engine, lambda s: wait_before_login(s, attempt, now, limits)
    )
    if wait:
        await asyncio.to_thread(run_atomic, engine, lambda s: forget_attempt(s, attempt))
        logger.warning("login refused (too many failures) from %s", address)
        raise json_error(
            429,
            f"too many failed logins: try again in {max(1, round(wait / 60))} minute(s)",
            {"Retry-After": str(wait)},
        )

    def check(session: Session) -> tuple[int, str, str, str] | None:
        found = log_in(session, username, password, now, hours)
        if found is None:
            return None  # the attempt stays: a failure
        login_succeeded(session, attempt)
        agent, token = found
        return agent.id, agent.display_name, str(agent.role), token

    result = await asyncio.to_thread(run_atomic, engine, check)
    if result is None:
        raise json_error(401, "wrong username or password")
    agent_id, name, role, token = result
    response = web.json_response({"id": agent_id, "name": name, "role": role})
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=_secure_cookie(),
        max_age=int(hours * 3600),
    )
    return response


async def logout(request: web.Request) -> web.Response:
    token = request.cookies.get(COOKIE)
    if token:
        await asyncio.to_thread(run_atomic, _engine(request), lambda s: log_out(s, token))
    response = web.json_response({"ok": True})
    # Expired with the same attributes it was set with (del_cookie cannot give them all).
    response.set_cookie(
        COOKIE,
        "",
        httponly=True,
        samesite="Strict",
        secure=_secure_cookie(),
        max_age=0,
        expires="Thu, 01 Jan 1970 00:00:00 GMT",
    )
    return response


def may_see(session: Session, agent: Agent, conversation_id: str) -> bool:
    """A supervisor sees every conversation; an agent one that waits in the queue, or that
    they hold or held (an escalation of theirs, or anything they did in it: took, replied,
    noted, released, transferred); a designer one that belongs in the review inbox."""
    if agent.role == Role.SUPERVISOR:
        return True
    if agent.role == Role.DESIGNER:
        return worth_reviewing(session, conversation_id)
    queued_or_theirs = select(Escalation.id).where(
        Escalation.conversation_id == conversation_id,
        or_(Escalation.status == EscalationStatus.WAITING, Escalation.agent_id == agent.id),
    )
    acted = select(Message.id).where(
        Message.conversation_id == conversation_id, Message.agent_id == agent.id
    )
    return bool(session.execute(select(or_(exists(queued_or_theirs), exists(acted)))).scalar())


def may_act(escalation: Escalation, agent: Agent) -> bool:
    """An agent acts on an escalation waiting in the queue (to take it) or one they hold; a
    supervisor on any. Each action then asks for what it needs (holding it, mostly)."""
    return (
        agent.role == Role.SUPERVISOR
        or escalation.status == EscalationStatus.WAITING
        or (escalation.status == EscalationStatus.CLAIMED and escalation.agent_id == agent.id)
    )


async def me(request: web.Request, agent_id: int) -> web.Response:
    def read(session: Session) -> dict[str, Any]:
        agent = session.get(Agent, agent_id)
        return {
            "id": agent.id,
            "name": agent.display_name,
            "username": agent.username,
            "role": str(agent.role),
            "capacity": agent.capacity,
            "holding": held_by(session, agent.id),
        }

    return web.json_response(await _atomic(request, read))


def escalation_row(session: Session, e: Escalation, now: datetime) -> dict[str, Any]:
    conversation = session.get(Conversation, e.conversation_id)
    customer = records_view.customer(session, conversation.customer_id)
    return {
        "id": e.id,
        "conversation_id": e.conversation_id,
        "channel": e.channel,
        "status": str(e.status),
        "priority": e.priority,
        "reasons": e.reasons,
        "intent": e.intent,
        "language": e.language,
        "summary": e.summary,
        "customer": customer["name"] if customer else None,
        "tier": customer["tier"] if customer else None,
        "waiting_seconds": int((now - e.created_at).total_seconds()),
        "sla_seconds_left": int((e.deadline - now).total_seconds()),
        "answered": e.first_reply_at is not None,
        "agent": e.agent.display_name if e.agent else None,
        "agent_id": e.agent_id,
        "created_at": e.created_at.isoformat() + "Z",
    }


async def queue(request: web.Request, agent_id: int) -> web.Response:
    now = _clock(request)()

    def read(session: Session) -> dict[str, Any]:
        mine = session.execute(
            select(Escalation)
            .where(Escalation.agent_id == agent_id, Escalation.status == EscalationStatus.CLAIMED)
            .order_by(Escalation.priority, Escalation.deadline)
        ).scalars()
        agents = session.execute(
            select(Agent)
            .where(Agent.active.is_(True), Agent.role != Role.DESIGNER)
            .order_by(Agent.display_name)
        ).scalars()
        return {
            "waiting": [escalation_row(session, e, now) for e in waiting(session)],
            "mine": [escalation_row(session, e, now) for e in mine],
            "agents": [{"id": a.id, "name": a.display_name} for a in agents],
            "now": now.isoformat() + "Z",
            # Replies waiting for a platform (its rate limit, or an outage): agents should
            # know before they wonder why a customer has not answered.
            "backlog": backlog_lines(outbox_backlog(session, now)),
        }

    return web.json_response(await _atomic(request, read))


async def take_next(request: web.Request, agent_id: int) -> web.Response:
    now = _clock(request)()

    def work(session: Session) -> dict[str, Any] | None:
        agent = session.get(Agent, agent_id)
        taken = claim_next(session, agent, now)
        if taken is None:
            return None
        announce_agent(session, taken, agent)
        return escalation_row(session, taken, now)

    taken = await _atomic(request, work)
    if taken is None:
        return web.json_response({"escalation": None, "message": "The queue is empty."})
    return web.json_response({"escalation": taken})


async def conversation(request: web.Request, agent_id: int) -> web.Response:
    conversation_id = request.match_info["id"]
    now = _clock(request)()

    def read(session: Session) -> dict[str, Any]:
        conv = session.get(Conversation, conversation_id)
        if conv is None or not may_see(session, session.get(Agent, agent_id), conv.id):
            raise NotFound("no such conversation")
        escalation = (
            session.execute(
                select(Escalation)
                .where(Escalation.conversation_id == conv.id)
                .order_by(Escalation.id.desc())
                .limit(1)
            )
            .scalars()
            .first()
        )
        notes = session.execute(
            select(Note).where(Note.conversation_id == conv.id).order_by(Note.id)
        ).scalars()
        lang = conv.language or "en"
        canned = session.execute(
            select(CannedResponse)
            .where(CannedResponse.language == lang)
            .order_by(CannedResponse.title)
        ).scalars()
        records = records_view.records(session, conv, now, escalation)
        return {
            "id": conv.id,
            "channel": conv.channel,
            "state": str(conv.state),
            "language": lang,
            "escalation": escalation_row(session, escalation, now) if escalation else None,
            "context": escalation.context if escalation else {},
            "transcript": [
                {
                    "id": m.id,
                    "author": str(m.author),
                    "text": m.text,
                    "agent": m.agent_id,
                    "details": m.details,
                    "buttons": m.buttons,
                    "at": m.sent_at.isoformat() + "Z",
                }
                for m in transcript(session, conv.id)
            ],
            "records": records,
            "suggestions": records_view.suggestions(records, escalation, lang),
            "canned": [{"title": c.title, "text": c.text} for c in canned],
            "notes": [
                {
                    "text": n.text,
                    "by": n.agent.display_name if n.agent else "",
                    "at": n.created_at.isoformat() + "Z",
                }
                for n in notes
            ],
        }

    view = await _atomic(request, read)
    # Only while a person may answer (the console polls an open conversation every 2 s);
    # Rasa slow or down leaves them out, not the conversation.
    escalation = view["escalation"]
    answering = escalation is not None and escalation["status"] in OPEN_STATUSES
    texts = latest_customer_texts(view["transcript"]) if answering else []
    view["knowledge_suggestions"] = await suggest(
        request.app[CONSOLE].desk.rasa, texts, view["language"]
    )
    return web.json_response(view)


async def act(request: web.Request, agent_id: int) -> web.Response:
    """claim | release | transfer | reply | note | resolve | hand-back on one escalation."""
    escalation_id = _id(request.match_info["id"], "the escalation id in the path")
    action = request.match_info["action"]
    if action not in ACTIONS:
        raise json_error(404, f"unknown action {action}")
    body = await _body(request)
    now = _clock(request)()
    desk = request.app[CONSOLE].desk
    # The request's own mistakes first (400), whatever the escalation.
    client_id = body.get("client_id") if action == "reply" else None
    if client_id is not None and (not isinstance(client_id, str) or len(client_id) > 80):
        raise json_error(400, "client_id must be a string of at most 80 characters")
    text = _text(body) if action in ("reply", "note") else ""
    transfer_to = _id(body.get("agent_id"), "agent_id") if action == "transfer" else None
    note = text.strip() if action == "note" else ""
    try:
        outcome = agent_outcome(body) if action in ("resolve", "hand-back") else None
    except ReviewError as error:
        raise json_error(400, str(error)) from None

    def visible(session: Session) -> None:
        escalation = session.get(Escalation, escalation_id)
        if escalation is None or not may_act(escalation, session.get(Agent, agent_id)):
            raise NotFound(NO_SUCH_ESCALATION)

    # Before any action, the desk's too: one the agent may not see is "no such" (404).
    await _atomic(request, visible)
    try:
        if action == "reply":
            message_id, new = await desk.reply(agent_id, escalation_id, text, client_id)
            return web.json_response({"message_id": message_id, "duplicate": not new})
        if action == "resolve":
            await desk.resolve(agent_id, escalation_id)
            return await _closed(request, escalation_id, outcome, {"ok": True})
        if action == "hand-back":
            follow_up = await desk.hand_back(agent_id, escalation_id)
            return await _closed(request, escalation_id, outcome, {"follow_up": follow_up})
    except RelaisError as error:
        raise error_response(error) from None

    def work(session: Session) -> dict[str, Any]:
        agent = session.get(Agent, agent_id)
        escalation = session.get(Escalation, escalation_id)
        if escalation is None:
            raise NotFound(NO_SUCH_ESCALATION)
        if action == "claim":
            announce_agent(session, claim(session, agent, escalation_id, now), agent)
        elif action == "release":
            _held(escalation, agent)
            requeue(
                session,
                escalation,
                f"{agent.display_name} put the conversation back in the queue.",
                agent.id,
            )
        elif action == "transfer":
            _held(escalation, agent)
            to = session.get(Agent, transfer_to)
            if to is None or not to.active or to.role == Role.DESIGNER:
                raise QueueError("Choose an active agent to transfer to.")
            transfer(session, escalation, to, agent, now)
            announce_agent(session, escalation, to)
        elif action == "note":
            _held(escalation, agent)
            if not note:
                raise QueueError("A note needs some text.")
            # On the console's clock, as the escalation's times: the contact recorded when
            # it is closed takes the latest note written since it was opened (handoff/desk.py).
            session.add(
                Note(
                    conversation_id=escalation.conversation_id,
                    agent_id=agent.id,
                    text=note,
                    created_at=now,
                )
            )
            add_system(
                session,
                session.get(Conversation, escalation.conversation_id),
                f"{agent.display_name} added a private note.",
                {"event": "note"},
                agent.id,
            )
        return {"ok": True}

    return web.json_response(await _atomic(request, work))


async def _closed(
    request: web.Request, escalation_id: int, outcome: AgentOutcome | None, answer: dict[str, Any]
) -> web.Response:
    """The answer to a resolve or hand-back, once what the agent said for designers is kept:
    after the close, so that a refused close keeps nothing."""
    if outcome is not None:
        await _atomic(
            request, lambda s: note_outcome(s, escalation_id=escalation_id, outcome=outcome)
        )
    return web.json_response(answer)


async def _body(request: web.Request) -> dict[str, Any]:
    """The action's JSON object (an empty one without a body); anything else is a 400."""
    return await json_object(request, empty_ok=True)


def _text(body: dict[str, Any]) -> str:
    """The body's `text` ("" when absent); a number or a list would reach the customer as is."""
    text = body.get("text")
    if text is None:
        return ""
    if not isinstance(text, str):
        raise json_error(400, "text must be a string")
    return text


def _held(escalation: Escalation, agent: Agent) -> None:
    if escalation.status != EscalationStatus.CLAIMED:
        raise QueueError("Nobody holds this conversation.")
    if escalation.agent_id != agent.id and agent.role != Role.SUPERVISOR:
        raise QueueError("Another agent holds this conversation.")


async def get_metrics(request: web.Request, agent_id: int) -> web.StreamResponse:
    now = _clock(request)()
    report = await _atomic(request, lambda s: metrics(s, now))
    if request.query.get("format") == "csv":
        return web.Response(
            text=metrics_csv(report),
            content_type="text/csv",
            headers={"Content-Disposition": "attachment; filename=relais-metrics.csv"},
        )
    return web.json_response(report)
