"""What the gateway keeps per conversation or per chat in memory is freed once unused, so the
process does not grow with the number of customers it has served (`make bench-soak`)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from bot.pacing import FORGET_FROM, LocalPace
from bot.prometheus import GatewayMetrics
from bot.router import ConversationLocks, Router
from handoff.settings import HandoffSettings
from relais.core.brand import load_brand
from relais.core.pacing import Limit
from relais.storage.db import create_all, make_engine
from relais.storage.messages import Inbound
from tests.unit.fakes import FakeRasa


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'relais.db'}")
    create_all(engine)
    yield engine
    engine.dispose()


def make_router(engine: Engine) -> Router:
    return Router(engine, FakeRasa(), load_brand(), HandoffSettings())  # type: ignore[arg-type]


def test_no_lock_or_waiter_is_kept_after_many_customers(db: Engine) -> None:
    """Each of 60 customers writes twice (one of them while their first message is routed)
    and waits for replies as the web chat's long poll does: afterwards the router keeps no
    lock and no waiter, for any of them."""
    router = make_router(db)

    async def customer(number: int) -> None:
        conversation = f"web:customer-{number}"
        woken = router.listen(conversation)
        try:
            await asyncio.gather(
                *(
                    router.receive(Inbound("web", f"customer-{number}", f"m{number}-{i}", "hi"))
                    for i in range(2)
                )
            )
        finally:
            router.unlisten(conversation, woken)

    async def run() -> None:
        await asyncio.gather(*(customer(n) for n in range(60)))

    asyncio.run(run())
    assert len(router.rasa.sent) >= 60  # type: ignore[attr-defined]
    assert len(router._locks) == 0
    assert router._reply_waiters == {}


def test_a_conversation_lock_goes_when_its_last_user_leaves_even_cancelled() -> None:
    locks = ConversationLocks()
    order: list[str] = []

    async def run() -> None:
        release = asyncio.Event()

        async def holder() -> None:
            async with locks.hold("web:a"):
                order.append("held")
                await release.wait()

        async def waiter() -> None:
            async with locks.hold("web:a"):
                order.append("waiter got it")

        first = asyncio.create_task(holder())
        await asyncio.sleep(0)
        second, third = asyncio.create_task(waiter()), asyncio.create_task(waiter())
        await asyncio.sleep(0)
        assert len(locks) == 1  # one lock, shared by the three
        second.cancel()  # gave up while waiting
        await asyncio.sleep(0)
        release.set()
        await asyncio.gather(first, third)
        assert second.cancelled()

    asyncio.run(run())
    assert order == ["held", "waiter got it"]
    assert len(locks) == 0


def test_local_pace_keeps_only_the_chats_served_lately() -> None:
    """Telegram's per-chat pace over 20,000 chats, one send each, ten a second: it keeps
    the chats of the last minute or so, not all of them; a chat's hold goes when it is over."""
    now = [0.0]
    pace = LocalPace([Limit(1, 1.0)], [Limit(30, 1.0)], clock=lambda: now[0])
    pace.hold("chat-held", 5.0)
    largest = 0
    for number in range(20_000):
        now[0] = number / 10
        assert pace.take(f"chat-{number}") == 0
        largest = max(largest, len(pace))
    assert largest <= 2 * FORGET_FROM  # of 20,000
    assert "chat-0" not in pace._times and "chat-held" not in pace._hold
    # What is kept still holds back the chats that were just served.
    assert pace.take("chat-19999") > 0


def test_handoff_reasons_nobody_defined_share_one_label() -> None:
    """A reason an action server makes up (any text) is counted as "other": the counter's
    labels stay Relais's own reasons, whatever arrives."""
    metrics = GatewayMetrics()
    for number in range(500):
        metrics.handed_over([f"made-up-{number}", "anger"])
    samples = {
        sample.labels["reason"]: sample.value
        for family in metrics.registry.collect()
        if family.name == "relais_handoffs"
        for sample in family.samples
        if sample.name == "relais_handoffs_total"
    }
    assert samples == {"other": 500.0, "anger": 500.0}
