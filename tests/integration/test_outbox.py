"""The outbox for channels that push: order per conversation, retries with backoff, once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.outbox import NotYet, Outbox, Outgoing
from relais.core.errors import SendFailed
from relais.core.types import Author, Delivery, utcnow
from relais.storage.conversations import OutboxItem
from relais.storage.db import session_scope
from relais.storage.messages import add_outgoing, conversation_for


def just_after_writing() -> datetime:
    """A moment just after the entries were written (they are due from the moment they exist).

    Taken when a test has written its entries, not when the module is imported: `make test`
    imports every tier first and runs the end-to-end tier (minutes) before this one, so a
    moment fixed at import could fall before the entries exist, and nothing would be due.
    """
    return utcnow() + timedelta(minutes=5)


class FlakySender:
    """Fails the first `failures` sends with a 'retry after', then takes everything."""

    def __init__(self, failures: int = 0, retry_after: float | None = None) -> None:
        self.failures, self.retry_after, self.sent = failures, retry_after, []

    async def send(self, item: Outgoing) -> list[str]:
        if self.failures:
            self.failures -= 1
            raise SendFailed("HTTP 429", retry_after=self.retry_after)
        self.sent.append((item.recipient, item.text))
        return [f"p{len(self.sent)}"]


def queue_messages(engine: Engine, texts: dict[str, list[str]]) -> None:
    with session_scope(engine) as s:
        for sender, lines in texts.items():
            conversation = conversation_for(s, "telegram", sender)
            for line in lines:
                add_outgoing(s, conversation, Author.BOT, line)


def test_delivered_in_order_once_and_a_failure_holds_back_only_its_conversation(
    engine: Engine,
) -> None:
    queue_messages(engine, {"1": ["a1", "a2"], "2": ["b1"]})
    t0 = just_after_writing()
    now = [t0]
    sender = FlakySender(failures=1, retry_after=30)
    outbox = Outbox(engine, {"telegram": sender}, clock=lambda: now[0])
    # a1 fails (429, retry after 30 s): a2 must wait behind it; b1 goes.
    assert asyncio.run(outbox.deliver_due()) == 1
    assert sender.sent == [("2", "b1")]
    assert asyncio.run(outbox.deliver_due()) == 0  # not due yet
    now[0] = t0 + timedelta(seconds=31)
    assert asyncio.run(outbox.deliver_due()) == 2
    assert sender.sent == [("2", "b1"), ("1", "a1"), ("1", "a2")]
    assert asyncio.run(outbox.deliver_due()) == 0  # nothing is sent twice
    with session_scope(engine) as s:
        items = s.execute(select(OutboxItem).order_by(OutboxItem.id)).scalars().all()
        assert [i.status for i in items] == [Delivery.DELIVERED] * 3
        assert items[0].attempts == 2 and items[0].platform_ids == ["p2"]


def test_gives_up_after_the_last_attempt_with_backoff(engine: Engine) -> None:
    queue_messages(engine, {"1": ["x"]})
    now = [just_after_writing()]
    outbox = Outbox(
        engine, {"telegram": FlakySender(failures=99)}, max_attempts=3, clock=lambda: now[0]
    )
    waits = []
    for _ in range(3):
        asyncio.run(outbox.deliver_due())
        with session_scope(engine) as s:
            item = s.execute(select(OutboxItem)).scalars().one()
            waits.append((item.next_attempt_at - now[0]).total_seconds())
            now[0] = item.next_attempt_at
    assert waits[:2] == [2, 4]  # exponential backoff
    with session_scope(engine) as s:
        item = s.execute(select(OutboxItem)).scalars().one()
        assert item.status == Delivery.FAILED and item.attempts == 3 and "429" in item.last_error


class PacedSender:
    """Takes `allowed` sends, then holds the rest back as a rate limit would (NotYet), for
    the whole channel or for one conversation."""

    def __init__(self, allowed: int, whole_channel: bool, wait: float = 30.0) -> None:
        self.allowed, self.whole_channel, self.wait = allowed, whole_channel, wait
        self.sent: list[tuple[str, str]] = []

    async def send(self, item: Outgoing) -> list[str]:
        if len(self.sent) >= self.allowed:
            raise NotYet("limit", retry_after=self.wait, whole_channel=self.whole_channel)
        self.sent.append((item.recipient, item.text))
        return [f"p{len(self.sent)}"]


def test_a_channel_wide_limit_holds_every_entry_oldest_first_without_counting_attempts(
    engine: Engine,
) -> None:
    queue_messages(engine, {"1": ["a1", "a2"], "2": ["b1"], "3": ["c1"]})
    t0 = just_after_writing()
    now = [t0]
    sender = PacedSender(allowed=1, whole_channel=True)
    outbox = Outbox(engine, {"x": sender}, clock=lambda: now[0])
    with session_scope(engine) as s:  # these entries are X's
        for item in s.execute(select(OutboxItem)).scalars():
            item.channel = "x"
    assert asyncio.run(outbox.deliver_due()) == 1  # a1 goes, a2 meets the limit
    assert asyncio.run(outbox.deliver_due()) == 0  # nothing is even tried until it frees
    sender.allowed = 10
    now[0] = t0 + timedelta(seconds=31)
    assert asyncio.run(outbox.deliver_due()) == 3
    assert sender.sent == [("1", "a1"), ("1", "a2"), ("2", "b1"), ("3", "c1")]  # oldest first
    with session_scope(engine) as s:
        items = s.execute(select(OutboxItem).order_by(OutboxItem.id)).scalars().all()
        assert [i.status for i in items] == [Delivery.DELIVERED] * 4
        assert [i.attempts for i in items] == [1, 1, 1, 1]  # waiting was no failed attempt


class PerChatSender:
    """One send per conversation until `release()` (Telegram's pace in a chat)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.recent: set[str] = set()

    def release(self) -> None:
        self.recent.clear()

    async def send(self, item: Outgoing) -> list[str]:
        if item.recipient in self.recent:
            raise NotYet("pace", retry_after=5)
        self.recent.add(item.recipient)
        self.sent.append((item.recipient, item.text))
        return [f"p{len(self.sent)}"]


def test_a_conversations_own_limit_holds_only_that_conversation(engine: Engine) -> None:
    queue_messages(engine, {"1": ["a1", "a2"], "2": ["b1"]})
    t0 = just_after_writing()
    now = [t0]
    sender = PerChatSender()
    outbox = Outbox(engine, {"telegram": sender}, clock=lambda: now[0])
    assert asyncio.run(outbox.deliver_due()) == 2  # a1 and b1; a2 waits 5 s
    sender.release()
    assert asyncio.run(outbox.deliver_due()) == 0  # not due yet
    now[0] = t0 + timedelta(seconds=6)
    assert asyncio.run(outbox.deliver_due()) == 1
    assert sender.sent == [("1", "a1"), ("2", "b1"), ("1", "a2")]
    with session_scope(engine) as s:
        assert all(i.attempts == 1 for i in s.execute(select(OutboxItem)).scalars())
