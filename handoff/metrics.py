"""Supervisor metrics, computed from the transcript and the escalations (JSON and CSV).

- bot first response: a customer message answered by the bot → the bot's first reply after it;
- human first response: escalation → the first agent reply;
- time to handoff: the conversation's first message → its escalation;
- waiting: escalation → claimed;
- handoff rate: escalations / conversations, by reason and by intent;
- SLA breaches: first agent reply after the deadline, or still unanswered past it;
- outbox: replies still waiting to go out on Telegram and X (how many, the oldest's age: a
  platform's rate limit shows here first), and how long delivered replies waited;
- containment: conversations the bot saw through without a person (`containment`);
- satisfaction: the customers' answered ratings, by who helped them and by handoff reason;
- review: the designers' inbox, and how much of what they labelled was exported;
- human first response by priority: escalation → the first agent reply, per priority.

Every figure covers everything stored (there is no period to choose yet).
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from handoff.review import inbox_size
from relais.core.texts import say
from relais.core.types import Author, Delivery
from relais.storage.conversations import Message, OutboxItem
from relais.storage.escalations import Escalation
from relais.storage.review import (
    HANDLED_BY_BOT,
    HANDLED_BY_PERSON,
    Rating,
    ReviewDone,
    ReviewLabel,
    ReviewStory,
)

#: Ratings from this score count as satisfied.
SATISFIED_SCORE = 4


def _summary(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"count": 0, "median_s": None, "p90_s": None}
    ordered = sorted(values)
    return {
        "count": len(values),
        "median_s": round(statistics.median(ordered), 1),
        "p90_s": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))], 1),
    }


def metrics(session: Session, now: datetime) -> dict[str, Any]:
    escalations = list(session.execute(select(Escalation).order_by(Escalation.id)).scalars())
    conversations = session.execute(
        select(func.count(func.distinct(Message.conversation_id))).where(
            Message.author == Author.CUSTOMER
        )
    ).scalar_one()
    first_message = dict(
        session.execute(
            select(Message.conversation_id, func.min(Message.sent_at)).group_by(
                Message.conversation_id
            )
        ).all()
    )
    bot_first = _bot_first_responses(session)
    answered = [
        (e.priority, (e.first_reply_at - e.created_at).total_seconds())
        for e in escalations
        if e.first_reply_at
    ]
    human_first = [seconds for _, seconds in answered]
    by_priority: dict[int, list[float]] = {}
    for priority, seconds in answered:
        by_priority.setdefault(priority, []).append(seconds)
    waits = [(e.claimed_at - e.created_at).total_seconds() for e in escalations if e.claimed_at]
    to_handoff = [
        (e.created_at - first_message[e.conversation_id]).total_seconds()
        for e in escalations
        if e.conversation_id in first_message
    ]
    breaches = [e for e in escalations if (e.first_reply_at or now) > e.deadline]
    by_reason = Counter(r for e in escalations for r in e.reasons)
    by_intent = Counter(e.intent or "unknown" for e in escalations)
    per_day = Counter(e.created_at.date().isoformat() for e in escalations)
    return {
        "generated_at": now.isoformat() + "Z",
        "conversations": int(conversations),
        "escalations": len(escalations),
        "handoff_rate": round(len(escalations) / conversations, 4) if conversations else 0.0,
        "bot_first_response": _summary(bot_first),
        "human_first_response": _summary(human_first),
        # Keyed "1", "2"…: the priority, as JSON and the CSV name it.
        "human_first_response_by_priority": {
            str(priority): _summary(values) for priority, values in sorted(by_priority.items())
        },
        "time_to_handoff": _summary(to_handoff),
        "waiting": _summary(waits),
        "sla_breaches": len(breaches),
        "sla_breach_rate": round(len(breaches) / len(escalations), 4) if escalations else 0.0,
        "handoffs_by_reason": dict(by_reason.most_common()),
        "handoffs_by_intent": dict(by_intent.most_common()),
        # Share of all conversations handed over for each reason / from each intent.
        "handoff_rate_by_reason": {k: round(v / conversations, 4) for k, v in by_reason.items()}
        if conversations
        else {},
        "handoff_rate_by_intent": {k: round(v / conversations, 4) for k, v in by_intent.items()}
        if conversations
        else {},
        "handoffs_by_day": dict(sorted(per_day.items())),
        "outbox_backlog": outbox_backlog(session, now),
        "reply_delivery": reply_delivery(session),
        "containment": containment(session, escalations),
        "satisfaction": satisfaction(session),
        "review": review(session),
    }


def containment(session: Session, escalations: list[Escalation]) -> dict[str, Any]:
    """Conversations the bot saw through without a person.

    Of the conversations with at least one customer message (`conversations`, the handoff
    rate's denominator), those with at least one bot reply and never an escalation are
    `contained`; `rate` is contained / conversations (0.0 without conversations). A
    conversation is its id (one per customer and channel), so one handed over once is never
    contained, whatever else it had; one the bot has not answered yet is not contained either.
    """
    authors: dict[str, set[Author]] = {}
    for conversation_id, author in session.execute(
        select(Message.conversation_id, Message.author)
        .where(Message.author.in_([Author.CUSTOMER, Author.BOT]))
        .distinct()
    ):
        authors.setdefault(conversation_id, set()).add(author)
    escalated = {e.conversation_id for e in escalations}
    customers = [c for c, seen in authors.items() if Author.CUSTOMER in seen]
    contained = sum(1 for c in customers if Author.BOT in authors[c] and c not in escalated)
    return {
        "conversations": len(customers),
        "contained": contained,
        "rate": round(contained / len(customers), 4) if customers else 0.0,
    }


def _scores(scores: list[int]) -> dict[str, Any]:
    """count, mean score (1-5) and the share of 4s and 5s of some answered ratings."""
    if not scores:
        return {"count": 0, "mean": None, "satisfied_share": None}
    return {
        "count": len(scores),
        "mean": round(statistics.mean(scores), 2),
        "satisfied_share": round(sum(1 for s in scores if s >= SATISFIED_SCORE) / len(scores), 4),
    }


def satisfaction(session: Session) -> dict[str, Any]:
    """The answered ratings (a question the customer has not answered counts in `asked`
    only): all of them, by who helped the customer (bot, person) and by the reasons of the
    handoff they rate (a rating of a handoff with two reasons counts under both)."""
    rows = session.execute(select(Rating.handled_by, Rating.reasons, Rating.score)).all()
    answered = [row for row in rows if row.score is not None]
    by_handled: dict[str, list[int]] = {HANDLED_BY_BOT: [], HANDLED_BY_PERSON: []}
    by_reason: dict[str, list[int]] = {}
    for row in answered:
        by_handled.setdefault(row.handled_by, []).append(row.score)
        for reason in row.reasons or []:
            by_reason.setdefault(reason, []).append(row.score)
    return {
        "asked": len(rows),
        "all": _scores([row.score for row in answered]),
        "by_handled_by": {who: _scores(scores) for who, scores in by_handled.items()},
        "by_reason": {reason: _scores(scores) for reason, scores in sorted(by_reason.items())},
    }


def review(session: Session) -> dict[str, Any]:
    """The review inbox's size (handoff/review.py says what is in it), the conversations
    designers marked done, and what they labelled: labels (messages), how many were exported
    as training data and their share of all labels (those marked "not for training" are never
    exported), test stories and how many were exported."""
    labels, exported, excluded = session.execute(
        select(
            func.count(ReviewLabel.id),
            func.count(ReviewLabel.exported_at),
            func.count(ReviewLabel.id).filter(ReviewLabel.excluded.is_(True)),
        )
    ).one()
    stories, stories_exported = session.execute(
        select(func.count(ReviewStory.id), func.count(ReviewStory.exported_at))
    ).one()
    done = session.execute(select(func.count()).select_from(ReviewDone)).scalar_one()
    return {
        "inbox": inbox_size(session),
        "done": int(done),
        "labels": int(labels),
        "labels_exported": int(exported),
        "labels_exported_share": round(exported / labels, 4) if labels else 0.0,
        "labels_not_for_training": int(excluded),
        "stories": int(stories),
        "stories_exported": int(stories_exported),
    }


#: Channels whose replies Relais pushes; the web chat's page fetches its own.
PUSHED = ("telegram", "x")


def outbox_backlog(
    session: Session, now: datetime, channels: tuple[str, ...] = PUSHED
) -> dict[str, dict[str, Any]]:
    """Per channel with replies waiting to go out: how many, and how long the oldest has
    waited (seconds). A platform's rate limit, or a platform that is down, shows here."""
    rows = session.execute(
        select(OutboxItem.channel, func.count(), func.min(OutboxItem.created_at))
        .where(OutboxItem.status == Delivery.PENDING, OutboxItem.channel.in_(channels))
        .group_by(OutboxItem.channel)
    ).all()
    return {
        channel: {"waiting": int(count), "oldest_s": max(0, int((now - oldest).total_seconds()))}
        for channel, count, oldest in rows
    }


#: The console's language (its pages are in English).
CONSOLE_LANGUAGE = "en"
#: Channel names as agents read them.
_CHANNEL_NAMES = {"telegram": "Telegram", "x": "X"}


def backlog_lines(backlog: dict[str, dict[str, Any]], lang: str = CONSOLE_LANGUAGE) -> list[str]:
    """One line per channel with replies waiting (`outbox_backlog`), for the console."""
    lines = []
    for channel, found in sorted(backlog.items()):
        seconds = found["oldest_s"]
        age = f"{seconds // 60} min" if seconds >= 120 else f"{seconds} s"
        lines.append(
            say(
                "console.outbox_backlog",
                lang,
                channel=_CHANNEL_NAMES.get(channel, channel),
                count=found["waiting"],
                age=age,
            )
        )
    return lines


def reply_delivery(session: Session, channels: tuple[str, ...] = PUSHED) -> dict[str, Any]:
    """Per channel: seconds from a reply being written to the platform taking it (the last
    1,000 delivered), which a rate limit lengthens."""
    out: dict[str, Any] = {}
    for channel in channels:
        rows = session.execute(
            select(OutboxItem.created_at, OutboxItem.delivered_at)
            .where(
                OutboxItem.channel == channel,
                OutboxItem.status == Delivery.DELIVERED,
                OutboxItem.delivered_at.is_not(None),
            )
            .order_by(OutboxItem.id.desc())
            .limit(1000)
        ).all()
        if rows:
            out[channel] = _summary([(d - c).total_seconds() for c, d in rows])
    return out


def _bot_first_responses(session: Session) -> list[float]:
    """Seconds from each customer message the bot handled to the bot's next reply."""
    rows = session.execute(
        select(Message.conversation_id, Message.author, Message.sent_at, Message.details)
        .where(Message.author.in_([Author.CUSTOMER, Author.BOT]))
        .order_by(Message.conversation_id, Message.id)
    ).all()
    out: list[float] = []
    waiting_since: dict[str, datetime] = {}
    for row in rows:
        if row.author == Author.CUSTOMER:
            if (row.details or {}).get("routed") == "bot":
                waiting_since.setdefault(row.conversation_id, row.sent_at)
        elif row.conversation_id in waiting_since:
            out.append((row.sent_at - waiting_since.pop(row.conversation_id)).total_seconds())
    return out


def metrics_csv(report: dict[str, Any]) -> str:
    """One row per figure: metric, key, value."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["metric", "key", "value"])
    for name, value in report.items():
        for key, inner in _flat(value):
            writer.writerow([name, key, inner])
    return buffer.getvalue()


def _flat(value: object, prefix: str = "") -> list[tuple[str, object]]:
    """(key, value) pairs of a figure, nested keys joined with dots ("x.waiting")."""
    if not isinstance(value, dict):
        return [(prefix, value)]
    pairs: list[tuple[str, object]] = []
    for key, inner in value.items():
        pairs += _flat(inner, f"{prefix}.{key}" if prefix else str(key))
    return pairs
