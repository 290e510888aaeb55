"""The designers' review inbox: the conversations worth learning from, one of them as the bot
saw it, and what designers make of it (labels, test stories, "done").

Worth learning from: a handoff for a reason the bot could learn its way out of
(`REVIEW_REASONS`), one an agent marked "the bot should have handled this", or a low rating
(`LOW_SCORE` or less, with the comment that may follow it). A conversation a designer marked
done leaves the inbox.

Functions take a Session and leave the commit to the caller; what a designer sends that
cannot be accepted raises `ReviewError` with a sentence for them.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import DateTime, String, cast, exists, func, or_, select, union_all
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import Subquery

from handoff.desk import BotTracker
from relais.core.brand import LANGUAGES
from relais.core.config import settings
from relais.core.errors import NotFound, RasaUnavailable, RelaisError
from relais.core.policy import Reason
from relais.core.types import Author
from relais.core.untrusted import clean_text
from relais.storage.conversations import Conversation, Message
from relais.storage.escalations import Agent, Escalation
from relais.storage.messages import transcript
from relais.storage.review import Rating, ReviewDone, ReviewLabel, ReviewStory

logger = logging.getLogger(__name__)

#: Handoffs a better model or a new intent could have avoided; the others (anger, a request
#: for a person, safety…) are a person's job whatever the bot learns.
REVIEW_REASONS = (
    Reason.LOW_CONFIDENCE.value,
    Reason.OUT_OF_SCOPE.value,
    Reason.STALLED.value,
    Reason.MULTIPLE_REQUESTS.value,
)
#: A rating this low (1-5) sends the conversation to the inbox.
LOW_SCORE = 2
#: A new intent or entity name: what Rasa and our YAML accept without quoting.
NEW_NAME = re.compile(r"[a-z][a-z0-9_]{1,59}")
#: Intents no customer message has (the gateway triggers them).
SYSTEM_INTENT_PREFIX = "EXTERNAL_"
MAX_ENTITIES = 20
MAX_STORY_NAME = 200
MAX_PAGE = 100
#: How long the review waits for the bot's tracker before showing the messages without it.
TRACKER_TIMEOUT_S = 10.0


class ReviewError(RelaisError):
    """A label, story or mark that cannot be accepted (shown to the designer as is)."""


# --- the domain's names ---------------------------------------------------------------------


@dataclass(frozen=True)
class DomainNames:
    """The intents a customer message can have, and the entities, as domain.yml lists them."""

    intents: tuple[str, ...]
    entities: tuple[str, ...]


def domain_names(path: Path | None = None) -> DomainNames:
    """domain.yml's intents (those of customers) and entities; read again when edited."""
    path = Path(path or settings().repo_root / "domain.yml")
    return _read_domain(path, path.stat().st_mtime_ns)


@lru_cache(maxsize=4)
def _read_domain(path: Path, _modified: int) -> DomainNames:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}

    def names(key: str) -> tuple[str, ...]:
        # An entry is a name, or a mapping {name: {options}}.
        found = []
        for entry in data.get(key) or []:
            name = next(iter(entry), None) if isinstance(entry, dict) else entry
            if isinstance(name, str) and not name.startswith(SYSTEM_INTENT_PREFIX):
                found.append(name)
        return tuple(found)

    return DomainNames(intents=names("intents"), entities=names("entities"))


def check_name(value: object, known: Sequence[str], what: str) -> str:
    """`value` as an intent or entity name: one of `known`, or a new name (`NEW_NAME`)."""
    if not isinstance(value, str):
        raise ReviewError(f"the {what} must be a name (a string)")
    name = value.strip()
    if name in known or NEW_NAME.fullmatch(name):
        return name
    shown = name if len(name) <= 60 else name[:57] + "..."
    raise ReviewError(
        f"{shown!r} is not an {what} of the domain, nor a new name: 2-60 lower-case letters, "
        "digits and _, starting with a letter"
    )


def check_entities(text: str, spans: object, known: Sequence[str]) -> list[dict[str, Any]]:
    """The entity spans a designer marked on `text`, checked: [{start, end, entity, value}],
    in order, without overlaps. Offsets count characters (code points), as Rasa's do; the
    spaces a selection takes along at either end are left out of the span."""
    if not isinstance(spans, list):
        raise ReviewError("entities must be a list of {start, end, entity}")
    if len(spans) > MAX_ENTITIES:
        raise ReviewError(f"at most {MAX_ENTITIES} entities on one message")
    found: list[dict[str, Any]] = []
    for span in spans:
        if not isinstance(span, dict):
            raise ReviewError("each entity must be an object {start, end, entity}")
        start, end = span.get("start"), span.get("end")
        if not _whole(start) or not _whole(end):
            raise ReviewError("an entity's start and end must be whole numbers")
        assert isinstance(start, int) and isinstance(end, int)
        if not 0 <= start < end <= len(text):
            raise ReviewError(
                f"an entity must lie within the message (0 to {len(text)}), its start before "
                "its end"
            )
        entity = check_name(span.get("entity"), known, "entity")
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start == end:
            raise ReviewError("an entity must cover some words, not only spaces")
        found.append({"start": start, "end": end, "entity": entity, "value": text[start:end]})
    found.sort(key=lambda e: (e["start"], e["end"]))
    for before, after in zip(found, found[1:], strict=False):
        if after["start"] < before["end"]:
            raise ReviewError(f"the entities {before['value']!r} and {after['value']!r} overlap")
    return found


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- the inbox ------------------------------------------------------------------------------


def _escalation_for_review() -> ColumnElement:
    """An escalation worth a designer's time: a review reason among its reasons, or flagged."""
    # The reasons are a JSON list of fixed names: its text holds each as "name", on SQLite
    # and on PostgreSQL alike (no JSON operator both of them have).
    reasons = cast(Escalation.reasons, String)
    return or_(
        Escalation.bot_should_handle.is_(True),
        *[reasons.like(f'%"{reason}"%') for reason in REVIEW_REASONS],
    )


def _evidence() -> Subquery:
    """(conversation_id, at) for each handoff and low rating that puts a conversation in the
    inbox; `at` is when it became known: a handoff's close (the agent's line and flag come
    then), else its start; a rating's comment, else its answer."""
    handoffs = select(
        Escalation.conversation_id.label("conversation_id"),
        func.coalesce(Escalation.closed_at, Escalation.created_at, type_=DateTime).label("at"),
    ).where(_escalation_for_review())
    ratings = select(
        Rating.conversation_id.label("conversation_id"),
        func.coalesce(Rating.comment_at, Rating.answered_at, Rating.asked_at, type_=DateTime).label(
            "at"
        ),
    ).where(Rating.score <= LOW_SCORE)
    return union_all(handoffs, ratings).subquery("evidence")


def worth_reviewing(session: Session, conversation_id: str) -> bool:
    """Whether the conversation has a handoff or a rating that would put it in the inbox
    (marked done or not): what a designer may read."""
    handoff = select(Escalation.id).where(
        Escalation.conversation_id == conversation_id, _escalation_for_review()
    )
    rating = select(Rating.id).where(
        Rating.conversation_id == conversation_id, Rating.score <= LOW_SCORE
    )
    return bool(session.execute(select(or_(exists(handoff), exists(rating)))).scalar())


@dataclass(frozen=True)
class InboxPage:
    rows: list[dict[str, Any]]
    #: How many conversations the whole inbox holds.
    total: int


def inbox(session: Session, *, limit: int = 20, offset: int = 0) -> InboxPage:
    """The conversations to review, the latest evidence first (`summaries` for each row)."""
    evidence = _evidence()
    latest = (
        select(
            evidence.c.conversation_id,
            func.max(evidence.c.at, type_=DateTime).label("at"),
        )
        .group_by(evidence.c.conversation_id)
        .subquery("latest")
    )
    pending = (
        select(latest.c.conversation_id, latest.c.at)
        .where(latest.c.conversation_id.not_in(select(ReviewDone.conversation_id)))
        .subquery("pending")
    )
    total = session.execute(select(func.count()).select_from(pending)).scalar() or 0
    page = session.execute(
        select(pending.c.conversation_id, pending.c.at)
        .order_by(pending.c.at.desc(), pending.c.conversation_id)
        .limit(max(1, min(limit, MAX_PAGE)))
        .offset(max(0, offset))
    ).all()
    found = summaries(session, [row.conversation_id for row in page])
    rows = [{**found[row.conversation_id], "at": _iso(row.at)} for row in page]
    return InboxPage(rows=rows, total=int(total))


def inbox_size(session: Session) -> int:
    """How many conversations wait in the inbox."""
    return inbox(session, limit=1).total


def summaries(session: Session, conversation_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Why each conversation is worth reviewing: the review reasons of its handoffs, whether
    an agent flagged it, its lowest rating and the comment after it, the agent's latest line
    on what the customer wanted; and how far its review went (labels, a story, done)."""
    ids = list(dict.fromkeys(conversation_ids))
    if not ids:
        return {}
    found: dict[str, dict[str, Any]] = {}
    for conversation in session.execute(
        select(Conversation).where(Conversation.id.in_(ids))
    ).scalars():
        found[conversation.id] = {
            "conversation_id": conversation.id,
            "channel": conversation.channel,
            "language": conversation.language,
            "reasons": [],
            "flagged": False,
            "customer_wanted": None,
            "low_rating": None,
            "rating_comment": None,
            "labels": 0,
            "story": False,
            "done": False,
        }
    escalations = session.execute(
        select(Escalation)
        .where(Escalation.conversation_id.in_(ids))
        .order_by(Escalation.created_at, Escalation.id)
    ).scalars()
    for e in escalations:
        row = found[e.conversation_id]
        for reason in e.reasons or []:
            if reason in REVIEW_REASONS and reason not in row["reasons"]:
                row["reasons"].append(reason)
        row["flagged"] = row["flagged"] or bool(e.bot_should_handle)
        if e.customer_wanted:
            row["customer_wanted"] = e.customer_wanted  # the latest wins
    ratings = session.execute(
        select(Rating)
        .where(Rating.conversation_id.in_(ids), Rating.score <= LOW_SCORE)
        .order_by(Rating.asked_at, Rating.id)
    ).scalars()
    for rating in ratings:
        row = found[rating.conversation_id]
        if row["low_rating"] is None or rating.score < row["low_rating"]:
            row["low_rating"] = rating.score
        if rating.comment:
            row["rating_comment"] = rating.comment
    labels = session.execute(
        select(ReviewLabel.conversation_id, func.count())
        .where(ReviewLabel.conversation_id.in_(ids))
        .group_by(ReviewLabel.conversation_id)
    ).all()
    for conversation_id, count in labels:
        if conversation_id in found:
            found[conversation_id]["labels"] = int(count)
    for conversation_id in session.execute(
        select(ReviewStory.conversation_id).where(ReviewStory.conversation_id.in_(ids))
    ).scalars():
        found[conversation_id]["story"] = True
    for conversation_id in session.execute(
        select(ReviewDone.conversation_id).where(ReviewDone.conversation_id.in_(ids))
    ).scalars():
        found[conversation_id]["done"] = True
    return found


# --- one conversation -----------------------------------------------------------------------


def conversation_for_review(session: Session, conversation_id: str) -> dict[str, Any]:
    """Everything a designer reviews in one conversation but the bot's parses (`with_parses`
    adds them): every message in order with its label, the handoffs, the ratings, the story,
    and the names a label may use."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        raise NotFound("no such conversation")
    messages = transcript(session, conversation_id, limit=2000)
    labels = {
        label.message_id: label
        for label in session.execute(
            select(ReviewLabel).where(ReviewLabel.conversation_id == conversation_id)
        ).scalars()
    }
    agents = {
        agent.id: agent.display_name
        for agent in session.execute(
            select(Agent).where(Agent.id.in_({m.agent_id for m in messages if m.agent_id}))
        ).scalars()
    }
    escalations = session.execute(
        select(Escalation)
        .where(Escalation.conversation_id == conversation_id)
        .order_by(Escalation.created_at, Escalation.id)
    ).scalars()
    ratings = session.execute(
        select(Rating).where(Rating.conversation_id == conversation_id).order_by(Rating.asked_at)
    ).scalars()
    story = (
        session.execute(
            select(ReviewStory)
            .where(ReviewStory.conversation_id == conversation_id)
            .order_by(ReviewStory.id.desc())
            .limit(1)
        )
        .scalars()
        .first()
    )
    done = session.get(ReviewDone, conversation_id)
    domain = domain_names()
    used_intents, used_entities = _names_in_labels(session)
    return {
        "id": conversation.id,
        "channel": conversation.channel,
        "language": conversation.language,
        "summary": summaries(session, [conversation.id])[conversation.id],
        "messages": [_message(m, labels.get(m.id), agents.get(m.agent_id)) for m in messages],
        "escalations": [
            {
                "id": e.id,
                "status": str(e.status),
                "reasons": list(e.reasons or []),
                "priority": e.priority,
                "intent": e.intent,
                "summary": e.summary,
                "customer_wanted": e.customer_wanted,
                "bot_should_handle": bool(e.bot_should_handle),
                "agent": e.agent.display_name if e.agent else None,
                "created_at": _iso(e.created_at),
                "closed_at": _iso(e.closed_at),
            }
            for e in escalations
        ],
        "ratings": [
            {
                "score": r.score,
                "comment": r.comment,
                "handled_by": r.handled_by,
                "asked_at": _iso(r.asked_at),
                "answered_at": _iso(r.answered_at),
            }
            for r in ratings
        ],
        "story": _story(story) if story else None,
        "done_at": _iso(done.done_at) if done else None,
        "intents": sorted({*domain.intents, *used_intents}),
        "entities": sorted({*domain.entities, *used_entities}),
    }


def _message(message: Message, label: ReviewLabel | None, agent: str | None) -> dict[str, Any]:
    details = message.details or {}
    found: dict[str, Any] = {
        "id": message.id,
        "author": str(message.author),
        "text": message.text,
        "at": _iso(message.sent_at),
        "agent": agent,
    }
    if message.author == Author.CUSTOMER:
        found["label"] = _label(label) if label else None
        if details.get("merged_into"):
            # A line of a burst: the bot read it joined to that earlier message.
            found["merged_into"] = details["merged_into"]
    elif message.author == Author.SYSTEM and details.get("event"):
        found["event"] = details["event"]
        if details.get("reasons"):
            found["reasons"] = list(details["reasons"])
    return found


def _label(label: ReviewLabel) -> dict[str, Any]:
    return {
        "intent": label.intent,
        "entities": list(label.entities or []),
        "excluded": bool(label.excluded),
        "language": label.language,
        "exported_at": _iso(label.exported_at),
    }


def _story(story: ReviewStory) -> dict[str, Any]:
    return {"id": story.id, "name": story.name, "exported_at": _iso(story.exported_at)}


def _names_in_labels(session: Session) -> tuple[set[str], set[str]]:
    """The intent and entity names designers have used so far (new ones among them)."""
    intents: set[str] = set()
    entities: set[str] = set()
    for intent, spans in session.execute(select(ReviewLabel.intent, ReviewLabel.entities)).all():
        if intent:
            intents.add(intent)
        entities.update(str(s.get("entity")) for s in spans or [] if isinstance(s, dict))
    return intents, entities


def parses_by_message(events: Sequence[object]) -> dict[int, dict[str, Any]]:
    """What the bot made of each customer message, from its tracker's user events (the
    gateway puts the message's id in their metadata): by message id."""
    found: dict[int, dict[str, Any]] = {}
    for event in events:
        if not isinstance(event, dict) or event.get("event") != "user":
            continue
        metadata = event.get("metadata")
        message_id = metadata.get("relais_message_id") if isinstance(metadata, dict) else None
        parse = event.get("parse_data")
        if (
            isinstance(message_id, int)
            and not isinstance(message_id, bool)
            and isinstance(parse, dict)
        ):
            found.setdefault(message_id, parse_summary(parse))
    return found


def parse_summary(parse: dict[str, Any]) -> dict[str, Any]:
    """The parts of a Rasa parse a designer reads: intent and confidence, language, anger,
    entities, and the knowledge article that matched best."""
    intent = parse.get("intent") if isinstance(parse.get("intent"), dict) else {}
    assert isinstance(intent, dict)
    knowledge = parse.get("knowledge") if isinstance(parse.get("knowledge"), dict) else {}
    assert isinstance(knowledge, dict)
    articles = [a for a in knowledge.get("articles") or [] if isinstance(a, dict)]
    return {
        "intent": intent.get("name"),
        "confidence": _number(intent.get("confidence")),
        "language": parse.get("language"),
        "anger": _number(parse.get("anger")),
        "entities": [
            {key: e.get(key) for key in ("entity", "value", "start", "end")}
            for e in parse.get("entities") or []
            if isinstance(e, dict)
        ],
        "knowledge": (
            {
                "article": articles[0].get("article"),
                "passage": articles[0].get("passage"),
                "score": _number(articles[0].get("score")),
            }
            if articles
            else None
        ),
    }


def _number(value: object) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return round(float(value), 3)
    return None


async def bot_parses(
    bot: BotTracker, conversation_id: str, timeout_s: float = TRACKER_TIMEOUT_S
) -> dict[int, dict[str, Any]] | None:
    """The bot's parse of each customer message of the conversation (`parses_by_message`),
    or None when Rasa does not answer within `timeout_s`."""
    try:
        tracker = await asyncio.wait_for(bot.tracker(conversation_id), timeout_s)
    except (RasaUnavailable, ValueError, asyncio.TimeoutError) as error:
        logger.warning("%s: no tracker for the review: %s", conversation_id, error)
        return None
    events = tracker.get("events")
    return parses_by_message(events if isinstance(events, list) else [])


def with_parses(view: dict[str, Any], parses: dict[int, dict[str, Any]] | None) -> dict[str, Any]:
    """`conversation_for_review`'s view with each customer message's parse (None where the
    bot has none: a burst's later line, a file without words) and what happened next: the
    bot's replies, a handoff and its reasons, the agents' replies, until the customer wrote
    again. `bot` says whether the parses could be read ("unreachable": Rasa did not answer)."""
    messages = view["messages"]
    customer = str(Author.CUSTOMER)
    for i, message in enumerate(messages):
        if message["author"] != customer:
            continue
        message["parse"] = parses.get(message["id"]) if parses is not None else None
        if message.get("merged_into"):
            continue  # what followed is the first line's
        after: dict[str, Any] = {"bot": 0, "agent": 0, "handoff": None}
        for later in messages[i + 1 :]:
            if later["author"] == customer:
                if later.get("merged_into") == message["id"]:
                    continue  # a line the bot read with this one
                break
            if later["author"] in (str(Author.BOT), str(Author.AGENT)):
                after[later["author"]] += 1
            elif later.get("event") == "handoff":
                after["handoff"] = later.get("reasons") or []
        message["next"] = after
    return {**view, "bot": "ok" if parses is not None else "unreachable"}


# --- what designers do ----------------------------------------------------------------------


@dataclass(frozen=True)
class LabelChange:
    """What a designer sets on one message's label; None leaves a part as it is."""

    intent: str | None = None  #: "" takes the intent off
    entities: object = None  #: the spans as sent (checked against the message's text)
    excluded: bool | None = None
    language: str | None = None


def set_label(
    session: Session, *, message: Message, designer_id: int, change: LabelChange, now: datetime
) -> ReviewLabel:
    """Creates or changes the label of a customer message. A changed label is exported again."""
    if message.author != Author.CUSTOMER:
        raise ReviewError("Only the customer's messages can be labelled.")
    if not message.text.strip():
        raise ReviewError("This message has no words to label.")
    if change.language is not None and change.language not in LANGUAGES:
        raise ReviewError(f"language must be one of {', '.join(LANGUAGES)}")
    domain = domain_names()
    label = (
        session.execute(select(ReviewLabel).where(ReviewLabel.message_id == message.id))
        .scalars()
        .first()
    )
    if label is None:
        # No language unless the designer gives one: the export takes the bot's parse of
        # the message, else the conversation's (handoff/review_export.py).
        label = ReviewLabel(
            message_id=message.id,
            conversation_id=message.conversation_id,
            entities=[],
            excluded=False,
            created_at=now,
        )
        session.add(label)
    if change.intent is not None:
        label.intent = (
            check_name(change.intent, domain.intents, "intent") if change.intent else None
        )
    if change.entities is not None:
        label.entities = check_entities(message.text, change.entities, domain.entities)
    if change.excluded is not None:
        label.excluded = change.excluded
    if change.language is not None:
        label.language = change.language
    label.designer_id = designer_id
    label.updated_at = now
    label.exported_at = None
    label.export_file = None
    session.flush()
    return label


def remove_label(session: Session, *, message: Message) -> None:
    label = (
        session.execute(select(ReviewLabel).where(ReviewLabel.message_id == message.id))
        .scalars()
        .first()
    )
    if label is None:
        raise NotFound("This message has no label.")
    session.delete(label)


def make_story(
    session: Session, *, conversation_id: str, designer_id: int, name: object, now: datetime
) -> ReviewStory:
    """Makes the conversation a test story named `name` (one line); a story not yet exported
    is renamed rather than made twice."""
    if not isinstance(name, str):
        raise ReviewError("A story needs a name (a string).")
    name = one_line(name)
    if not name or len(name) > MAX_STORY_NAME:
        raise ReviewError(f"A story needs a name of 1 to {MAX_STORY_NAME} characters.")
    story = (
        session.execute(
            select(ReviewStory).where(
                ReviewStory.conversation_id == conversation_id, ReviewStory.exported_at.is_(None)
            )
        )
        .scalars()
        .first()
    )
    if story is None:
        story = ReviewStory(conversation_id=conversation_id, created_at=now)
        session.add(story)
    story.name = name
    story.designer_id = designer_id
    session.flush()
    return story


@dataclass(frozen=True)
class AgentOutcome:
    """What an agent says about a conversation as they resolve it or hand it back."""

    #: One line on what the customer wanted, shown to designers.
    customer_wanted: str | None = None
    #: "The bot should have handled this": the conversation goes to the review inbox.
    bot_should_handle: bool | None = None


#: The longest line an agent leaves on what the customer wanted.
MAX_CUSTOMER_WANTED = 200


def agent_outcome(body: dict[str, Any]) -> AgentOutcome:
    """The optional `customer_wanted` (one line) and `bot_should_handle` (true or false) of
    a resolve or hand-back request, checked."""
    wanted, flag = body.get("customer_wanted"), body.get("bot_should_handle")
    if wanted is not None:
        if not isinstance(wanted, str):
            raise ReviewError("customer_wanted must be a string")
        wanted = one_line(wanted)
        if len(wanted) > MAX_CUSTOMER_WANTED:
            raise ReviewError(
                f"customer_wanted can be at most {MAX_CUSTOMER_WANTED} characters: one line"
            )
    if flag is not None and not isinstance(flag, bool):
        raise ReviewError("bot_should_handle must be true or false")
    return AgentOutcome(customer_wanted=wanted or None, bot_should_handle=flag)


def note_outcome(session: Session, *, escalation_id: int, outcome: AgentOutcome) -> None:
    """Keeps what the agent said (`agent_outcome`) on the escalation they closed."""
    escalation = session.get(Escalation, escalation_id)
    if escalation is None:
        raise NotFound("No such conversation in the queue.")
    if outcome.customer_wanted is not None:
        escalation.customer_wanted = outcome.customer_wanted
    if outcome.bot_should_handle is not None:
        escalation.bot_should_handle = outcome.bot_should_handle


def one_line(text: str) -> str:
    """`text` from a person, as one line: no control characters, single spaces, no ends."""
    return " ".join(clean_text(text).split())


def mark_done(
    session: Session, *, conversation_id: str, designer_id: int, now: datetime
) -> ReviewDone:
    """The conversation leaves the inbox."""
    done = session.get(ReviewDone, conversation_id)
    if done is None:
        done = ReviewDone(conversation_id=conversation_id)
        session.add(done)
    done.designer_id = designer_id
    done.done_at = now
    return done


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() + "Z" if at else None
