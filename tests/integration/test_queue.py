"""The agents' queue on SQLite and PostgreSQL: intake, order, atomic claims, estimates."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from handoff.auth import agent_for_token, check_password, hash_password, log_in
from handoff.intake import open_escalation
from handoff.queue import QueueError, claim, claim_next, requeue_silent, transfer, waiting
from handoff.settings import HandoffSettings
from handoff.wait import duration, estimate_wait, wait_message
from relais.core.brand import load_brand
from relais.core.handoff import HandoffPayload
from relais.core.types import Author, EscalationStatus, State
from relais.storage.conversations import Conversation, Message
from relais.storage.db import run_atomic, session_scope
from relais.storage.escalations import Agent, Escalation
from relais.storage.messages import Inbound, conversation_for, store_inbound

# A Wednesday at 10:00 in Paris (open) and a Sunday at 23:30 in Paris (closed).
OPEN = datetime(2026, 11, 18, 9, 0)
CLOSED = datetime(2026, 11, 22, 22, 30)
SETTINGS = HandoffSettings()


def add_agent(
    engine: Engine, username: str, capacity: int = 3, seen: datetime | None = OPEN
) -> int:
    with session_scope(engine) as s:
        agent = Agent(
            username=username,
            display_name=username.title(),
            capacity=capacity,
            password_hash="x",
            last_seen_at=seen,
        )
        s.add(agent)
        s.flush()
        return agent.id


def escalate(
    engine: Engine,
    sender: str,
    priority: int,
    now: datetime = OPEN,
    channel: str = "web",
    reasons: tuple[str, ...] = ("anger",),
) -> int:
    with session_scope(engine) as s:
        conversation = conversation_for(s, channel, sender)
        escalation, created = open_escalation(
            s,
            conversation,
            HandoffPayload(
                reasons=reasons, priority=priority, summary="s", language="en", intent="complaint"
            ),
            now,
            load_brand(),
        )
        assert created
        s.flush()
        return escalation.id


def test_inbound_is_stored_once_per_platform_id(engine: Engine) -> None:
    message = Inbound(channel="telegram", sender="42", platform_id="m-1", text="hello")
    with session_scope(engine) as s:
        first, created = store_inbound(s, message)
        first_id = first.id
    with session_scope(engine) as s:
        again, created_again = store_inbound(s, message)
        assert (created, created_again, again.id) == (True, False, first_id)
        assert s.execute(select(Message)).scalars().all() == [again]
    with pytest.raises(ValueError, match="platform_id"):
        Inbound(channel="web", sender="a", platform_id="")


def test_order_is_priority_then_deadline_and_x_is_stricter_than_web(engine: Engine) -> None:
    low = escalate(engine, "a", 3)
    urgent = escalate(engine, "b", 1, now=OPEN + timedelta(minutes=5))
    booking = escalate(engine, "c", 2)
    with session_scope(engine) as s:
        assert [e.id for e in waiting(s)] == [urgent, booking, low]
        # Priority 3 on X: the stricter of X (30 min) and priority 3 (60 min).
        x = s.get(Escalation, escalate(engine, "d", 3, channel="x"))
        assert x.deadline - x.created_at == timedelta(minutes=30)
        conversation = s.get(Conversation, "web:a")
        assert conversation.state == State.WAITING


def test_a_second_payload_joins_the_open_escalation(engine: Engine) -> None:
    first = escalate(engine, "a", 3, reasons=("human_request",))
    with session_scope(engine) as s:
        again, created = open_escalation(
            s,
            s.get(Conversation, "web:a"),
            HandoffPayload(reasons=("anger",), priority=1),
            OPEN,
            load_brand(),
        )
        assert not created and again.id == first
        assert again.reasons == ["human_request", "anger"] and again.priority == 1


def test_claims_respect_capacity_and_a_taken_conversation_cannot_be_taken_again(
    engine: Engine,
) -> None:
    alice, bruno = add_agent(engine, "alice", capacity=1), add_agent(engine, "bruno")
    first = escalate(engine, "a", 1)
    escalate(engine, "b", 2)
    with session_scope(engine) as s:
        assert claim_next(s, s.get(Agent, alice), OPEN).id == first
    with session_scope(engine) as s:
        with pytest.raises(QueueError, match="capacity"):
            claim_next(s, s.get(Agent, alice), OPEN)
        with pytest.raises(QueueError, match="just taken"):
            claim(s, s.get(Agent, bruno), first, OPEN)
        assert s.get(Conversation, "web:a").state == State.WITH_AGENT


def test_fifty_agents_racing_never_get_the_same_conversation(engine: Engine) -> None:
    """Every claim is atomic: 50 threads, 30 conversations, each taken exactly once."""
    agents = [add_agent(engine, f"agent{i}", capacity=5) for i in range(50)]
    for i in range(30):
        escalate(engine, f"c{i}", 1 + i % 4)
    taken: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(len(agents))

    def work(agent_id: int) -> None:
        try:
            start.wait()
            got = run_atomic(
                engine,
                lambda s: (lambda e: e.id if e else None)(
                    claim_next(s, s.get(Agent, agent_id), OPEN)
                ),
                attempts=200,
            )
            if got is not None:
                with lock:
                    taken.append(got)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(a,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    assert len(taken) == 30 and len(set(taken)) == 30
    with session_scope(engine) as s:
        holders = Counter(e.agent_id for e in s.execute(select(Escalation)).scalars())
        assert sum(holders.values()) == 30 and None not in holders


def test_agents_claiming_in_parallel_take_the_head_of_the_queue_within_capacity(
    engine: Engine,
) -> None:
    """6 agents with room for 3, each claiming from 3 threads at once (so one agent's claims
    race too), against 40 waiting: 18 claims, each conversation at most once, nobody over
    capacity, and the 18 taken are the first 18 of the queue's order."""
    agents = [add_agent(engine, f"agent{i}", capacity=3) for i in range(6)]
    for i in range(40):
        escalate(engine, f"c{i}", 1 + (i * 7) % 4, now=OPEN + timedelta(seconds=i % 5))
    with session_scope(engine) as s:
        queue_order = [e.id for e in waiting(s)]
    taken: list[tuple[int, int]] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    threads_per_agent = 3
    start = threading.Barrier(len(agents) * threads_per_agent)

    def claim_one(agent_id: int) -> int | None:
        def work(s: Session) -> int | None:
            escalation = claim_next(s, s.get(Agent, agent_id), OPEN)
            return escalation.id if escalation is not None else None

        return run_atomic(engine, work, attempts=200)

    def agent_thread(agent_id: int) -> None:
        try:
            start.wait()
            while True:
                try:
                    got = claim_one(agent_id)
                except QueueError as error:
                    assert "capacity" in str(error), error
                    return
                assert got is not None, "the queue ran dry with room left"
                with lock:
                    taken.append((agent_id, got))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [
        threading.Thread(target=agent_thread, args=(a,))
        for a in agents
        for _ in range(threads_per_agent)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    claimed = [escalation_id for _, escalation_id in taken]
    assert len(claimed) == len(set(claimed)) == 18
    # SKIP LOCKED passes over rows other claims hold, and every row a claim locks it takes:
    # whatever the interleaving, the head of the queue is what was taken.
    assert sorted(claimed) == sorted(queue_order[:18])
    with session_scope(engine) as s:
        holders = Counter(
            e.agent_id
            for e in s.execute(
                select(Escalation).where(Escalation.status == EscalationStatus.CLAIMED)
            ).scalars()
        )
        assert holders == {agent_id: 3 for agent_id in agents}
        for agent_id, escalation_id in taken:
            conversation = s.get(Conversation, s.get(Escalation, escalation_id).conversation_id)
            assert (conversation.state, conversation.agent_id) == (State.WITH_AGENT, agent_id)


def test_a_claim_hands_over_the_conversation_and_says_who_took_it(engine: Engine) -> None:
    """What a claim writes, the same on both backends (PostgreSQL's claim is one statement)."""
    alice = add_agent(engine, "alice")
    later = escalate(engine, "a", 3)
    first = escalate(engine, "b", 1)
    taken_at = OPEN + timedelta(minutes=4)
    with session_scope(engine) as s:
        # A copy of the conversation this session read before the claim is brought up to date.
        conversation = s.get(Conversation, "web:b")
        assert conversation.state == State.WAITING
        escalation = claim_next(s, s.get(Agent, alice), taken_at)
        assert escalation.id == first and escalation.agent_id == alice
        assert (escalation.status, escalation.claimed_at) == (EscalationStatus.CLAIMED, taken_at)
        assert escalation.last_agent_activity_at == taken_at and escalation.priority == 1
        assert (conversation.state, conversation.agent_id) == (State.WITH_AGENT, alice)
        escalation = claim(s, s.get(Agent, alice), later, taken_at)
        assert escalation.id == later and escalation.conversation_id == "web:a"
    with session_scope(engine) as s:
        lines = s.execute(
            select(Message)
            .where(Message.conversation_id.in_(["web:a", "web:b"]), Message.agent_id == alice)
            .order_by(Message.id)
        ).scalars()
        said = {"event": "claimed"}
        seen = [
            (m.conversation_id, m.author, m.channel, m.text, m.details, m.in_tracker) for m in lines
        ]
        assert seen == [
            (conversation_id, Author.SYSTEM, "web", "Alice took the conversation.", details, False)
            for conversation_id, details in (
                ("web:b", {**said, "escalation_id": first}),
                ("web:a", {**said, "escalation_id": later}),
            )
        ]
        assert s.get(Escalation, later).claimed_at == taken_at
        s.get(Agent, alice).active = False
    with session_scope(engine) as s:
        with pytest.raises(QueueError, match="disabled"):
            claim_next(s, s.get(Agent, alice), taken_at)


def test_a_claim_rolled_back_leaves_the_queue_as_it_was(engine: Engine) -> None:
    """A claim whose transaction fails takes nothing; the next claim works (on PostgreSQL it
    reuses the statement the failed transaction prepared on the connection)."""
    alice = add_agent(engine, "alice")
    first = escalate(engine, "a", 1)

    def claim_then_fail(s: Session) -> None:
        assert claim_next(s, s.get(Agent, alice), OPEN).id == first
        raise RuntimeError("the console went away")

    with pytest.raises(RuntimeError):
        run_atomic(engine, claim_then_fail)
    with session_scope(engine) as s:
        assert s.get(Escalation, first).status == EscalationStatus.WAITING
        assert s.get(Conversation, "web:a").state == State.WAITING
    got = run_atomic(engine, lambda s: claim_next(s, s.get(Agent, alice), OPEN).id)
    assert got == first


def test_a_silent_agent_loses_the_conversation_to_the_queue(engine: Engine) -> None:
    alice = add_agent(engine, "alice")
    escalation_id = escalate(engine, "a", 2)
    with session_scope(engine) as s:
        claim(s, s.get(Agent, alice), escalation_id, OPEN)
    later = OPEN + timedelta(minutes=SETTINGS.agent_silence_minutes + 1)
    with session_scope(engine) as s:
        assert requeue_silent(s, OPEN + timedelta(minutes=1), SETTINGS) == []
        assert requeue_silent(s, later, SETTINGS) == [escalation_id]
    with session_scope(engine) as s:
        e = s.get(Escalation, escalation_id)
        assert e.status == EscalationStatus.WAITING and e.agent_id is None and e.requeued == 1


def test_transfer_goes_to_an_agent_with_room(engine: Engine) -> None:
    alice, bruno = add_agent(engine, "alice"), add_agent(engine, "bruno", capacity=1)
    one, two = escalate(engine, "a", 1), escalate(engine, "b", 1)
    with session_scope(engine) as s:
        claim(s, s.get(Agent, alice), one, OPEN)
        claim(s, s.get(Agent, alice), two, OPEN)
        transfer(s, s.get(Escalation, one), s.get(Agent, bruno), s.get(Agent, alice), OPEN)
    with session_scope(engine) as s:
        with pytest.raises(QueueError, match="capacity"):
            transfer(s, s.get(Escalation, two), s.get(Agent, bruno), s.get(Agent, alice), OPEN)
        assert s.get(Escalation, one).agent_id == bruno


def test_the_wait_estimate_follows_the_queue_agents_and_handling_times(engine: Engine) -> None:
    brand = load_brand()
    ids = [escalate(engine, f"w{i}", 3) for i in range(7)]
    with session_scope(engine) as s:
        # Nobody online: one agent's worth of slots assumed, default handling 8 min.
        last = estimate_wait(s, s.get(Escalation, ids[-1]), OPEN, brand, SETTINGS)
        assert last.position == 7 and last.agents_online == 0 and not last.measured
        assert last.seconds == (2 + -(-(7 * 8) // 3)) * 60
    add_agent(engine, "alice", capacity=3)
    add_agent(engine, "bruno", capacity=3)
    with session_scope(engine) as s:
        first = estimate_wait(s, s.get(Escalation, ids[0]), OPEN, brand, SETTINGS)
        seventh = estimate_wait(s, s.get(Escalation, ids[-1]), OPEN, brand, SETTINGS)
        assert first.seconds == 2 * 60  # a free slot: the pickup time
        assert first.free_slots == 6 and seventh.seconds > first.seconds
    # Measured history: 6 conversations handled in 20 minutes each change the estimate.
    with session_scope(engine) as s:
        for escalation_id in ids[:6]:
            e = s.get(Escalation, escalation_id)
            e.status, e.claimed_at = EscalationStatus.RESOLVED, OPEN + timedelta(minutes=1)
            e.closed_at = OPEN + timedelta(minutes=21)
    with session_scope(engine) as s:
        measured = estimate_wait(s, s.get(Escalation, ids[-1]), OPEN, brand, SETTINGS)
        assert measured.measured and measured.handling_minutes == 20
    with session_scope(engine) as s:
        closed = estimate_wait(s, s.get(Escalation, ids[-1]), CLOSED, brand, SETTINGS)
        assert closed.seconds is None and closed.back_at.hour == 8
        text = wait_message(closed, "fr", brand, CLOSED)
        assert "demain à 08:00" in text and "Europe/Paris" in text


def test_wait_wording_in_both_languages() -> None:
    assert duration(90, "en") == "2 minutes"
    assert duration(23 * 60, "fr") == "environ 25 minutes"
    assert duration(85 * 60, "en") == "about 1 hour 30"  # rounded up to the half hour
    assert duration(95 * 60, "en") == "about 2 hours"


def test_passwords_are_hashed_and_sessions_expire(engine: Engine) -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$") and "correct horse" not in stored
    assert check_password("correct horse", stored) and not check_password("wrong horse", stored)
    with pytest.raises(ValueError):
        hash_password("short")
    with session_scope(engine) as s:
        s.add(Agent(username="alice", display_name="Alice", password_hash=stored))
    with session_scope(engine) as s:
        assert log_in(s, "alice", "nope-nope", OPEN, 12) is None
        agent, token = log_in(s, "Alice ", "correct horse", OPEN, 12)
    with session_scope(engine) as s:
        assert agent_for_token(s, token, OPEN + timedelta(hours=1)).username == "alice"
        assert agent_for_token(s, token, OPEN + timedelta(hours=13)) is None
        assert agent_for_token(s, "forged", OPEN) is None


def test_a_reply_is_stored_with_its_outbox_entry_before_delivery(engine: Engine) -> None:
    from relais.core.types import Author, Delivery
    from relais.storage.conversations import OutboxItem
    from relais.storage.messages import add_outgoing, mark_delivered

    with session_scope(engine) as s:
        conversation = conversation_for(s, "web", "someone")
        message = add_outgoing(s, conversation, Author.BOT, "hello")
        s.flush()
        message_id = message.id
    with session_scope(engine) as s:
        item = s.execute(select(OutboxItem)).scalars().one()
        assert item.status == Delivery.PENDING and item.message_id == message_id
        assert mark_delivered(s, [message_id]) == 1
        assert mark_delivered(s, [message_id]) == 0  # delivered once
    with session_scope(engine) as s:
        assert s.execute(select(OutboxItem)).scalars().one().status == Delivery.DELIVERED
        with pytest.raises(ValueError):
            add_outgoing(s, conversation_for(s, "web", "someone"), Author.CUSTOMER, "no")
