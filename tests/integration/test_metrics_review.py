"""The supervisors' new figures, on SQLite and PostgreSQL: containment, satisfaction by who
helped and by handoff reason, the designers' review inbox and exports, and the first human
reply by priority, exact on a seeded history, in the JSON and in the CSV."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from handoff.metrics import metrics, metrics_csv
from relais.core.types import Author
from relais.storage.conversations import Message
from relais.storage.escalations import Escalation
from relais.storage.messages import conversation_for
from relais.storage.review import Rating, ReviewDone, ReviewLabel, ReviewStory

T0 = datetime(2026, 12, 7, 9, 0, 0)
NOW = T0 + timedelta(hours=2)


def talk(session: Session, sender: str, *authors: Author) -> str:
    """A web chat conversation with one message per author given; returns its id."""
    conversation = conversation_for(session, "web", sender)
    for i, author in enumerate(authors):
        session.add(
            Message(
                conversation_id=conversation.id,
                author=author,
                channel="web",
                text=f"{author} {i}",
                sent_at=T0 + timedelta(seconds=i),
            )
        )
    session.flush()
    return conversation.id


def escalate(
    session: Session,
    conversation_id: str,
    reasons: list[str],
    priority: int,
    replied_after_s: int | None = None,
    bot_should_handle: bool = False,
) -> Escalation:
    escalation = Escalation(
        conversation_id=conversation_id,
        channel="web",
        reasons=reasons,
        priority=priority,
        created_at=T0 + timedelta(minutes=1),
        deadline=T0 + timedelta(minutes=16),
        bot_should_handle=bot_should_handle,
    )
    if replied_after_s is not None:
        escalation.first_reply_at = escalation.created_at + timedelta(seconds=replied_after_s)
    session.add(escalation)
    session.flush()
    return escalation


def rate(
    session: Session, conversation_id: str, by: str, score: int | None, reasons: list[str]
) -> None:
    session.add(
        Rating(
            conversation_id=conversation_id,
            channel="web",
            language="en",
            handled_by=by,
            reasons=reasons,
            asked_at=T0 + timedelta(minutes=30),
            score=score,
            answered_at=None if score is None else T0 + timedelta(minutes=31),
        )
    )


def first_customer_message(session: Session, conversation_id: str) -> int:
    return session.execute(
        select(func.min(Message.id)).where(
            Message.conversation_id == conversation_id, Message.author == Author.CUSTOMER
        )
    ).scalar_one()


def seed(session: Session) -> None:
    customer, bot = Author.CUSTOMER, Author.BOT
    a = talk(session, "a", customer, bot, customer, bot)  # the bot alone: contained
    b = talk(session, "b", customer, bot)  # the bot alone: contained
    c = talk(session, "c", customer)  # not answered yet: not contained
    d = talk(session, "d", customer, bot)
    e = talk(session, "e", customer, bot)
    f = talk(session, "f", customer, bot)
    g = talk(session, "g", customer, bot)
    i = talk(session, "i", customer)
    talk(session, "j", bot)  # no customer message: not a conversation for the figures
    escalate(session, d, ["low_confidence"], priority=2, replied_after_s=60)
    escalate(session, e, ["anger"], priority=1, replied_after_s=30)
    escalate(session, f, ["out_of_scope", "multiple_requests"], priority=2, replied_after_s=180)
    escalate(session, g, ["anger"], priority=1, replied_after_s=90, bot_should_handle=True)
    escalate(session, i, ["human_request"], priority=3)  # nobody answered yet
    rate(session, a, "bot", 5, [])
    rate(session, b, "bot", 4, [])
    rate(session, c, "bot", None, [])  # asked, never answered
    rate(session, d, "person", 3, ["low_confidence"])
    rate(session, e, "person", 1, ["anger"])  # low: to the review inbox
    rate(session, f, "person", 2, ["out_of_scope", "multiple_requests"])  # low, but reviewed
    rate(session, g, "person", 4, ["anger"])
    # Reviewed after everything above (f leaves the inbox); b had nothing to review.
    session.add_all([ReviewDone(conversation_id=f, done_at=NOW), ReviewDone(conversation_id=b)])
    session.flush()
    labels = [
        (d, "request_refund", False, NOW),
        (e, None, True, None),  # not for training
        (g, "check_in", False, NOW),
        (f, "baggage", False, None),  # accepted, not exported yet
    ]
    for conversation_id, intent, excluded, exported_at in labels:
        session.add(
            ReviewLabel(
                message_id=first_customer_message(session, conversation_id),
                conversation_id=conversation_id,
                intent=intent,
                excluded=excluded,
                language="en",
                exported_at=exported_at,
            )
        )
    session.add_all(
        [
            ReviewStory(conversation_id=d, name="refund after a misunderstanding", exported_at=NOW),
            ReviewStory(conversation_id=g, name="check-in the bot should know"),
        ]
    )
    session.commit()


def test_containment_satisfaction_review_and_first_replies_by_priority(session: Session) -> None:
    seed(session)
    report = metrics(session, NOW)

    # a, b, c, d, e, f, g, i wrote; a and b were seen through by the bot alone.
    assert report["conversations"] == 8
    assert report["containment"] == {"conversations": 8, "contained": 2, "rate": 0.25}

    satisfaction = report["satisfaction"]
    assert satisfaction["asked"] == 7
    # 5, 4, 3, 1, 2, 4: mean 19/6, three of six satisfied.
    assert satisfaction["all"] == {"count": 6, "mean": 3.17, "satisfied_share": 0.5}
    assert satisfaction["by_handled_by"] == {
        "bot": {"count": 2, "mean": 4.5, "satisfied_share": 1.0},
        "person": {"count": 4, "mean": 2.5, "satisfied_share": 0.25},
    }
    assert satisfaction["by_reason"] == {
        "anger": {"count": 2, "mean": 2.5, "satisfied_share": 0.5},
        "low_confidence": {"count": 1, "mean": 3.0, "satisfied_share": 0.0},
        "multiple_requests": {"count": 1, "mean": 2.0, "satisfied_share": 0.0},
        "out_of_scope": {"count": 1, "mean": 2.0, "satisfied_share": 0.0},
    }

    # In the inbox: d (low confidence), e (rated 1), g (the bot should have handled it);
    # not f (reviewed), nor i (a plain request for a person), nor the bot's own a and b.
    assert report["review"] == {
        "inbox": 3,
        "done": 2,
        "labels": 4,
        "labels_exported": 2,
        "labels_exported_share": 0.5,
        "labels_not_for_training": 1,
        "stories": 2,
        "stories_exported": 1,
    }

    assert report["human_first_response_by_priority"] == {
        "1": {"count": 2, "median_s": 60.0, "p90_s": 90.0},
        "2": {"count": 2, "median_s": 120.0, "p90_s": 180.0},
    }
    assert report["human_first_response"]["count"] == 4

    rows = {
        (name, key): value
        for name, key, value in csv.reader(io.StringIO(metrics_csv(report)))
        if name != "metric"
    }
    assert rows[("containment", "rate")] == "0.25"
    assert rows[("satisfaction", "by_handled_by.person.mean")] == "2.5"
    assert rows[("satisfaction", "by_reason.anger.satisfied_share")] == "0.5"
    assert rows[("review", "inbox")] == "3"
    assert rows[("review", "labels_exported_share")] == "0.5"
    assert rows[("human_first_response_by_priority", "2.p90_s")] == "180.0"


def test_with_nothing_stored_every_new_figure_is_zero_or_empty(session: Session) -> None:
    report = metrics(session, NOW)
    assert report["containment"] == {"conversations": 0, "contained": 0, "rate": 0.0}
    nothing = {"count": 0, "mean": None, "satisfied_share": None}
    assert report["satisfaction"] == {
        "asked": 0,
        "all": nothing,
        "by_handled_by": {"bot": nothing, "person": nothing},
        "by_reason": {},
    }
    assert report["review"] == {
        "inbox": 0,
        "done": 0,
        "labels": 0,
        "labels_exported": 0,
        "labels_exported_share": 0.0,
        "labels_not_for_training": 0,
        "stories": 0,
        "stories_exported": 0,
    }
    assert report["human_first_response_by_priority"] == {}
