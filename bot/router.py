"""The router: every stored inbound message goes to Rasa or to the human side, in order.

A conversation's messages are handled one at a time, oldest first. While the bot holds the
conversation, the message goes to Rasa's REST channel and the replies go to the outbox; a
reply carrying the handoff payload opens an escalation and tells the customer the wait.
While a person holds it (`waiting`, `with_agent`), the message is only logged in the Rasa
tracker (paused, so the bot says nothing). If Rasa cannot be reached, the message stays
pending and `drain` retries it later, still in order.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.engine import Engine

from relais.storage.leases import acquire, release
from relais.storage.conversations import Conversation, Message
from relais.core.types import Processing
from relais.core.types import Author
from relais.core.types import State
from bot.rasa_client import RasaClient
from relais.core.errors import RasaUnavailable
from relais.storage.messages import Inbound, add_outgoing, conversations_with_pending, mark_processed, store_inbound
from relais.storage.db import run_atomic
from handoff.settings import HandoffSettings
from handoff.intake import hand_over
from relais.core.brand import Brand
from relais.core.types import utcnow

logger = logging.getLogger(__name__)

HANDOFF_KEY = "relais_handoff"


def user_event(message: Message, parse: dict[str, Any]) -> dict[str, Any]:
    """A customer message as a Rasa tracker event (with Rasa's own parse of it), to log it
    without it being answered."""
    return {
        "event": "user", "text": message.text, "timestamp": message.sent_at.timestamp(),
        "input_channel": message.channel, "parse_data": parse,
        "metadata": {"relais_message_id": message.id, "handled_by": "agent"},
    }


@dataclass
class Taken:
    """The router's next message of a conversation, as read in one transaction."""

    message: Message | None = None  #: detached from its session
    state: State | None = None  #: who held the conversation then
    sent_before: bool = False  #: an earlier attempt reached (or may have reached) Rasa
    burst: bool = False  #: the customer is sending many lines: wait, then answer together
    at: float = field(default_factory=time.perf_counter)  #: when it was read (for timings)


class Router:
    def __init__(self, engine: Engine, rasa: RasaClient, brand: Brand,
                 settings: HandoffSettings, clock: Callable[[], datetime] = utcnow,
                 worker_id: str = "relais") -> None:
        self.engine = engine
        #: This worker's name in the leases it holds (unique among the workers of a database).
        self.worker_id = worker_id
        self.rasa = rasa
        self.brand = brand
        self.settings = settings
        self.clock = clock
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Long-polling requests waiting for a conversation's next reply (bot/web.py).
        self._reply_waiters: dict[str, set[asyncio.Event]] = defaultdict(set)
        #: Set whenever something new is written for customers or agents (pollers may wait on it).
        self.changed = asyncio.Event()

    async def store(self, inbound: Inbound) -> tuple[int, bool]:
        """Stores the message once per platform id: (message id, whether it was new)."""
        def work(session: Any) -> tuple[int, bool]:
            message, created = store_inbound(session, inbound)
            return message.id, created

        return await asyncio.to_thread(run_atomic, self.engine, work)

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

        Only the worker holding the conversation's lease routes it (relais/storage/leases.py). A worker
        that finds it taken leaves the message to the holder, which looks for pending
        messages again after letting the lease go.
        """
        lease = f"route:{conversation_id}"
        async with self._locks[conversation_id]:
            routed = await self._route_pending(conversation_id, lease)
        if routed:
            self.changed.set()
        return routed

    async def _route_pending(self, conversation_id: str, lease: str) -> int:
        """Routes pending messages, one at a time, under the conversation's lease; returns
        how many. Three transactions per message: take it, store the replies, and either
        take the next or let the lease go."""
        routed, paused = 0, False
        while True:
            taken = await self._atomic(lambda s: self._take(s, conversation_id, lease, paused))
            if taken.burst:
                # Many lines in a few seconds: let the customer finish, answer them at once.
                await asyncio.sleep(BURST_PAUSE_S)
                paused = True
                continue
            paused = False
            if taken.message is None:  # nothing left (lease let go), or another worker's turn
                return routed
            message_id = taken.message.id
            try:
                await self._route(taken)
            except RasaUnavailable as error:
                logger.warning("Rasa unavailable, %s waits: %s", conversation_id, error)
                # Kept pending; the lease is let go so that any worker may retry it later.
                await self._atomic(lambda s: release(s, lease, self.worker_id))
                return routed
            except Exception as error:  # noqa: BLE001 - one bad message must not block the rest
                logger.exception("message %s could not be routed", message_id)
                await self._atomic(lambda s: mark_processed(
                    s, s.get(Message, message_id), routed="error", error=repr(error)[:500]))
            routed += 1
            self.wake(conversation_id)

    def _take(self, session: Any, conversation_id: str, lease: str, paused: bool) -> "Taken":
        """One transaction: the lease (taken or renewed), then the conversation's next
        pending message with who holds the conversation, marked as sent to Rasa when it goes
        there. With nothing pending, the lease is let go in the same transaction, so a
        message another worker stored meanwhile is either seen here or routed by that worker.
        """
        now = self.clock()
        if not acquire(session, lease, self.worker_id, now):
            return Taken()  # another worker routes this conversation, this message included
        pending = session.execute(
            select(Message.id).where(Message.conversation_id == conversation_id,
                                     Message.processing == Processing.PENDING)
            .order_by(Message.id).limit(2)).scalars().all()
        if not pending:
            release(session, lease, self.worker_id)
            return Taken()
        if len(pending) > 1:  # the customer wrote again meanwhile: a burst, or lines to join
            if not paused and in_burst(session, conversation_id, now):
                return Taken(burst=True)
            merged = merge_burst(session, conversation_id)
            if merged:
                logger.info("%s: %d messages in a burst answered as one",
                            conversation_id, merged + 1)
        message = session.get(Message, pending[0])
        conversation = session.get(Conversation, conversation_id)
        if conversation.state == State.CLOSED:  # a new message after resolution: the bot again
            conversation.state = State.BOT
        sent_before = bool((message.details or {}).get("sent_to_rasa"))
        if conversation.state == State.BOT and message.text.strip().isdigit():
            # Channels without buttons show them as numbered options: "2" means the second.
            chosen = _numbered_choice(session, message)
            if chosen:
                message.details = {**(message.details or {}), "routed_text": chosen}
        if conversation.state == State.BOT and (message.text.strip() or not message.attachments):
            # Recorded before the REST call: after a crash, the tracker tells what Rasa did.
            message.details = {**(message.details or {}), "sent_to_rasa": True}
        session.flush()
        session.expunge(message)
        return Taken(message=message, state=conversation.state, sent_before=sent_before)

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

    async def _atomic(self, work: Callable[[Any], Any]) -> Any:
        return await asyncio.to_thread(run_atomic, self.engine, work)

    async def drain(self) -> int:
        """Routes every conversation with pending messages (after a restart or an outage)."""
        ids = await asyncio.to_thread(run_atomic, self.engine, conversations_with_pending)
        total = 0
        for conversation_id in ids:
            total += await self.process(conversation_id)
        return total

    async def _route(self, taken: "Taken") -> None:
        message, state, sent_before = taken.message, taken.state, taken.sent_before
        assert message is not None and state is not None
        message_id, conversation_id = message.id, message.conversation_id
        if not message.text.strip() and message.attachments:
            await self._attachment_only(message, state)
            return
        if state in (State.WAITING, State.WITH_AGENT):
            parse = await self.rasa.parse(message.text)
            await self.rasa.append_events(conversation_id, [user_event(message, parse)])
            summary = {"intent": (parse.get("intent") or {}).get("name"), "anger": parse.get("anger")}

            def logged(session: Any) -> None:
                stored = session.get(Message, message_id)
                mark_processed(session, stored, routed="human", parse=summary)
                stored.in_tracker = True

            await asyncio.to_thread(run_atomic, self.engine, logged)
            return
        replies = None
        if sent_before:
            # An earlier attempt may have reached Rasa before this process died: take the
            # replies from the tracker rather than asking twice.
            replies = await self._replies_in_tracker(conversation_id, message.id)
        asked = time.perf_counter()
        if replies is None:
            text = (message.details or {}).get("routed_text") or message.text
            replies = await self.rasa.send(conversation_id, text, metadata={
                "relais_message_id": message.id, "channel": message.channel,
                "attachments": message.attachments,
            })
        answered = time.perf_counter()
        # Where this message's time went (read by bench/profile.py): waiting to be routed
        # (stored → routing starts), our reads before Rasa, Rasa's turn (NLU, policies,
        # actions), and storing the replies is what the rest of the total is.
        timings = {"waited": (utcnow() - message.created_at).total_seconds() * 1000
                   - (answered - taken.at) * 1000,
                   "before_rasa": (asked - taken.at) * 1000, "rasa": (answered - asked) * 1000}
        await self._atomic(lambda s: self._store_replies(s, message_id, replies, timings, taken.at))

    async def _replies_in_tracker(self, conversation_id: str, message_id: int
                                  ) -> list[dict[str, Any]] | None:
        """The bot's replies to message `message_id` as the tracker recorded them; None if
        Rasa never got the message. Raises RasaUnavailable while its turn is unfinished."""
        tracker = await self.rasa.tracker(conversation_id)
        events = tracker.get("events") or []
        start = next((i for i, e in enumerate(events) if e.get("event") == "user"
                      and (e.get("metadata") or {}).get("relais_message_id") == message_id), None)
        if start is None:
            return None
        replies: list[dict[str, Any]] = []
        for event in events[start + 1:]:
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

    async def _attachment_only(self, message: Message, state: State) -> None:
        """A photo, file, voice note, sticker or place without words: kept for the agents
        (and for a later handoff); with the bot, one question about what it is."""
        kinds = [str(a.get("kind")) for a in message.attachments]
        if state in (State.WAITING, State.WITH_AGENT):
            label = " ".join(f"[{kind}]" for kind in kinds)
            event = user_event(message, {"text": label, "intent": {"name": "out_of_scope",
                                                                    "confidence": 1.0},
                                         "entities": []})
            event["text"] = label
            await self.rasa.append_events(message.conversation_id, [event])

        def store(session: Any) -> None:
            stored = session.get(Message, message.id)
            conversation = session.get(Conversation, stored.conversation_id)
            if state == State.BOT:
                lang = conversation.language or self.brand.default_language
                add_outgoing(session, conversation, Author.BOT, attachment_question(kinds, lang),
                             details={"kind": "attachment_question"})
            mark_processed(session, stored, routed="attachment", kinds=kinds)

        await asyncio.to_thread(run_atomic, self.engine, store)

    def _store_replies(self, session: Any, message_id: int, replies: list[dict[str, Any]],
                       timings: dict[str, float], started: float) -> None:
        message = session.get(Message, message_id)
        conversation = session.get(Conversation, message.conversation_id)
        payload = None
        sent = 0
        for reply in replies:
            custom = reply.get("custom")
            if isinstance(custom, dict) and HANDOFF_KEY in custom:
                payload = custom[HANDOFF_KEY]
                continue
            text = reply.get("text") or reply.get("image") or ""
            if text or reply.get("buttons"):
                add_outgoing(session, conversation, Author.BOT, text, reply.get("buttons") or [])
                sent += 1
        if payload is not None and conversation.state == State.BOT:
            self._hand_over(session, conversation, payload)
        session.flush()
        timings["total"] = (time.perf_counter() - started) * 1000
        mark_processed(session, message, routed="bot", replies=sent, worker=self.worker_id,
                       timings_ms={k: round(v, 1) for k, v in timings.items()})

    def _hand_over(self, session: Any, conversation: Conversation, payload: dict[str, Any]) -> None:
        files = recent_attachments(session, conversation.id)
        if files:
            payload = {**payload, "attachments": files}
        hand_over(session, conversation, payload, self.clock(), self.brand, self.settings)


_ATTACHMENT_WORDS = {
    "en": {"photo": "photo", "document": "file", "voice": "voice message", "sticker": "sticker",
           "location": "location"},
    "fr": {"photo": "photo", "document": "fichier", "voice": "message vocal", "sticker": "sticker",
           "location": "position"},
}


def attachment_question(kinds: list[str], lang: str) -> str:
    """The one question asked about a photo, file, voice note… sent without words."""
    lang = lang if lang in _ATTACHMENT_WORDS else "en"
    word = _ATTACHMENT_WORDS[lang].get(kinds[0] if kinds else "", kinds[0] if kinds else "")
    if lang == "fr":
        return (f"Merci pour votre {word}. Je ne peux pas l'ouvrir moi-même : dites-moi en "
                "quelques mots de quoi il s'agit (un bagage abîmé, un document de voyage…) et "
                "je vous aide ou je le transmets à un collègue avec votre envoi.")
    return (f"Thanks for the {word}. I can't open it myself: tell me in a few words what it is "
            "about (a damaged bag, a travel document…) and I'll help, or pass it to a colleague "
            "along with it.")


def recent_attachments(session: Any, conversation_id: str, limit: int = 10) -> list[dict[str, Any]]:
    """The files the customer sent in this conversation lately, newest last (for agents)."""
    from sqlalchemy import select

    rows = session.execute(
        select(Message.id, Message.attachments, Message.sent_at)
        .where(Message.conversation_id == conversation_id, Message.author == Author.CUSTOMER)
        .order_by(Message.id.desc()).limit(50)
    ).all()
    found = [{**a, "message_id": r.id, "at": r.sent_at.isoformat() + "Z"}
             for r in reversed(rows) for a in (r.attachments or [])]
    return found[-limit:]


#: At most this much text goes to Rasa from one burst.
MAX_BURST_TEXT = 4000
#: A burst: this many customer messages within BURST_WINDOW_S seconds, with more pending.
BURST_MESSAGES = 4
BURST_WINDOW_S = 5.0
#: How long the router waits for the customer to finish a burst before answering.
BURST_PAUSE_S = 1.0


def in_burst(session: Any, conversation_id: str, now: datetime) -> bool:
    """True when the customer is sending many lines at once and several are still pending."""
    from datetime import timedelta

    from sqlalchemy import func, select

    recent = session.execute(
        select(func.count()).select_from(Message).where(
            Message.conversation_id == conversation_id, Message.author == Author.CUSTOMER,
            Message.created_at >= now - timedelta(seconds=BURST_WINDOW_S))
    ).scalar_one()
    if recent < BURST_MESSAGES:
        return False
    pending = session.execute(
        select(func.count()).select_from(Message).where(
            Message.conversation_id == conversation_id, Message.processing == Processing.PENDING)
    ).scalar_one()
    return pending >= 2


def merge_burst(session: Any, conversation_id: str) -> int:
    """Several pending text messages of a conversation the bot holds are answered as one:
    a customer who sends ten lines in a second gets one reply, not ten. Every message stays
    in the transcript; the first carries the joined text for Rasa. Returns how many joined."""
    from sqlalchemy import select

    conversation = session.get(Conversation, conversation_id)
    if conversation is None or conversation.state not in (State.BOT, State.CLOSED):
        return 0
    pending = list(session.execute(
        select(Message).where(Message.conversation_id == conversation_id,
                              Message.processing == Processing.PENDING)
        .order_by(Message.id).limit(200)
    ).scalars())
    if len(pending) < 2 or (pending[0].details or {}).get("sent_to_rasa"):
        return 0
    first, texts, joined = pending[0], [pending[0].text], 0
    for message in pending[1:]:
        if message.attachments or not message.text.strip() or first.attachments:
            break
        if sum(len(t) for t in texts) + len(message.text) > MAX_BURST_TEXT:
            break
        texts.append(message.text)
        mark_processed(session, message, routed="merged", merged_into=first.id)
        joined += 1
    if joined:
        first.details = {**(first.details or {}), "routed_text": "\n".join(texts),
                         "merged": joined}
    return joined


def _numbered_choice(session: Any, message: Message) -> str | None:
    """The payload of option N of the bot's latest offer, when the customer answers "N"."""
    from sqlalchemy import select

    latest = session.execute(
        select(Message).where(Message.conversation_id == message.conversation_id,
                              Message.author == Author.BOT, Message.id < message.id)
        .order_by(Message.id.desc()).limit(1)
    ).scalars().first()
    buttons = (latest.buttons if latest else None) or []
    number = int(message.text.strip())
    if 1 <= number <= len(buttons):
        return str(buttons[number - 1].get("payload") or "") or None
    return None
