"""What agents do to a conversation: reply, resolve, hand back to the bot (with Rasa over HTTP).

Database first, Rasa second: an agent's reply is stored with its outbox entry before it is
written into the Rasa tracker as a bot event marked with the agent; if Rasa is down at that
moment, `sync_tracker` writes it later (the reply still reaches the customer).

Resolve and hand-back likewise: the conversation is closed (or given back) in the database,
with the contact recorded on the booking the bot proved (`record_agent_contact`), and its
Rasa side recorded as pending (`Conversation.rasa_pending`), which is then done:
resume the paused tracker, and on hand-back trigger the follow-up. With Rasa down,
`sync_tracker` retries it until Rasa takes it, and the router holds the customer's new
messages meanwhile (a paused tracker would answer none of them).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.queue import QueueError
from handoff.satisfaction import ask_after_resolve
from relais.core.errors import RasaUnavailable
from relais.core.policy import load_thresholds
from relais.core.types import Author, EscalationStatus, HandledBy, Role, State, utcnow
from relais.storage.conversations import Conversation, Message
from relais.storage.db import run_atomic
from relais.storage.escalations import Agent, Escalation, Note
from relais.storage.leases import acquire, release, route_lease
from relais.storage.messages import add_outgoing, add_system
from relais.storage.queries import booking_by_reference, record_contact, split_sender
from relais.storage.records import Contact

logger = logging.getLogger(__name__)

#: The intent the hand-back triggers in Rasa; its rule runs action_handed_back.
HANDED_BACK_INTENT = "EXTERNAL_handed_back"
#: Resuming a tracker: the pause came from an action, so the bot must also be shown
#: listening again, as after any turn, or no rule matches what comes next.
#: The longest agent reply (the longest DM any of our channels takes).
MAX_REPLY = 4096
RESUME = [{"event": "resume"}, {"event": "action", "name": "action_listen"}]
#: `Conversation.rasa_pending`: what is left to do in Rasa after a resolve or a hand-back.
PENDING_RESUME = "resume"
PENDING_HAND_BACK = "hand_back"
#: The longest summary a contact recorded by the desk keeps (the agent's note, or the bot's
#: summary for the agent).
CONTACT_SUMMARY = 500
#: A contact's topic when the escalation names none.
DEFAULT_TOPIC = "human_request"

T = TypeVar("T")


def held_escalation(session: Session, agent: Agent, escalation_id: int) -> Escalation:
    """The escalation, if this agent holds it (a supervisor may act on any held one)."""
    escalation = session.get(Escalation, escalation_id)
    if escalation is None:
        raise QueueError("No such conversation in the queue.")
    if escalation.status != EscalationStatus.CLAIMED:
        raise QueueError("Take the conversation first: nobody holds it now.")
    if escalation.agent_id != agent.id and agent.role != Role.SUPERVISOR:
        raise QueueError("Another agent holds this conversation.")
    return escalation


def agent_event(message: Message, agent: Agent) -> dict[str, Any]:
    return {
        "event": "bot",
        "text": message.text,
        "timestamp": message.sent_at.timestamp(),
        "metadata": {"agent": agent.username, "relais_message_id": message.id},
    }


class BotTracker(Protocol):
    """What the human side needs of the bot (the gateway's Rasa client): events written into
    a conversation, an intent triggered in it, the conversation's tracker (what the bot made of
    each message, for designers) and a parse of a text (knowledge suggestions for agents)."""

    async def append_events(self, conversation_id: str, events: list[dict[str, Any]]) -> None: ...

    async def trigger_intent(self, conversation_id: str, intent: str) -> list[dict[str, Any]]: ...

    async def tracker(self, conversation_id: str) -> dict[str, Any]: ...

    async def parse(self, text: str) -> dict[str, Any]: ...


class Desk:
    def __init__(
        self,
        engine: Engine,
        rasa: BotTracker,
        clock: Callable[[], datetime] = utcnow,
        changed: asyncio.Event | None = None,
        worker_id: str = "relais",
    ) -> None:
        self.engine = engine
        self.rasa = rasa
        self.clock = clock
        self.changed = changed or asyncio.Event()
        #: The lease owner name of this worker (the router's), see relais/storage/leases.py.
        self.worker_id = worker_id

    async def _atomic(self, work: Callable[[Session], T]) -> T:
        return await asyncio.to_thread(run_atomic, self.engine, work)

    async def reply(
        self, agent_id: int, escalation_id: int, text: str, client_id: str | None = None
    ) -> tuple[int, bool]:
        """Sends an agent's reply; returns (message id, whether it is new). The console sends
        its own id with each reply, so a double click or a retried request sends it once."""
        text = text.strip()
        if not text:
            raise QueueError("Write something before sending.")
        if len(text) > MAX_REPLY:
            raise QueueError(f"A reply can be at most {MAX_REPLY} characters.")
        key = f"agent:{agent_id}:{client_id}" if client_id else None

        def write(session: Session) -> tuple[int, str, dict[str, Any] | None]:
            if key is not None:
                sent = (
                    session.execute(select(Message).where(Message.platform_id == key))
                    .scalars()
                    .first()
                )
                if sent is not None:
                    return sent.id, sent.conversation_id, None
            agent = session.get(Agent, agent_id)
            escalation = held_escalation(session, agent, escalation_id)
            conversation = session.get(Conversation, escalation.conversation_id)
            now = self.clock()
            message = add_outgoing(session, conversation, Author.AGENT, text, agent_id=agent.id)
            message.platform_id = key
            # Marked now, cleared if Rasa cannot take it: `sync_tracker` (the retry) never
            # races the first attempt into writing it twice.
            message.in_tracker = True
            session.flush()
            escalation.first_reply_at = escalation.first_reply_at or now
            escalation.last_agent_activity_at = now
            return message.id, conversation.id, agent_event(message, agent)

        message_id, conversation_id, event = await self._atomic(write)
        if event is None:
            return message_id, False
        self.changed.set()
        await self._log_to_tracker(conversation_id, message_id, event)
        return message_id, True

    async def _log_to_tracker(
        self, conversation_id: str, message_id: int, event: dict[str, Any]
    ) -> None:
        try:
            await self.rasa.append_events(conversation_id, [event])
        except RasaUnavailable as error:
            logger.warning("agent reply %s not yet in the tracker: %s", message_id, error)
            await self._atomic(lambda s: setattr(s.get(Message, message_id), "in_tracker", False))

    async def sync_tracker(self) -> int:
        """Writes agent replies that Rasa missed (it was down) into their trackers, in order."""

        def pending(session: Session) -> list[tuple[int, str, dict[str, Any]]]:
            rows = session.execute(
                select(Message)
                .where(Message.author == Author.AGENT, Message.in_tracker.is_(False))
                .order_by(Message.id)
                .limit(200)
            ).scalars()
            return [
                (m.id, m.conversation_id, agent_event(m, session.get(Agent, m.agent_id)))
                for m in rows
                if m.agent_id is not None
            ]

        done = 0
        for message_id, conversation_id, event in await self._atomic(pending):
            try:
                if await self._sync_one(message_id, conversation_id, event):
                    done += 1
            except RasaUnavailable:
                # Resumes wait too: a conversation's replies go into its tracker before
                # the resume that follows them.
                return done
        return done + await self._resume_pending()

    async def _resume_pending(self) -> int:
        """Does the Rasa side of the resolves and hand-backs Rasa missed; returns how many."""

        def waiting(session: Session) -> list[str]:
            rows = session.execute(
                select(Conversation.id)
                .where(Conversation.rasa_pending.is_not(None))
                .order_by(Conversation.updated_at)
                .limit(200)
            ).scalars()
            return list(rows)

        done = 0
        for conversation_id in await self._atomic(waiting):
            try:
                await self._resume(conversation_id)
            except RasaUnavailable:
                break  # the others would fail the same way: next time
            except Exception:  # noqa: BLE001 - one conversation must not hold up the others
                logger.exception("%s: tracker not resumed, retried later", conversation_id)
                continue
            done += 1
        return done

    async def _sync_one(self, message_id: int, conversation_id: str, event: dict[str, Any]) -> bool:
        """Writes one missed reply into its tracker; False when another worker has or had it.
        Raises RasaUnavailable."""
        # The conversation's routing lease: another worker syncing it would log it twice.
        lease = f"route:{conversation_id}"
        if not await self._atomic(lambda s: acquire(s, lease, self.worker_id, self.clock())):
            return False
        try:
            if not await self._atomic(lambda s: not s.get(Message, message_id).in_tracker):
                return False  # logged by another worker meanwhile
            await self.rasa.append_events(conversation_id, [event])
            await self._atomic(lambda s: setattr(s.get(Message, message_id), "in_tracker", True))
        finally:
            await self._atomic(lambda s: release(s, lease, self.worker_id))
        return True

    async def resolve(self, agent_id: int, escalation_id: int) -> None:
        """Closes the conversation; the customer's next message starts again with the bot.
        The tracker is resumed now, or by `sync_tracker` once Rasa is back."""
        conversation_id = await self._atomic(
            lambda s: self._close(s, agent_id, escalation_id, EscalationStatus.RESOLVED)
        )
        self.changed.set()
        await self._resume_soon(conversation_id)

    async def hand_back(self, agent_id: int, escalation_id: int) -> list[int]:
        """Gives the conversation back to the bot, which resumes with the whole transcript and
        its slots, leaves the messages of the handoff period unanswered, and sends one short
        follow-up. Returns the follow-up's message ids: none yet while Rasa is down (the
        follow-up is sent when `sync_tracker` has resumed the tracker)."""
        conversation_id = await self._atomic(
            lambda s: self._close(s, agent_id, escalation_id, EscalationStatus.HANDED_BACK)
        )
        self.changed.set()
        return await self._resume_soon(conversation_id)

    async def _resume_soon(self, conversation_id: str) -> list[int]:
        """The Rasa side of a close, now if Rasa answers; else left to `sync_tracker`."""
        try:
            return await self._resume(conversation_id)
        except RasaUnavailable as error:
            logger.warning("%s: tracker not resumed yet, retried later: %s", conversation_id, error)
        except Exception:  # noqa: BLE001 - the close is committed; the sync retries the rest
            logger.exception("%s: tracker not resumed, retried later", conversation_id)
        return []

    async def _resume(self, conversation_id: str) -> list[int]:
        """Resumes the conversation's tracker (and triggers the hand-back follow-up) if that
        is still pending, under the conversation's lease, so no other worker does it twice;
        returns the follow-up's message ids. Raises RasaUnavailable (still pending then)."""
        lease = route_lease(conversation_id)
        if not await self._atomic(lambda s: acquire(s, lease, self.worker_id, self.clock())):
            return []  # another worker holds the conversation: it will be retried
        try:
            pending = await self._atomic(
                lambda s: s.get(Conversation, conversation_id).rasa_pending
            )
            if not pending:
                return []  # done meanwhile (another worker, or the agent's own request)
            await self.rasa.append_events(conversation_id, RESUME)
            replies: list[dict[str, Any]] = []
            if pending == PENDING_HAND_BACK:
                replies = await self.rasa.trigger_intent(conversation_id, HANDED_BACK_INTENT)
            sent = await self._atomic(lambda s: _resumed(s, conversation_id, replies))
        finally:
            await self._atomic(lambda s: release(s, lease, self.worker_id))
        self.changed.set()
        return sent

    def _close(
        self, session: Session, agent_id: int, escalation_id: int, status: EscalationStatus
    ) -> str:
        agent = session.get(Agent, agent_id)
        escalation = held_escalation(session, agent, escalation_id)
        now = self.clock()
        escalation.status = status
        escalation.closed_at = now
        escalation.last_agent_activity_at = now
        conversation = session.get(Conversation, escalation.conversation_id)
        conversation.state = State.CLOSED if status == EscalationStatus.RESOLVED else State.BOT
        conversation.agent_id = None
        record_agent_contact(session, escalation, now)
        # Committed with the close: whatever happens to Rasa or this process next, the
        # tracker is resumed eventually (`sync_tracker`).
        conversation.rasa_pending = (
            PENDING_RESUME if status == EscalationStatus.RESOLVED else PENDING_HAND_BACK
        )
        verb = (
            "resolved the conversation"
            if status == EscalationStatus.RESOLVED
            else "handed the conversation back to the bot"
        )
        add_system(
            session,
            conversation,
            f"{agent.display_name} {verb}.",
            {"event": status.value, "escalation_id": escalation.id},
            agent_id=agent.id,
        )
        if status == EscalationStatus.RESOLVED:  # after a hand-back the bot carries on
            ask_after_resolve(session, conversation, escalation, now)
        return conversation.id


def record_agent_contact(session: Session, escalation: Escalation, now: datetime) -> Contact | None:
    """A person resolved or handed back `escalation`: its contact is recorded as handled by an
    agent, on the booking the bot proved (the payload's "booking_reference", which the action
    server sets for a proven booking only), with the agent's latest note since the
    escalation opened as its summary, else the bot's summary for the agent.

    Nothing is recorded without a proven booking: a reference the customer only typed
    (`Escalation.typed_reference`) could be anyone's.
    """
    context = escalation.context or {}
    reference = context.get("booking_reference")
    if not isinstance(reference, str) or not reference:
        return None
    if split_sender(escalation.conversation_id)[0] is None:
        return None  # not a channel's conversation (nothing a contact can name)
    booking = booking_by_reference(session, reference)
    if booking is None:
        return None
    note = session.execute(
        select(Note.text)
        .where(
            Note.conversation_id == escalation.conversation_id,
            Note.created_at >= escalation.created_at,
        )
        .order_by(Note.created_at.desc(), Note.id.desc())
        .limit(1)
    ).scalar()
    topic = context.get("topic") or escalation.intent or DEFAULT_TOPIC
    return record_contact(
        session,
        conversation_id=escalation.conversation_id,
        booking=booking,
        topic=str(topic),
        handled_by=HandledBy.AGENT,
        summary=_trimmed(note or escalation.summary or ""),
        now=now,
        # The action server's (actions/base.py): one contact per conversation on both sides.
        gap=timedelta(minutes=load_thresholds().conversation_gap_minutes),
    )


def _trimmed(text: str, longest: int = CONTACT_SUMMARY) -> str:
    """`text` on one line, without outer spaces, cut to `longest` characters."""
    text = " ".join(text.split())
    return text if len(text) <= longest else text[: longest - 1].rstrip() + "…"


def _resumed(session: Session, conversation_id: str, replies: list[dict[str, Any]]) -> list[int]:
    """Rasa has resumed the conversation: the pending mark goes, and a hand-back's follow-up
    (`replies`) is written for the customer. Returns the follow-up's message ids."""
    conversation = session.get(Conversation, conversation_id)
    conversation.rasa_pending = None
    sent = []
    for reply in replies:
        if reply.get("text") or reply.get("buttons"):
            message = add_outgoing(
                session,
                conversation,
                Author.BOT,
                reply.get("text") or "",
                reply.get("buttons") or [],
                details={"kind": "handed_back"},
            )
            session.flush()
            sent.append(message.id)
    return sent
