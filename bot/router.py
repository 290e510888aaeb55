"""The router: every stored inbound message goes to Rasa or to the human side, in order.

A conversation's messages are handled one at a time, oldest first, by the worker holding
its lease (relais/storage/leases.py). This module is that loop: take the next pending
message in one transaction, hand it to bot/rasa_turn.py (Rasa, the agents' log, or a
question about a file), and move on. If Rasa cannot be reached, the message stays pending
and `drain` retries it later, still in order; a message that fails otherwise is marked as
failed, so that it does not hold up the ones after it.

Taking a message is where the customer's intent is settled before Rasa sees it: a burst's
lines are joined (bot/bursts.py), "2" becomes the second button's payload (bot/choices.py),
an answer to a rating question is stored and thanked without Rasa (handoff/satisfaction.py),
and the message is marked as sent to Rasa before it is (crash recovery, bot/rasa_turn.py).
Bursts and choices are pure functions; the database reads they need are here.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from bot import bursts
from bot.bursts import BURST_MESSAGES, Line, is_burst, join_burst
from bot.choices import choice_number, chosen_payload, reads_as_intent, text_for_rasa
from bot.prometheus import GatewayMetrics
from bot.rasa_client import RasaClient
from bot.rasa_turn import LeaseLost, RasaTurn, RepliesNotStored
from handoff.satisfaction import ANSWER_HOURS, take_answer
from handoff.settings import HandoffSettings
from relais.core.brand import Brand
from relais.core.errors import RasaUnavailable
from relais.core.types import Author, Processing, State, utcnow
from relais.storage.conversations import Conversation, Message
from relais.storage.db import Bind, joined_session, run_atomic, run_statements
from relais.storage.leases import acquire, release, route_lease
from relais.storage.messages import (
    Inbound,
    Pending,
    conversations_with_pending,
    insert_inbound,
    latest_bot_buttons,
    mark_processed,
    mark_sending,
    reopen,
    store_album_item,
    store_edit,
    take_pending,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: The longest `drain` leaves a conversation alone after it failed several times in a row
#: (it waits 2, 4, 8… seconds before that): a message that keeps failing is retried, and
#: logged, without flooding the log every tick.
DRAIN_BACKOFF_MAX_S = 300.0
#: An album's messages arrive one by one within a moment (Telegram sends one update per
#: photo): its message waits this long after it was stored, so that one answer covers all.
ALBUM_WAIT_S = 1.0


@dataclass
class Taken:
    """The router's next message of a conversation, as read in one transaction."""

    message: Pending | None = None
    state: State | None = None  #: who held the conversation then
    sent_before: bool = False  #: an earlier attempt reached (or may have reached) Rasa
    burst: bool = False  #: the customer is sending many lines: wait, then answer together
    #: An agent's resolve or hand-back has not reached Rasa yet: hold the messages.
    resume_pending: bool = False
    #: The message answered a rating question (handoff/satisfaction.py): stored and thanked
    #: in the same transaction, nothing for Rasa.
    answered: bool = False
    at: float = field(default_factory=time.perf_counter)  #: when it was read (for timings)


class ConversationLocks:
    """One lock per conversation, kept only while a task holds it or waits for it: a lock
    for every conversation ever routed would make the process grow with its traffic."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def hold(self, conversation_id: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(conversation_id, asyncio.Lock())
        self._users[conversation_id] = self._users.get(conversation_id, 0) + 1
        try:
            async with lock:
                yield
        finally:
            # Also when cancelled while waiting: the last user out drops the lock.
            self._users[conversation_id] -= 1
            if not self._users[conversation_id]:
                del self._users[conversation_id], self._locks[conversation_id]


class Router:
    def __init__(
        self,
        engine: Engine,
        rasa: RasaClient,
        brand: Brand,
        settings: HandoffSettings,
        clock: Callable[[], datetime] = utcnow,
        worker_id: str = "relais",
    ) -> None:
        self.engine = engine
        #: This worker's name in the leases it holds (unique among the workers of a database).
        self.worker_id = worker_id
        self.turn = RasaTurn(engine, rasa, brand, settings, clock, worker_id)
        self._locks = ConversationLocks()
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Long-polling requests waiting for a conversation's next reply (bot/web.py).
        self._reply_waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        #: Conversations `drain` failed on: (failures in a row, not before this monotonic time).
        self._drain_backoff: dict[str, tuple[int, float]] = {}
        #: Set whenever something new is written for customers or agents (pollers may wait on it).
        self.changed = asyncio.Event()

    # The turn owns these; read through the router so there is one copy of each.
    @property
    def rasa(self) -> RasaClient:
        return self.turn.rasa

    @property
    def brand(self) -> Brand:
        return self.turn.brand

    @property
    def settings(self) -> HandoffSettings:
        return self.turn.settings

    @property
    def clock(self) -> Callable[[], datetime]:
        return self.turn.clock

    @property
    def metrics(self) -> GatewayMetrics:
        return self.turn.metrics

    async def store(self, inbound: Inbound) -> tuple[int, bool]:
        """Stores the message once per platform id: (message id, whether it was new)."""
        started = time.perf_counter()
        work = functools.partial(insert_inbound, inbound=inbound)
        try:
            message_id, created = await self._statements(work)
        except IntegrityError:
            # The same delivery stored by another request at the same moment: again, in a
            # new transaction, it finds that one (and answers "not new").
            message_id, created = await self._statements(work)
        self.metrics.stored(inbound.channel, created, started)
        return message_id, created

    async def store_album_item(self, inbound: Inbound) -> tuple[int, str]:
        """Stores one message of an album into the album's one message: (its id, "stored",
        "merged" or "duplicate")."""
        started = time.perf_counter()

        def work(session: Session) -> tuple[int, str]:
            message, outcome = store_album_item(session, inbound)
            return message.id, outcome

        message_id, outcome = await self._atomic(work)
        self.metrics.stored(inbound.channel, outcome != "duplicate", started)
        return message_id, outcome

    async def store_edit(self, inbound: Inbound, edited_at: datetime | None) -> tuple[int, str]:
        """A customer's edit of a message: (the message's id, what happened: see
        relais/storage/messages.py `store_edit`). The caller routes the conversation when
        the message still waits ("pending") or was new ("stored")."""

        def work(session: Session) -> tuple[int, str]:
            message, outcome = store_edit(session, inbound, edited_at)
            return message.id, outcome

        return await self._atomic(work)

    def schedule(self, conversation_id: str) -> None:
        """Routes the conversation's pending messages in the background (the caller, e.g. a
        webhook, answers at once: the message is already stored)."""
        task = asyncio.create_task(self.process(conversation_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def receive(self, inbound: Inbound) -> tuple[int, bool]:
        """Stores the message (once per platform id), then routes what is pending.

        Returns (message id, whether it was new). Storing happens before anything else, so a
        message is never lost once this returns, even if routing fails.
        """
        message_id, created = await self.store(inbound)
        if created:
            await self.process(inbound.conversation_id)
        return message_id, created

    async def process(self, conversation_id: str) -> int:
        """Routes this conversation's pending messages in order; returns how many were routed.

        Only the worker holding the conversation's lease routes it. A worker that finds it
        taken leaves the message to the holder, which looks for pending messages again
        after letting the lease go.
        """
        lease = route_lease(conversation_id)
        async with self._locks.hold(conversation_id):
            routed = await self._route_pending(conversation_id, lease)
        if routed:
            self.changed.set()
        return routed

    async def _route_pending(self, conversation_id: str, lease: str) -> int:
        """Routes pending messages, one at a time, under the conversation's lease; returns
        how many. Two transactions per message: take it, and store the replies (letting the
        lease go there when nothing else waits, or else taking the next)."""
        routed, paused = 0, False
        while True:
            taken = await self._statements(
                functools.partial(
                    self._take, conversation_id=conversation_id, lease=lease, paused=paused
                )
            )
            if taken.burst:
                # Many lines in a few seconds: let the customer finish, answer them at once.
                await asyncio.sleep(bursts.BURST_PAUSE_S)
                paused = True
                continue
            paused = False
            if taken.answered:
                routed += 1
                self.wake(conversation_id)
                continue
            if taken.message is None:  # nothing left (lease let go), or another worker's turn
                if taken.resume_pending:
                    logger.info("%s waits: its tracker is not resumed yet", conversation_id)
                return routed
            assert taken.state is not None
            message_id = taken.message.id
            released = False
            try:
                released = await self.turn.route(
                    taken.message, taken.state, taken.sent_before, taken.at
                )
            except RasaUnavailable as error:
                logger.warning("Rasa unavailable, %s waits: %s", conversation_id, error)
                # Kept pending; the lease is let go so that any worker may retry it later.
                await self._atomic(lambda s: release(s, lease, self.worker_id))
                return routed
            except RepliesNotStored as error:
                # Rasa answered, the database did not take the replies: the message stays
                # pending and marked as sent, so the next attempt (drain) reads them from the
                # tracker. Marking it failed would lose them.
                logger.warning("%s waits: %s", conversation_id, error)
                with contextlib.suppress(SQLAlchemyError):  # it expires anyway
                    await self._atomic(lambda s: release(s, lease, self.worker_id))
                return routed
            except LeaseLost as error:
                # Another worker holds the conversation now and recovers the replies from the
                # tracker; nothing of ours is left to let go.
                logger.warning("%s: %s", conversation_id, error)
                return routed
            except Exception as error:  # noqa: BLE001 - one bad message must not block the rest
                logger.exception("message %s could not be routed", message_id)
                await self._atomic(
                    functools.partial(mark_failed, message_id=message_id, error=repr(error)[:500])
                )
            routed += 1
            self.wake(conversation_id)
            if released:  # nothing else was pending, and the lease went with the replies
                return routed

    def _take(
        self, connection: Connection, conversation_id: str, lease: str, paused: bool
    ) -> Taken:
        """One transaction: the lease (taken or renewed), then the conversation's next
        pending message with who holds the conversation, marked as sent to Rasa when it goes
        there. With nothing pending, the lease is let go in the same transaction, so a
        message another worker stored meanwhile is either seen here or routed by that worker.

        Three statements in the usual case (the lease, the read, the mark); the rating, the
        burst and the album checks read more only when the read says they may apply.
        """
        now = self.clock()
        if not acquire(connection, lease, self.worker_id, now):
            return Taken()  # another worker routes this conversation, this message included
        waiting = take_pending(connection, conversation_id, now - timedelta(hours=ANSWER_HOURS))
        if not waiting.messages:
            release(connection, lease, self.worker_id)
            return Taken()
        message = waiting.messages[0]
        # Before bursts and the tracker's state: a rating is stored alone, with no need of
        # Rasa. Only a conversation asked for one lately can be answering it.
        if waiting.rated:
            with joined_session(connection) as session:
                if take_answer(session, conversation_id, message.id, now):
                    return Taken(answered=True)
        if len(waiting.messages) > 1:  # the customer wrote again meanwhile: a burst, or lines
            with joined_session(connection) as session:
                if not paused and in_burst(session, conversation_id, now, len(waiting.messages)):
                    return Taken(burst=True)
                merged = merge_burst(session, conversation_id)
            if merged:
                logger.info(
                    "%s: %d messages in a burst answered as one", conversation_id, merged + 1
                )
                # The first message now carries the joined text: read it again.
                message = take_pending(connection, conversation_id, now).messages[0]
        if (
            not paused
            and message.details.get("album")
            and (now - message.created_at).total_seconds() < ALBUM_WAIT_S
        ):
            return Taken(burst=True)  # the album's other photos are on their way: wait
        if waiting.rasa_pending:
            # An agent resolved or handed back while Rasa was down: its tracker is still
            # paused and would answer nothing. The tracker sync resumes it (handoff/desk.py);
            # until then the messages wait, in order, and any worker may route them after.
            release(connection, lease, self.worker_id)
            return Taken(resume_pending=True)
        state = waiting.state
        if state == State.CLOSED:  # a new message after resolution: the bot again
            reopen(connection, conversation_id)
            state = State.BOT
        sent_before = message.sent_to_rasa
        routed_text = message.routed_text
        if state == State.BOT:
            settle_text(connection, message)
        if state == State.BOT and (message.text.strip() or not message.attachments):
            # Recorded before the REST call: after a crash, the tracker tells what Rasa did.
            message.sent_to_rasa = True
        if message.sent_to_rasa != sent_before or message.routed_text != routed_text:
            mark_sending(connection, message)
        return Taken(message=message, state=state, sent_before=sent_before)

    def wake(self, conversation_id: str) -> None:
        """Something was written for the customer of `conversation_id`: wake its long polls."""
        for event in self._reply_waiters.pop(conversation_id, ()):
            event.set()

    def listen(self, conversation_id: str) -> asyncio.Event:
        """An event set at the next `wake(conversation_id)`; give it back with `unlisten`."""
        event = asyncio.Event()
        self._reply_waiters[conversation_id].add(event)
        return event

    def unlisten(self, conversation_id: str, event: asyncio.Event) -> None:
        waiters = self._reply_waiters.get(conversation_id)
        if waiters is not None:
            waiters.discard(event)
            if not waiters:
                del self._reply_waiters[conversation_id]

    async def _atomic(self, work: Callable[[Session], T]) -> T:
        return await asyncio.to_thread(run_atomic, self.engine, work)

    async def _statements(self, work: Callable[[Connection], T]) -> T:
        """`work` in a transaction of Core statements (`run_statements`): the per-message
        path, where an ORM Session would cost as much as the statements."""
        return await asyncio.to_thread(run_statements, self.engine, work)

    async def drain(self) -> int:
        """Routes every conversation with pending messages (after a restart or an outage).

        Each conversation on its own: one that raises (a database error, a message nothing
        can route) is logged and left alone for a while, and the others are routed."""
        ids = await self._atomic(conversations_with_pending)
        for forgotten in set(self._drain_backoff) - set(ids):  # nothing pending there now
            del self._drain_backoff[forgotten]
        total = 0
        for conversation_id in ids:
            failures, not_before = self._drain_backoff.get(conversation_id, (0, 0.0))
            if time.monotonic() < not_before:
                continue
            try:
                total += await self.process(conversation_id)
            except Exception:  # noqa: BLE001 - one conversation must not stop the others
                failures += 1
                wait = min(DRAIN_BACKOFF_MAX_S, 2.0**failures)
                self._drain_backoff[conversation_id] = (failures, time.monotonic() + wait)
                logger.exception(
                    "drain: %s failed (%d in a row), next try in %.0fs",
                    conversation_id,
                    failures,
                    wait,
                )
            else:
                self._drain_backoff.pop(conversation_id, None)
        return total


def in_burst(session: Session, conversation_id: str, now: datetime, pending: int) -> bool:
    """True when the customer is sending many lines at once (`pending` of them wait)."""
    times = (
        session.execute(
            select(Message.created_at)
            .where(Message.conversation_id == conversation_id, Message.author == Author.CUSTOMER)
            .order_by(Message.created_at.desc())
            .limit(BURST_MESSAGES)
        )
        .scalars()
        .all()
    )
    return is_burst(list(times), pending, now)


def merge_burst(session: Session, conversation_id: str) -> int:
    """Several pending text messages of a conversation the bot holds are answered as one:
    a customer who sends ten lines in a second gets one reply, not ten. Every message stays
    in the transcript; the first carries the joined text for Rasa. Returns how many joined."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None or conversation.state not in (State.BOT, State.CLOSED):
        return 0
    pending = list(
        session.execute(
            select(Message)
            .where(
                Message.conversation_id == conversation_id, Message.processing == Processing.PENDING
            )
            .order_by(Message.id)
            .limit(200)
        ).scalars()
    )
    # A first message already sent to Rasa was answered (or is being) with its own text.
    if len(pending) < 2 or pending[0].sent_to_rasa:
        return 0
    burst = join_burst([Line(m.text, bool(m.attachments)) for m in pending])
    if not burst.joined:
        return 0
    first = pending[0]
    for message in pending[1 : burst.joined + 1]:
        mark_processed(session, message, routed="merged", merged_into=first.id)
    first.routed_text = burst.text
    first.details = {**(first.details or {}), "merged": burst.joined}
    return burst.joined


def settle_text(bind: Bind, message: Pending) -> None:
    """What goes to Rasa for a message the bot answers, in `routed_text` (the message's own
    text stays as the customer wrote it): a numbered choice's payload, and never an intent
    the bot did not offer as a button (bot/choices.py). Idempotent: a retry settles the same."""
    offered: list[dict[str, Any]] | None = None
    if choice_number(message.text) is not None:
        offered = latest_buttons(bind, message)
        chosen = chosen_payload(message.text, offered)
        if chosen:
            message.routed_text = chosen
    asked = message.text if message.routed_text is None else message.routed_text
    if reads_as_intent(asked):
        if offered is None:
            offered = latest_buttons(bind, message)
        safe = text_for_rasa(asked, offered)
        if safe != asked:
            message.routed_text = safe


def mark_failed(session: Session, message_id: int, error: str) -> None:
    """Done with a message that could not be routed (the error is kept for the agents)."""
    mark_processed(session, session.get(Message, message_id), routed="error", error=error)


def latest_buttons(bind: Bind, message: Pending) -> list[dict[str, Any]]:
    """The buttons of the bot's latest message before `message` (none: an empty list)."""
    return latest_bot_buttons(bind, message.conversation_id, message.id)
