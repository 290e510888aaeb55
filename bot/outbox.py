"""Delivering the outbox to channels that push (Telegram, X): retries with backoff, once.

The web chat needs no sender: its page fetches what is pending (bot/web.py). A channel that
pushes registers a `Sender`; `deliver_due` sends each pending entry in order per
conversation, marks it delivered with the platform's ids, and on failure schedules a retry
(exponential backoff, or the platform's own "retry after"), giving up after `max_attempts`.
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


class Sender(Protocol):
    async def send(self, item: Outgoing) -> list[str]:
        """Delivers `item`; returns the platform's message ids, or raises SendFailed."""


class Outbox:
    def __init__(
        self,
        engine: Engine,
        senders: dict[str, Sender],
        max_attempts: int = 8,
        clock: Callable[[], datetime] = utcnow,
        worker_id: str = "relais",
    ) -> None:
        self.engine = engine
        #: Only the worker holding "deliver:<conversation>" sends its entries
        #: (relais/storage/leases.py).
        self.worker_id = worker_id
        self.senders = senders
        self.max_attempts = max_attempts
        self.clock = clock

    def _pending(self, session: Session, limit: int) -> list[tuple[str, bool, Outgoing]]:
        """Pending entries of the pushing channels in order: (channel, due now?, outgoing)."""
        now = self.clock()
        rows = session.execute(
            select(OutboxItem, Message)
            .join(Message, Message.id == OutboxItem.message_id)
            .where(
                OutboxItem.status == Delivery.PENDING, OutboxItem.channel.in_(list(self.senders))
            )
            .order_by(OutboxItem.id)
            .limit(limit)
        ).all()
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
        pending = await asyncio.to_thread(
            run_atomic, self.engine, lambda s: self._pending(s, limit)
        )
        blocked: set[str] = set()
        leased: list[str] = []
        delivered = 0
        try:
            for channel, due, outgoing in pending:
                conversation = f"{channel}:{outgoing.recipient}"
                if conversation in blocked:
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
        item.platform_ids = [*(item.platform_ids or []), *(str(i) for i in platform_ids)]
        item.attempts += 1

    def _failed(self, session: Session, outbox_id: int, error: SendFailed) -> None:
        item = session.get(OutboxItem, outbox_id)
        item.attempts += 1
        item.last_error = str(error)[:500]
        if error.delivered:
            item.platform_ids = [*(item.platform_ids or []), *error.delivered]
        if error.permanent or item.attempts >= self.max_attempts:
            item.status = Delivery.FAILED
            logger.error("outbox %s failed for good: %s", outbox_id, error)
            return
        wait = error.retry_after if error.retry_after is not None else min(300, 2**item.attempts)
        item.next_attempt_at = self.clock() + timedelta(seconds=wait)
        logger.warning("outbox %s: retry in %.0fs (%s)", outbox_id, wait, error)
