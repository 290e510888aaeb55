"""What happens to one customer message once the router has taken it (bot/router.py).

- While the bot holds the conversation, its text goes to Rasa's REST channel with the
  message's metadata (or what stands for it: a numbered choice's payload, a burst's joined
  lines), and the replies are stored with their outbox entries. A reply carrying the handoff
  payload (relais/core/handoff.py) opens an escalation and tells the customer the wait; the
  bot's goodbye or thanks may end the conversation with a rating question
  (handoff/satisfaction.py).
- While a person holds it (`waiting`, `with_agent`), the message is only logged in the Rasa
  tracker (paused, so the bot says nothing); a customer still waiting hears their place in
  the queue and the wait now, at most every few minutes (handoff/waiting_news.py).
- A photo, file, voice note… without words gets one question from the bot, or is logged for
  the agents.

Crash recovery: the router marks a message `sent_to_rasa` before the REST call. When an
attempt finds it marked, the process may have died after Rasa got the message, so the
replies are read from the tracker (`replies_from_tracker`) rather than asking twice. The
same path recovers a turn whose replies the database refused (`RepliesNotStored`: the
message stays pending), and the replies of a worker that lost the conversation's lease
while Rasa answered (`LeaseLost`: it stores nothing, the new holder reads the tracker).
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.choices import text_for_rasa
from bot.prometheus import GatewayMetrics
from bot.rasa_client import RasaClient
from handoff.intake import hand_over
from handoff.satisfaction import ask_after_goodbye, closing_language
from handoff.settings import HandoffSettings
from handoff.waiting_news import news_on_message
from relais.core.brand import Brand
from relais.core.errors import RasaUnavailable
from relais.core.handoff import HandoffPayload, carries_handoff
from relais.core.texts import LANGUAGES, has_text, say
from relais.core.types import Author, Processing, State, utcnow
from relais.storage.conversations import Conversation, Message
from relais.storage.db import Bind, connection_of, joined_session, run_atomic, run_statements
from relais.storage.leases import acquire, release_if_idle, route_lease
from relais.storage.messages import (
    Pending,
    Reply,
    add_outgoing,
    add_replies,
    answering,
    mark_processed,
    mark_routed,
)

T = TypeVar("T")


class RepliesNotStored(Exception):
    """Rasa answered, but the transaction storing the replies failed (a database error):
    the message stays pending, marked as sent to Rasa, and the next attempt reads the
    replies from the tracker."""


class Stored(enum.Enum):
    """What became of a turn's replies (`RasaTurn._store_replies`)."""

    NOT_OURS = "not ours"  #: another worker holds the conversation now: nothing stored
    YES = "stored"  #: stored; more messages wait in the conversation
    AND_RELEASED = "stored, lease let go"  #: stored, nothing else waits: the lease is free


class LeaseLost(Exception):
    """Another worker took the conversation's lease (it ran out while Rasa answered) or has
    already handled the message: nothing is stored here, the holder recovers the replies."""


def user_event(message: Message | Pending, parse: dict[str, Any]) -> dict[str, Any]:
    """A customer message as a Rasa tracker event (with Rasa's own parse of it), to log it
    without it being answered."""
    return {
        "event": "user",
        "text": message.text,
        "timestamp": message.sent_at.timestamp(),
        "input_channel": message.channel,
        "parse_data": parse,
        "metadata": {"relais_message_id": message.id, "handled_by": "agent"},
    }


def replies_from_tracker(
    events: Sequence[dict[str, Any]], message_id: int
) -> list[dict[str, Any]] | None:
    """The bot's replies to message `message_id` as the tracker's events recorded them; None
    if Rasa never got the message. Raises RasaUnavailable while its turn is unfinished."""
    start = next(
        (
            i
            for i, e in enumerate(events)
            if e.get("event") == "user"
            and (e.get("metadata") or {}).get("relais_message_id") == message_id
        ),
        None,
    )
    if start is None:
        return None
    replies: list[dict[str, Any]] = []
    for event in events[start + 1 :]:
        kind = event.get("event")
        if kind == "bot":
            data = event.get("data") or {}
            reply: dict[str, Any] = {"text": event.get("text")}
            if data.get("buttons"):
                reply["buttons"] = data["buttons"]
            if data.get("custom"):
                reply["custom"] = data["custom"]
            replies.append(reply)
        elif kind == "pause" or (kind == "action" and event.get("name") == "action_listen"):
            return replies
        elif kind == "user":  # the turn was cut short (the action server died): move on
            return replies
    raise RasaUnavailable(f"the turn of message {message_id} is not finished in Rasa yet")


def attachment_question(kinds: Sequence[str], lang: str) -> str:
    """The one question asked about a photo, file, voice note… sent without words; several
    (an album) get one question about all of them."""
    lang = lang if lang in LANGUAGES else "en"
    if len(kinds) > 1:
        same = f"attachment.kinds.{kinds[0]}"
        key = same if len(set(kinds)) == 1 and has_text(same) else "attachment.kinds.any"
        return say("attachment.question_many", lang, things=say(key, lang))
    kind = kinds[0] if kinds else ""
    key = f"attachment.kind.{kind}"
    # A kind a channel added without a text here is named as the channel named it.
    thing = say(key, lang) if kind and has_text(key) else kind
    return say("attachment.question", lang, thing=thing)


def unusable_answer(kind: str, lang: str) -> str:
    """The one sentence for what Relais does not keep (a dice roll, a game…): it cannot
    use it, and asks for words."""
    lang = lang if lang in LANGUAGES else "en"
    key = f"attachment.unusable.{kind}"
    thing = say(key if has_text(key) else "attachment.unusable.any", lang)
    return say("attachment.unusable", lang, thing=thing)


#: The customer's latest messages' files (`recent_attachments`), built once.
_RECENT_FILES = (
    select(Message.id, Message.attachments, Message.sent_at)
    .where(
        Message.conversation_id == bindparam("conversation_id"),
        Message.author == Author.CUSTOMER,
    )
    .order_by(Message.id.desc())
    .limit(50)
)


def recent_attachments(bind: Bind, conversation_id: str, limit: int = 10) -> list[dict[str, Any]]:
    """The files the customer sent in this conversation lately, newest last (for agents)."""
    rows = connection_of(bind).execute(_RECENT_FILES, {"conversation_id": conversation_id}).all()
    found = [
        {**a, "message_id": r.id, "at": r.sent_at.isoformat() + "Z"}
        for r in reversed(rows)
        for a in (r.attachments or [])
    ]
    return found[-limit:]


class RasaTurn:
    """Routes one taken message (see the module's docstring); the router calls `route`."""

    def __init__(
        self,
        engine: Engine,
        rasa: RasaClient,
        brand: Brand,
        settings: HandoffSettings,
        clock: Callable[[], datetime],
        worker_id: str,
    ) -> None:
        self.engine = engine
        self.rasa = rasa
        self.brand = brand
        self.settings = settings
        self.clock = clock
        self.worker_id = worker_id
        #: The app's Prometheus metrics (bot/prometheus.py), one registry per turn (per app).
        self.metrics = GatewayMetrics()

    async def route(
        self, message: Pending, state: State, sent_before: bool, started: float
    ) -> bool:
        """`message` was taken while `state` held its conversation, at
        `started` (time.perf_counter); `sent_before`: an earlier attempt reached, or may have
        reached, Rasa. Raises RasaUnavailable to leave the message pending. True when the
        conversation had nothing more pending and its routing lease was let go with the
        replies (the router need not look again)."""
        if not message.text.strip() and message.attachments:
            await self._attachment_only(message, state)
        elif state in (State.WAITING, State.WITH_AGENT):
            await self._log_for_agents(message)
        else:
            return await self._ask_rasa(message, sent_before, started)
        return False

    async def _log_for_agents(self, message: Pending) -> None:
        # Parsed as words: no button is on offer while a person holds the conversation.
        parse = await self.rasa.parse(text_for_rasa(message.text, ()))
        await self.rasa.append_events(message.conversation_id, [user_event(message, parse)])
        summary = {"intent": (parse.get("intent") or {}).get("name"), "anger": parse.get("anger")}

        def logged(session: Session) -> None:
            stored = session.get(Message, message.id)
            mark_processed(session, stored, routed="human", parse=summary)
            stored.in_tracker = True
            news_on_message(
                session, stored.conversation_id, self.clock(), self.brand, self.settings
            )

        await self._atomic(logged)

    async def _ask_rasa(self, message: Pending, sent_before: bool, started: float) -> bool:
        replies: list[dict[str, Any]] | None = None
        if sent_before:
            # An earlier attempt may have reached Rasa before this process died: take the
            # replies from the tracker rather than asking twice.
            tracker = await self.rasa.tracker(message.conversation_id)
            replies = replies_from_tracker(tracker.get("events") or [], message.id)
        asked = time.perf_counter()
        if replies is None:
            replies = await self.rasa.send(
                message.conversation_id,
                # routed_text may be "" (a customer's "/" alone): that is what goes.
                message.text if message.routed_text is None else message.routed_text,
                metadata={
                    "relais_message_id": message.id,
                    "channel": message.channel,
                    "attachments": message.attachments,
                    # The action server limits failed booking checks per client address.
                    "client_address": (message.details or {}).get("client_address"),
                },
            )
        answered = time.perf_counter()
        # Where this message's time went (read by bench/profile.py): waiting to be routed
        # (stored → routing starts), our reads before Rasa, Rasa's turn (NLU, policies,
        # actions), and storing the replies is what the rest of the total is.
        timings = {
            "waited": (utcnow() - message.created_at).total_seconds() * 1000
            - (answered - started) * 1000,
            "before_rasa": (asked - started) * 1000,
            "rasa": (answered - asked) * 1000,
        }
        answer = replies  # bound here: the closure would not know it is no longer None
        try:
            stored = await asyncio.to_thread(
                run_statements,
                self.engine,
                lambda c: self._store_replies(c, message.id, answer, timings, started),
            )
        except SQLAlchemyError as error:
            raise RepliesNotStored(
                f"the replies to message {message.id} were not stored, the tracker keeps "
                f"them: {error!r}"[:500]
            ) from error
        if stored is Stored.NOT_OURS:
            raise LeaseLost(f"message {message.id} is another worker's now: replies not stored")
        self.metrics.turn(timings)
        return stored is Stored.AND_RELEASED

    async def _attachment_only(self, message: Pending, state: State) -> None:
        """A photo, file, voice note, sticker or place without words: kept for the agents
        (and for a later handoff); with the bot, one question about what it is (or about
        all of them, for an album). What Relais does not keep (a dice roll, a game) gets
        one sentence saying so."""
        kinds = [str(a.get("kind")) for a in message.attachments]
        # Kept with a file id (agents see it), or only named: a dice roll, a game…
        kept = [str(a.get("kind")) for a in message.attachments if a.get("kept", True)]
        if state in (State.WAITING, State.WITH_AGENT):
            label = " ".join(f"[{kind}]" for kind in kinds)
            event = user_event(
                message,
                {
                    "text": label,
                    "intent": {"name": "out_of_scope", "confidence": 1.0},
                    "entities": [],
                },
            )
            event["text"] = label
            await self.rasa.append_events(message.conversation_id, [event])

        def store(session: Session) -> bool:
            stored = session.get(Message, message.id)
            pending = stored.processing == Processing.PENDING
            if not self._still_ours(session, stored.conversation_id, pending):
                return False
            conversation = session.get(Conversation, stored.conversation_id)
            if state == State.BOT:
                lang = conversation.language or self.brand.default_language
                add_outgoing(
                    session,
                    conversation,
                    Author.BOT,
                    attachment_question(kept, lang) if kept else unusable_answer(kinds[0], lang),
                    details={"kind": "attachment_question" if kept else "unusable"},
                )
            else:
                news_on_message(session, conversation.id, self.clock(), self.brand, self.settings)
            mark_processed(session, stored, routed="attachment", kinds=kinds)
            return True

        if not await self._atomic(store):
            raise LeaseLost(f"message {message.id} is another worker's now: nothing stored")

    def _still_ours(self, bind: Bind, conversation_id: str, pending: bool) -> bool:
        """True when this worker may store what it made of a message of `conversation_id`
        (`pending`: the message still waits for the router): the conversation's lease is this
        worker's (renewed in this transaction, so no other worker takes it before the
        commit). False when the lease ran out while Rasa answered and another worker took
        it, or has already handled the message: storing here too would send the customer the
        replies twice."""
        if not pending:
            return False
        return acquire(bind, route_lease(conversation_id), self.worker_id, self.clock())

    def _store_replies(
        self,
        connection: Connection,
        message_id: int,
        replies: list[dict[str, Any]],
        timings: dict[str, float],
        started: float,
    ) -> Stored:
        """Stores the replies with their outbox entries and marks the message done, in one
        transaction; NOT_OURS (nothing stored) when the message is no longer this worker's.
        With nothing else pending in the conversation, the lease is let go in the same
        transaction (AND_RELEASED): a message stored meanwhile by another worker is then
        either seen here or routed by that worker, as in the router's `_take`.

        Without a handoff or a goodbye, six statements (seven on PostgreSQL): the message
        and its conversation, the lease, the replies (one each), their outbox entries,
        PostgreSQL's NOTIFY, the message marked done, and the lease let go if nothing else
        waits."""
        now = self.clock()
        found = answering(connection, message_id)
        if not self._still_ours(connection, found.conversation_id, found.pending):
            return Stored.NOT_OURS
        payload = None
        said: list[Reply] = []
        for reply in replies:
            custom = reply.get("custom")
            if carries_handoff(custom):
                payload = HandoffPayload.from_custom(custom)
                continue
            text = reply.get("text") or reply.get("image") or ""
            if text or reply.get("buttons"):
                said.append(Reply(text, reply.get("buttons") or []))
        add_replies(connection, found.conversation_id, found.channel, found.sender, said)
        details = found.details
        if payload is not None and found.state == State.BOT:
            with joined_session(connection) as session:
                conversation = session.get(Conversation, found.conversation_id)
                files = recent_attachments(connection, found.conversation_id)
                if files:
                    payload = dataclasses.replace(payload, attachments=tuple(files))
                if hand_over(session, conversation, payload, now, self.brand, self.settings):
                    self.metrics.handed_over(payload.reasons)
        elif payload is None:
            texts = [str(reply.get("text") or "") for reply in replies]
            # The same test as ask_after_goodbye's own: the objects it needs are read only
            # for a goodbye, not for every answer.
            if closing_language(texts) is not None:
                with joined_session(connection) as session:
                    message = session.get(Message, message_id)
                    conversation = session.get(Conversation, found.conversation_id)
                    ask_after_goodbye(session, conversation, message, texts, now)
                    details = dict(message.details or {})  # it may mark the message
        timings["total"] = (time.perf_counter() - started) * 1000
        details.update(
            routed="bot",
            replies=len(said),
            worker=self.worker_id,
            timings_ms={k: round(v, 1) for k, v in timings.items()},
        )
        mark_routed(connection, message_id, details)
        if release_if_idle(connection, found.conversation_id, self.worker_id):
            return Stored.AND_RELEASED
        return Stored.YES

    async def _atomic(self, work: Callable[[Session], T]) -> T:
        return await asyncio.to_thread(run_atomic, self.engine, work)
