"""Customer satisfaction: one question "how did we do?" when a conversation ends, and its answer.

When a conversation ends, the customer is asked for a rating from 1 to 5, in their language,
with five buttons (a numbered list on X):

- an agent **resolves** it (a hand-back is no end: the bot carries on);
- a conversation with the **bot ends**: the bot has just answered the customer's goodbye or
  thanks (its `goodbye.*` or `thank.*` text) after answering something else first, or the
  customer has written nothing for `rating_after_idle_minutes` (handoff.yml), which the
  background loop notices (`ask_idle`). If a person helped earlier in the session (and
  handed back), the rating is about them.

Asked once per session (a run of customer messages without a gap of `conversation_gap_minutes`,
escalation.yml: Rasa's session expiry), so never twice in a row; only after the customer was
answered (by the bot, or by a person's reply); never while a person holds the conversation.

The answer is the next customer message while the question is the bot's latest one and at most
ANSWER_HOURS old: a button press (its payload is the score) or a typed "4", "4/5", "4 stars",
"4️⃣", "★★★★" is stored and thanked; anything else goes to the bot as usual, and the question is
closed. A score of LOW_SCORE or less asks once what went wrong: the next message (within
COMMENT_MINUTES) is the rating's comment, which the designers' review inbox shows; it is
thanked and never sent to the bot.

Every function takes a Session and leaves the commit to the caller, except `ask_idle`.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import exists, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.settings import HandoffSettings
from relais.core.brand import load_brand
from relais.core.language import cue_language
from relais.core.policy import load_thresholds
from relais.core.texts import LANGUAGES, catalog, say
from relais.core.types import Author, Processing, State
from relais.storage.conversations import Conversation, Message
from relais.storage.db import run_atomic
from relais.storage.escalations import Escalation
from relais.storage.leases import acquire, release, route_lease
from relais.storage.messages import add_outgoing, latest_bot_message, mark_processed
from relais.storage.review import HANDLED_BY_BOT, HANDLED_BY_PERSON, Rating

#: An unanswered question still takes an answer this long after it was asked.
ANSWER_HOURS = 24
#: A score this low or lower asks what went wrong, once.
LOW_SCORE = 2
#: The comment is the customer's next message within this many minutes of their score.
COMMENT_MINUTES = 10
#: The longest comment kept.
MAX_COMMENT = 2000
#: A conversation silent for `rating_after_idle_minutes` is looked at by the loop for this
#: long after that (a customer who wrote again is looked at again after their new silence).
IDLE_BAND = timedelta(minutes=10)
#: Conversations the loop looks at in one tick, and customer messages read to find where a
#: conversation's session began.
IDLE_BATCH = 200
LOOK_BACK = 200

#: `Message.details["kind"]` of the bot's messages about a rating (with "rating_id").
ASKED = "rating_ask"
COMMENT_ASKED = "rating_comment_ask"
THANKED = "rating_thanks"
#: `Message.details` key of a customer message the bot answered with its goodbye or thanks.
ENDED = "ended"
#: The bot's texts that end a conversation: its answer to a goodbye or to thanks.
CLOSING_TEXTS = ("goodbye.plain", "goodbye.with_trip", "thank.plain", "thank.with_booking")


# --- pure parts ---------------------------------------------------------------------------

_KEYCAP = re.compile("([0-9])\ufe0f?\u20e3")  # "4️⃣": the digit, a variation selector, a keycap
_SCORE = re.compile(
    r"([1-5])\s*(?:(?:/|sur|out\s+of)\s*5)?\s*(?:stars?|[ée]toiles?|[★⭐]+)?\s*[.!]*",
    re.IGNORECASE,
)
_STARS = re.compile(r"[★⭐]{1,5}")


def parse_score(text: str) -> int | None:
    """The score a customer's message gives, 1 to 5 ("4", "4/5", "4 sur 5", "5 stars",
    "4️⃣", "★★★"), or None when it is not a rating ("45", "4 bags", "0")."""
    cleaned = _KEYCAP.sub(r"\1", text).replace("\ufe0f", "").strip()
    found = _SCORE.fullmatch(cleaned)
    if found:
        return int(found.group(1))
    return len(cleaned) if _STARS.fullmatch(cleaned) else None


def rating_buttons() -> list[dict[str, str]]:
    """Five buttons, one star to five: each one's payload is its score, which is also what a
    customer types to answer on a channel that shows them as a numbered list (X)."""
    return [{"title": "★" * score, "payload": str(score)} for score in range(1, 6)]


def _squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text)


@functools.lru_cache(maxsize=1)
def _closing_patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    """(language, pattern) of each closing text, its placeholders matching anything; spaces are
    left out on both sides, since `say` closes the gap an empty name leaves."""
    patterns = []
    for key in CLOSING_TEXTS:
        for lang, template in catalog()[key].items():
            parts = []
            for literal, name, _, _ in string.Formatter().parse(template):
                parts.append(re.escape(_squeezed(literal)))
                if name:
                    parts.append(".*")
            patterns.append((lang, re.compile("".join(parts), re.DOTALL)))
    return tuple(patterns)


def closing_language(replies: Iterable[str]) -> str | None:
    """The language of the bot's goodbye or thanks among `replies` (its texts for one
    message), or None when it said neither: the conversation goes on."""
    for reply in replies:
        text = _squeezed(reply)
        for lang, pattern in _closing_patterns():
            if pattern.fullmatch(text):
                return lang
    return None


def session_start(times: Sequence[datetime], gap: timedelta) -> datetime | None:
    """When the current session began: the earliest of the latest customer messages `times`
    (newest first) with no silence of `gap` or more between them. None without messages."""
    if not times:
        return None
    start = times[0]
    for earlier in times[1:]:
        if start - earlier >= gap:
            break
        start = earlier
    return start


def should_ask(state: State, asked_in_session: bool, answered: bool) -> bool:
    """Whether a conversation that ended is asked for a rating: not while a person holds it,
    once per session (so never twice in a row), and only once the customer got an answer."""
    return state in (State.BOT, State.CLOSED) and not asked_in_session and answered


def answered_by_bot(details: dict[str, Any] | None) -> bool:
    """A customer message the bot answered (the router's record of it), other than a goodbye
    or thanks (`ENDED`): that alone is no request."""
    found = details or {}
    return (
        found.get("routed") == "bot" and int(found.get("replies") or 0) > 0 and not found.get(ENDED)
    )


# --- asking -------------------------------------------------------------------------------


def ask_after_resolve(
    session: Session, conversation: Conversation, escalation: Escalation, now: datetime
) -> Rating | None:
    """An agent resolved `escalation` (the conversation is closed): the customer is asked
    about the person who helped, if that person answered them."""
    start, _ = _look_back(session, conversation.id)
    asked = start is not None and _asked_since(session, conversation.id, start)
    if not should_ask(conversation.state, asked, escalation.first_reply_at is not None):
        return None
    lang = _language(escalation.language, conversation.language)
    return _ask(session, conversation, lang, escalation, now)


def ask_after_goodbye(
    session: Session,
    conversation: Conversation,
    message: Message,
    replies: Iterable[str],
    now: datetime,
) -> Rating | None:
    """The bot has just answered `message` with `replies` (its texts): if that was its
    goodbye or thanks, the conversation has ended (the message is marked so) and the
    customer may be asked."""
    lang = closing_language(replies)
    if lang is None:
        return None
    message.details = {**(message.details or {}), ENDED: True}
    return _ask_at_end(session, conversation, now, lang)


def idle_conversations(
    session: Session, now: datetime, settings: HandoffSettings, limit: int = IDLE_BATCH
) -> list[str]:
    """Conversations with the bot whose customer fell silent `rating_after_idle_minutes` ago
    (within IDLE_BAND) and who was not asked, nor answered a question, since: one query."""
    silent_since = now - timedelta(minutes=settings.rating_after_idle_minutes)
    last = Conversation.last_customer_at
    rated_since = exists().where(
        Rating.conversation_id == Conversation.id,
        or_(Rating.asked_at >= last, Rating.answered_at >= last, Rating.comment_at >= last),
    )
    return list(
        session.execute(
            select(Conversation.id)
            .where(
                Conversation.state == State.BOT,
                last <= silent_since,
                last > silent_since - IDLE_BAND,
                ~rated_since,
            )
            .order_by(last)
            .limit(limit)
        ).scalars()
    )


def ask_if_idle(
    session: Session, conversation_id: str, now: datetime, settings: HandoffSettings, owner: str
) -> Rating | None:
    """Asks the customer of a silent conversation, if it may be asked. Under the
    conversation's routing lease (taken and let go in this transaction, as `owner`), so that
    no other worker asks too and no message is being answered meanwhile."""
    lease = route_lease(conversation_id)
    if not acquire(session, lease, owner, now):
        return None  # a message is being answered: looked at again next time
    try:
        conversation = session.get(Conversation, conversation_id)
        silent_since = now - timedelta(minutes=settings.rating_after_idle_minutes)
        if (
            conversation is None
            or conversation.state != State.BOT
            or conversation.last_customer_at is None
            or conversation.last_customer_at > silent_since
            or _pending(session, conversation_id)
        ):
            return None
        return _ask_at_end(session, conversation, now)
    finally:
        release(session, lease, owner)


def ask_idle(engine: Engine, now: datetime, settings: HandoffSettings, owner: str) -> int:
    """The background loop's tick: asks the customers of conversations that went silent;
    returns how many were asked. Each in its own transaction."""
    asked = 0
    for conversation_id in run_atomic(engine, lambda s: idle_conversations(s, now, settings)):
        rating = run_atomic(
            engine,
            functools.partial(
                ask_if_idle,
                conversation_id=conversation_id,
                now=now,
                settings=settings,
                owner=owner,
            ),
        )
        asked += rating is not None
    return asked


def _ask_at_end(
    session: Session, conversation: Conversation, now: datetime, lang: str | None = None
) -> Rating | None:
    """A conversation with the bot has ended: the customer is asked if this session had an
    answer (the bot's, before this one; or a person's) and no question yet."""
    start, answered = _look_back(session, conversation.id)
    if start is None:
        return None
    helped = (
        session.execute(
            select(Escalation)
            .where(
                Escalation.conversation_id == conversation.id,
                Escalation.created_at >= start,
                Escalation.first_reply_at.is_not(None),
            )
            .order_by(Escalation.id.desc())
            .limit(1)
        )
        .scalars()
        .first()
    )
    asked = _asked_since(session, conversation.id, start)
    if not should_ask(conversation.state, asked, answered > 0 or helped is not None):
        return None
    if lang is None:
        lang = _language(_bot_language(session, conversation.id, start), conversation.language)
    return _ask(session, conversation, lang, helped, now)


def _ask(
    session: Session,
    conversation: Conversation,
    lang: str,
    helped: Escalation | None,
    now: datetime,
) -> Rating:
    rating = Rating(
        conversation_id=conversation.id,
        escalation_id=helped.id if helped else None,
        channel=conversation.channel,
        language=lang,
        handled_by=HANDLED_BY_PERSON if helped else HANDLED_BY_BOT,
        agent_id=helped.agent_id if helped else None,
        reasons=list(helped.reasons or []) if helped else [],
        asked_at=now,
    )
    session.add(rating)
    session.flush()
    add_outgoing(
        session,
        conversation,
        Author.BOT,
        say("rating.ask", lang),
        rating_buttons(),
        details={"kind": ASKED, "rating_id": rating.id},
    )
    return rating


# --- the answer ---------------------------------------------------------------------------


def take_answer(session: Session, conversation_id: str, message_id: int, now: datetime) -> bool:
    """If pending message `message_id` answers the conversation's open question (a score, or
    the comment after a low one), stores it, thanks the customer and marks the message
    routed; True then, and nothing goes to the bot. False otherwise (the message goes on as
    usual, and the question is closed by it). The router calls this, under its lease."""
    rating = (
        session.execute(
            select(Rating)
            .where(
                Rating.conversation_id == conversation_id,
                Rating.asked_at >= now - timedelta(hours=ANSWER_HOURS),
            )
            .order_by(Rating.id.desc())
            .limit(1)
        )
        .scalars()
        .first()
    )
    if rating is None:  # the usual case: one indexed read, and on to the bot
        return False
    if rating.score is None:
        expected = ASKED
    elif (
        rating.comment is None
        and rating.score <= LOW_SCORE
        and rating.answered_at is not None
        and now - rating.answered_at <= timedelta(minutes=COMMENT_MINUTES)
    ):
        expected = COMMENT_ASKED
    else:
        return False
    conversation = session.get(Conversation, conversation_id)
    message = session.get(Message, message_id)
    if conversation is None or conversation.state not in (State.BOT, State.CLOSED):
        return False
    if not _answers(session, message, expected, rating.id):
        return False
    lang = _language(rating.language)
    if expected == ASKED:
        score = parse_score(message.text)
        if score is None:
            return False
        rating.score, rating.answered_at = score, now
        low = score <= LOW_SCORE
        add_outgoing(
            session,
            conversation,
            Author.BOT,
            say("rating.ask_comment" if low else "rating.thanks", lang),
            details={"kind": COMMENT_ASKED if low else THANKED, "rating_id": rating.id},
        )
        mark_processed(session, message, routed="rating", score=score)
        return True
    comment = message.text.strip()
    if not comment:  # a photo alone is no comment: the bot asks about it
        return False
    rating.comment, rating.comment_at = comment[:MAX_COMMENT], now
    add_outgoing(
        session,
        conversation,
        Author.BOT,
        say("rating.comment_thanks", lang),
        details={"kind": THANKED, "rating_id": rating.id},
    )
    mark_processed(session, message, routed="rating_comment")
    return True


def _answers(session: Session, message: Message, expected: str, rating_id: int) -> bool:
    """True when `message` is the customer's first message since the bot asked `expected`
    about rating `rating_id`, and that question is the bot's latest message."""
    question = latest_bot_message(session, message.conversation_id, message.id)
    details = (question.details or {}) if question is not None else {}
    if details.get("kind") != expected or details.get("rating_id") != rating_id:
        return False
    assert question is not None
    between = session.execute(
        select(Message.id)
        .where(
            Message.conversation_id == message.conversation_id,
            Message.author == Author.CUSTOMER,
            Message.id > question.id,
            Message.id < message.id,
        )
        .limit(1)
    ).first()
    return between is None


# --- reads --------------------------------------------------------------------------------


def _look_back(session: Session, conversation_id: str) -> tuple[datetime | None, int]:
    """When the conversation's current session began, and how many of its customer messages
    the bot answered."""
    gap = timedelta(minutes=load_thresholds().conversation_gap_minutes)
    rows = session.execute(
        select(Message.created_at, Message.details)
        .where(Message.conversation_id == conversation_id, Message.author == Author.CUSTOMER)
        .order_by(Message.id.desc())
        .limit(LOOK_BACK)
    ).all()
    start = session_start([r.created_at for r in rows], gap)
    if start is None:
        return None, 0
    return start, sum(1 for r in rows if r.created_at >= start and answered_by_bot(r.details))


def _asked_since(session: Session, conversation_id: str, start: datetime) -> bool:
    return (
        session.execute(
            select(Rating.id)
            .where(Rating.conversation_id == conversation_id, Rating.asked_at >= start)
            .limit(1)
        ).first()
        is not None
    )


def _pending(session: Session, conversation_id: str) -> bool:
    """The customer wrote something the router has not answered yet."""
    return (
        session.execute(
            select(Message.id)
            .where(
                Message.processing == Processing.PENDING,
                Message.conversation_id == conversation_id,
            )
            .limit(1)
        ).first()
        is not None
    )


def _bot_language(session: Session, conversation_id: str, start: datetime) -> str | None:
    """The language the bot spoke in this session, from the words of its latest messages (the
    conversation's language is the customer's preference, not what they wrote in)."""
    texts = session.execute(
        select(Message.text)
        .where(
            Message.conversation_id == conversation_id,
            Message.author == Author.BOT,
            Message.created_at >= start,
        )
        .order_by(Message.id.desc())
        .limit(3)
    ).scalars()
    return cue_language(" ".join(texts))


def _language(*found: str | None) -> str:
    """The first of `found` we answer in, else the brand's default language."""
    return next((lang for lang in found if lang in LANGUAGES), None) or (
        load_brand().default_language
    )
