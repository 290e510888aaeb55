"""Delivering the outbox to channels that push (Telegram, X): retries with backoff, once.

The web chat needs no sender: its page fetches what is pending (bot/web.py). A channel that
pushes registers a `Sender`; `deliver_due` sends each pending entry in order per
conversation, marks it delivered with the platform's ids, and on failure schedules a retry
(exponential backoff, or the platform's own "retry after"), giving up after `max_attempts`.

A platform's rate limit is no failure: a sender that must wait raises `NotYet`, and the
entry waits without an attempt being counted. For the whole channel (X's send limit is the
account's): its entries are left as they are, oldest first, until the limit allows the next
one; for one conversation (Telegram's one message per second in a chat): that entry is
due again after the wait, and the others go on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.prometheus import GatewayMetrics
from relais.core.errors import SendFailed
from relais.core.types import Delivery, utcnow
from relais.storage.conversations import Message, OutboxItem
from relais.storage.db import run_atomic
from relais.storage.leases import acquire, release

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outgoing:
    """What a sender needs to deliver one message."""

    outbox_id: int
    recipient: str
    text: str
    buttons: list[dict[str, Any]]
    #: Pieces of this message already delivered by an earlier attempt (skip them).
    already_sent: int = 0


class NotYet(SendFailed):
    """The platform's rate limit holds this send back for `retry_after` seconds: not a
    failure, and no attempt is counted. `whole_channel`: the limit is the channel's (every
    conversation waits), else this conversation's only."""

    def __init__(
        self,
        reason: str,
        retry_after: float,
        whole_channel: bool = False,
        delivered: list[str] | None = None,
    ) -> None:
        super().__init__(reason, retry_after=retry_after, delivered=delivered)
        self.whole_channel = whole_channel


class Sender(Protocol):
    async def send(self, item: Outgoing) -> list[str]:
        """Delivers `item`; returns the platform's message ids, or raises SendFailed (NotYet
        while a rate limit holds it back)."""


class Outbox:
    def __init__(
        self,
        engine: Engine,
        senders: dict[str, Sender],
        max_attempts: int = 8,
        clock: Callable[[], datetime] = utcnow,
        worker_id: str = "relais",
        wake: asyncio.Event | None = None,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self.engine = engine
        #: Set when an entry held back by a rate limit is due again (the outbox task waits
        #: on it), so that a wait of a second is not one of the task's 2-second rounds.
        self.wake = wake
        #: Channels whose limit holds every entry back, until when (this worker's clock).
        self._paced_until: dict[str, datetime] = {}
        #: Only the worker holding "deliver:<conversation>" sends its entries
        #: (relais/storage/leases.py).
        self.worker_id = worker_id
        self.senders = senders
        self.max_attempts = max_attempts
        self.clock = clock
        #: The app's Prometheus metrics (the router's): deliveries and failures per channel.
        self.metrics = metrics or GatewayMetrics()

    def _pending(self, session: Session, limit: int) -> list[tuple[str, bool, Outgoing]]:
        """Pending entries of the pushing channels in order: (channel, due now?, outgoing).
        Read per channel, so that a backlog on one (X at its limit) never hides the
        others' entries; a channel its limit holds back is not read at all."""
        now = self.clock()
        rows = []
        for channel in self.senders:
            if self._paced_until.get(channel, now) > now:
                continue
            rows += session.execute(
                select(OutboxItem, Message)
                .join(Message, Message.id == OutboxItem.message_id)
                .where(OutboxItem.status == Delivery.PENDING, OutboxItem.channel == channel)
                .order_by(OutboxItem.id)
                .limit(limit)
            ).all()
        rows.sort(key=lambda row: row[0].id)
        return [
            (
                item.channel,
                item.next_attempt_at <= now,
                Outgoing(
                    item.id,
                    item.recipient,
                    message.text,
                    list(message.buttons or []),
                    already_sent=len(item.platform_ids or []),
                ),
            )
            for item, message in rows
        ]

    async def deliver_due(self, limit: int = 500) -> int:
        """Sends what is due; returns how many were delivered. An entry waiting for a retry
        holds back the later entries of its conversation (order per conversation), and a
        conversation another worker is delivering to is left to that worker."""
        if not self.senders:
            # Only the web chat, whose page fetches its replies: nothing to read. The outbox
            # is woken for every reply written, so this is not a rare case.
            return 0
        pending = await asyncio.to_thread(
            run_atomic, self.engine, lambda s: self._pending(s, limit)
        )
        blocked: set[str] = set()
        paced: set[str] = set()
        soonest: float | None = None  # seconds until an entry held back by a limit is due
        leased: list[str] = []
        delivered = 0
        try:
            for channel, due, outgoing in pending:
                conversation = f"{channel}:{outgoing.recipient}"
                if conversation in blocked or channel in paced:
                    continue
                if not due or not await self._lease(conversation, leased):
                    blocked.add(conversation)
                    continue
                outbox_id = outgoing.outbox_id
                if not await asyncio.to_thread(
                    run_atomic, self.engine, lambda s, i=outbox_id: self._still_pending(s, i)
                ):
                    continue  # delivered by another worker since we read the list
                try:
                    ids = await self.senders[channel].send(outgoing)
                except NotYet as error:
                    wait = float(error.retry_after or 1.0)
                    soonest = wait if soonest is None else min(soonest, wait)
                    if error.whole_channel:
                        paced.add(channel)
                        self._paced_until[channel] = self.clock() + timedelta(seconds=wait)
                    else:
                        blocked.add(conversation)
                    await asyncio.to_thread(
                        run_atomic,
                        self.engine,
                        lambda s, i=outbox_id, e=error: self._held_back(s, i, e),
                    )
                    continue
                except SendFailed as error:
                    blocked.add(conversation)
                    await asyncio.to_thread(
                        run_atomic,
                        self.engine,
                        lambda s, i=outbox_id, e=error: self._failed(s, i, e),
                    )
                    continue
                await asyncio.to_thread(
                    run_atomic, self.engine, lambda s, i=outbox_id, p=ids: self._delivered(s, i, p)
                )
                delivered += 1
        finally:
            if leased:
                await asyncio.to_thread(run_atomic, self.engine, lambda s: self._release(s, leased))
        if soonest is not None and self.wake is not None:
            asyncio.get_running_loop().call_later(soonest, self.wake.set)
        return delivered

    async def _lease(self, conversation: str, leased: list[str]) -> bool:
        if conversation in leased:
            return True
        name = f"deliver:{conversation}"
        if await asyncio.to_thread(
            run_atomic, self.engine, lambda s: acquire(s, name, self.worker_id, self.clock())
        ):
            leased.append(conversation)
            return True
        return False

    def _release(self, session: Session, conversations: list[str]) -> None:
        for conversation in conversations:
            release(session, f"deliver:{conversation}", self.worker_id)

    @staticmethod
    def _still_pending(session: Session, outbox_id: int) -> bool:
        item = session.get(OutboxItem, outbox_id)
        return item is not None and item.status == Delivery.PENDING

    def _delivered(self, session: Session, outbox_id: int, platform_ids: list[str]) -> None:
        item = session.get(OutboxItem, outbox_id)
        item.status = Delivery.DELIVERED
        item.delivered_at = self.clock()
        self.metrics.delivered(item.channel, item.delivered_at - item.created_at)
        item.platform_ids = [*(item.platform_ids or []), *(str(i) for i in platform_ids)]
        item.attempts += 1

    def _held_back(self, session: Session, outbox_id: int, error: NotYet) -> None:
        """A rate limit holds the entry back: its delivered pieces are kept, no attempt is
        counted, and the reason is kept (the entry's later wait is the limit's)."""
        item = session.get(OutboxItem, outbox_id)
        if error.delivered:
            item.platform_ids = [*(item.platform_ids or []), *error.delivered]
        item.last_error = str(error)[:500]
        if not error.whole_channel:
            # Entries of a limited channel stay due: the oldest goes first when it allows.
            item.next_attempt_at = self.clock() + timedelta(seconds=float(error.retry_after or 1))

    def _failed(self, session: Session, outbox_id: int, error: SendFailed) -> None:
        item = session.get(OutboxItem, outbox_id)
        item.attempts += 1
        item.last_error = str(error)[:500]
        if error.delivered:
            item.platform_ids = [*(item.platform_ids or []), *error.delivered]
        if error.permanent or item.attempts >= self.max_attempts:
            item.status = Delivery.FAILED
            logger.error("outbox %s failed for good: %s", outbox_id, error)
            self.metrics.send_failed(item.channel, gave_up=True)
            return
        wait = error.retry_after if error.retry_after is not None else min(300, 2**item.attempts)
        item.next_attempt_at = self.clock() + timedelta(seconds=wait)
        logger.warning("outbox %s: retry in %.0fs (%s)", outbox_id, wait, error)
        self.metrics.send_failed(item.channel, gave_up=False)
