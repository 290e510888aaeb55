"""The designers' review API (JSON) under /api/console/review: the inbox, one conversation as
the bot saw it, labels, test stories, "done", and the export of what was accepted.

Designers and supervisors use it; to an agent every route answers 404, as anything else they
may not see. A designer reads only conversations that belong in the inbox (handoff/review.py).
Registered by handoff/web.py, whose login (`authed`) and request guard apply: this module
cannot import it (sibling modules never import each other both ways).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.desk import BotTracker, Desk
from handoff.review import (
    MAX_PAGE,
    LabelChange,
    ReviewError,
    bot_parses,
    conversation_for_review,
    inbox,
    make_story,
    mark_done,
    remove_label,
    set_label,
    with_parses,
    worth_reviewing,
)
from handoff.review_export import (
    ExportFiles,
    build_export,
    pending_conversations,
    write_export,
)
from relais.core.config import settings
from relais.core.errors import NotFound, RasaUnavailable, RelaisError
from relais.core.http import error_response, json_error, json_object
from relais.core.types import Role
from relais.storage.conversations import Conversation, Message
from relais.storage.db import run_atomic
from relais.storage.escalations import Agent

logger = logging.getLogger(__name__)
T = TypeVar("T")
#: Who reviews: designers, and supervisors, who see everything anyway.
REVIEWERS = frozenset({Role.DESIGNER, Role.SUPERVISOR})
#: What an agent is answered (as for any page they may not see).
NOT_HERE = "No such page."
NO_SUCH_CONVERSATION = "No such conversation to review."
#: What a label request may set (handoff/review.py `LabelChange`).
LABEL_FIELDS = frozenset({"intent", "entities", "excluded", "language"})
MAX_ID = 2**31 - 1
DEFAULT_PAGE = 20
MAX_OFFSET = 1_000_000
#: The two files an export offers for download (?file=…).
EXPORT_FILES = ("nlu", "stories")
#: How long the export waits for each conversation's tracker (a story needs it).
TRACKER_TIMEOUT_S = 10.0

Route = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: A handler of (request, the logged-in agent's id).
AgentRoute = Callable[[web.Request, int], Awaitable[web.StreamResponse]]
#: handoff/web.py's `authed`: an `AgentRoute` behind the console's login.
Authed = Callable[[AgentRoute], Route]


@dataclass(frozen=True)
class Review:
    """What the review routes work with."""

    engine: Engine
    #: The desk's `rasa` is the bot's tracker, read for its parse of each message.
    desk: Desk
    clock: Callable[[], datetime]


@dataclass(frozen=True)
class Reviewer:
    """Who is reviewing: a designer or a supervisor."""

    id: int
    role: Role


REVIEW = web.AppKey("review", Review)
Handler = Callable[[web.Request, Reviewer], Awaitable[web.StreamResponse]]


def add_review_routes(app: web.Application, review: Review, authed: Authed) -> None:
    """The review's routes, each behind `authed` (the console's login) and for reviewers."""
    app[REVIEW] = review

    def route(handler: Handler) -> Route:
        return authed(_reviewers_only(handler))

    base = "/api/console/review"
    app.router.add_get(f"{base}/inbox", route(get_inbox))
    app.router.add_get(f"{base}/conversations/{{id}}", route(get_conversation))
    app.router.add_post(f"{base}/conversations/{{id}}/story", route(post_story))
    app.router.add_post(f"{base}/conversations/{{id}}/done", route(post_done))
    app.router.add_post(f"{base}/messages/{{id}}/label", route(post_label))
    app.router.add_delete(f"{base}/messages/{{id}}/label", route(delete_label))
    app.router.add_get(f"{base}/export", route(get_export))


async def _atomic(request: web.Request, work: Callable[[Session], T]) -> T:
    try:
        return await asyncio.to_thread(run_atomic, request.app[REVIEW].engine, work)
    except ReviewError as error:
        raise json_error(400, str(error)) from None
    except RelaisError as error:
        raise error_response(error) from None


def _reviewers_only(handler: Handler) -> AgentRoute:
    async def wrapped(request: web.Request, agent_id: int) -> web.StreamResponse:
        role = await _atomic(request, lambda s: Role(s.get(Agent, agent_id).role))
        if role not in REVIEWERS:
            raise json_error(404, NOT_HERE)
        return await handler(request, Reviewer(agent_id, role))

    return wrapped


def _id(value: str, what: str) -> int:
    """A row id from the path: its digits, within the column's range; else a 400."""
    if value.isascii() and value.isdigit() and 0 < int(value) <= MAX_ID:
        return int(value)
    raise json_error(400, f"{what} must be a whole number (an id)")


def _query_number(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    value = request.query.get(name)
    if value is None:
        return default
    if value.isascii() and value.isdigit() and low <= int(value) <= high:
        return int(value)
    raise json_error(400, f"{name} must be a whole number from {low} to {high}")


def _readable(session: Session, reviewer: Reviewer, conversation_id: str) -> Conversation:
    """The conversation, if this reviewer may read it (a designer: one for the inbox)."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None or (
        reviewer.role != Role.SUPERVISOR and not worth_reviewing(session, conversation_id)
    ):
        raise NotFound(NO_SUCH_CONVERSATION)
    return conversation


def _message(session: Session, reviewer: Reviewer, message_id: int) -> Message:
    message = session.get(Message, message_id)
    if message is None:
        raise NotFound("No such message.")
    try:
        _readable(session, reviewer, message.conversation_id)
    except NotFound:
        raise NotFound("No such message.") from None
    return message


async def get_inbox(request: web.Request, reviewer: Reviewer) -> web.Response:
    """?limit=&offset=: a page of the inbox, and how many conversations it holds."""
    limit = _query_number(request, "limit", DEFAULT_PAGE, 1, MAX_PAGE)
    offset = _query_number(request, "offset", 0, 0, MAX_OFFSET)
    page = await _atomic(request, lambda s: inbox(s, limit=limit, offset=offset))
    return web.json_response(
        {"conversations": page.rows, "total": page.total, "limit": limit, "offset": offset}
    )


async def get_conversation(request: web.Request, reviewer: Reviewer) -> web.Response:
    """Every message in order, each customer message with the bot's parse from its tracker
    ("bot": "unreachable" and no parses when Rasa does not answer) and what happened next."""
    conversation_id = request.match_info["id"]

    def read(session: Session) -> dict[str, Any]:
        _readable(session, reviewer, conversation_id)
        return conversation_for_review(session, conversation_id)

    view = await _atomic(request, read)
    parses = await bot_parses(request.app[REVIEW].desk.rasa, conversation_id)
    return web.json_response(with_parses(view, parses))


async def post_label(request: web.Request, reviewer: Reviewer) -> web.Response:
    """{"intent": name or null, "entities": [{start, end, entity}], "excluded": bool,
    "language": "en"|"fr"}, any of them: sets them on the message's label."""
    message_id = _id(request.match_info["id"], "the message id in the path")
    change = _label_change(await json_object(request))
    now = request.app[REVIEW].clock()

    def work(session: Session) -> dict[str, Any]:
        message = _message(session, reviewer, message_id)
        label = set_label(session, message=message, designer_id=reviewer.id, change=change, now=now)
        return {
            "message_id": message.id,
            "label": {
                "intent": label.intent,
                "entities": list(label.entities or []),
                "excluded": bool(label.excluded),
                "language": label.language,
            },
        }

    return web.json_response(await _atomic(request, work))


def _label_change(body: dict[str, Any]) -> LabelChange:
    unknown = sorted(set(body) - LABEL_FIELDS)
    if unknown:
        raise json_error(
            400, f"unknown field {unknown[0]!r}: a label has {', '.join(sorted(LABEL_FIELDS))}"
        )
    if not set(body) & LABEL_FIELDS:
        raise json_error(400, "say what to set: intent, entities, excluded or language")
    intent = body.get("intent")
    if "intent" in body and intent is None:
        intent = ""  # null takes the intent off
    if intent is not None and not isinstance(intent, str):
        raise json_error(400, "intent must be a name (a string) or null")
    excluded = body.get("excluded")
    if excluded is not None and not isinstance(excluded, bool):
        raise json_error(400, "excluded must be true or false")
    language = body.get("language")
    if language is not None and not isinstance(language, str):
        raise json_error(400, "language must be a language code")
    entities = body.get("entities")
    if "entities" in body and entities is None:
        entities = []
    return LabelChange(intent=intent, entities=entities, excluded=excluded, language=language)


async def delete_label(request: web.Request, reviewer: Reviewer) -> web.Response:
    message_id = _id(request.match_info["id"], "the message id in the path")

    def work(session: Session) -> dict[str, Any]:
        remove_label(session, message=_message(session, reviewer, message_id))
        return {"ok": True}

    return web.json_response(await _atomic(request, work))


async def post_story(request: web.Request, reviewer: Reviewer) -> web.Response:
    """{"name": "…"}: the whole conversation becomes a test story."""
    conversation_id = request.match_info["id"]
    body = await json_object(request)
    now = request.app[REVIEW].clock()

    def work(session: Session) -> dict[str, Any]:
        _readable(session, reviewer, conversation_id)
        story = make_story(
            session,
            conversation_id=conversation_id,
            designer_id=reviewer.id,
            name=body.get("name"),
            now=now,
        )
        return {"story": {"id": story.id, "name": story.name}}

    return web.json_response(await _atomic(request, work))


async def post_done(request: web.Request, reviewer: Reviewer) -> web.Response:
    """The conversation leaves the inbox."""
    conversation_id = request.match_info["id"]
    await json_object(request, empty_ok=True)
    now = request.app[REVIEW].clock()

    def work(session: Session) -> dict[str, Any]:
        _readable(session, reviewer, conversation_id)
        done = mark_done(session, conversation_id=conversation_id, designer_id=reviewer.id, now=now)
        return {"done_at": done.done_at.isoformat() + "Z"}

    return web.json_response(await _atomic(request, work))


async def get_export(request: web.Request, reviewer: Reviewer) -> web.StreamResponse:
    """Without `file`: what an export would write now (the two files' text, how many examples
    and stories, every flag), changing nothing. With ?file=nlu or ?file=stories: that file as a
    download, its items marked exported, as `relais review export` would have written them
    (handoff/review_export.py), here into a scratch folder sent to the browser rather than
    into the project."""
    kind = request.query.get("file")
    if kind is not None and kind not in EXPORT_FILES:
        raise json_error(400, f"file must be one of {', '.join(EXPORT_FILES)}")
    review = request.app[REVIEW]
    now = review.clock()
    root = settings().repo_root
    wanted = await _atomic(request, pending_conversations)
    trackers = await _trackers(review.desk.rasa, wanted)
    if kind is None:
        files = await _atomic(
            request, lambda s: build_export(s, day=now.date(), trackers=trackers, root=root)
        )
        return web.json_response(_preview(files, missing=len(wanted) - len(trackers)))

    def export(session: Session) -> tuple[str, str] | None:
        files = build_export(session, day=now.date(), trackers=trackers, root=root)
        # One kind per download: the other file stays to export.
        if kind == "nlu":
            part = dataclasses.replace(files, stories=[])
        else:
            part = dataclasses.replace(files, examples=[], duplicates={})
        with tempfile.TemporaryDirectory(prefix="relais-review-") as scratch:
            written = write_export(session, part, Path(scratch), now)
            if not written:
                return None
            return written[0].name, written[0].read_text(encoding="utf-8")

    found = await _atomic(request, export)
    if found is None:
        what = "training example" if kind == "nlu" else "test story"
        raise json_error(404, f"Nothing to export: no {what} is ready (see the flags).")
    day_file, text = found
    return web.Response(
        text=text,
        content_type="text/yaml",
        headers={"Content-Disposition": f'attachment; filename="review-{kind}-{day_file}"'},
    )


async def _trackers(bot: BotTracker, conversation_ids: list[str]) -> dict[str, list[Any]]:
    """The tracker events of each conversation Rasa gives (those it does not are left out:
    the export flags what needed them)."""

    async def one(conversation_id: str) -> list[Any] | None:
        try:
            tracker = await asyncio.wait_for(bot.tracker(conversation_id), TRACKER_TIMEOUT_S)
        except (RasaUnavailable, ValueError, asyncio.TimeoutError) as error:
            logger.warning("%s: no tracker for the export: %s", conversation_id, error)
            return None
        events = tracker.get("events")
        return events if isinstance(events, list) else []

    found = await asyncio.gather(*(one(c) for c in conversation_ids))
    return {
        c: events for c, events in zip(conversation_ids, found, strict=True) if events is not None
    }


def _preview(files: ExportFiles, missing: int) -> dict[str, Any]:
    return {
        "day": files.day.isoformat(),
        "examples": len(files.examples),
        "stories": len(files.stories),
        "nlu": files.nlu_yaml(),
        "stories_yaml": files.stories_yaml(),
        "flags": [
            {
                "kind": flag.kind,
                "label_id": flag.label_id,
                "story_id": flag.story_id,
                "text": flag.text,
                "intent": flag.intent,
                "detail": flag.detail,
                "written": flag.written,
                "description": flag.describe(),
            }
            for flag in files.flags
        ],
        # Conversations whose tracker Rasa did not give: their stories wait (flagged).
        "trackers_missing": missing,
    }
