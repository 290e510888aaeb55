"""The router's per-message path on SQLite and PostgreSQL: the statements written with
SQLAlchemy Core (relais/storage/messages.py, leases.py) store, take and answer a message as
the ORM did, once, in order and under the conversation's lease, with Rasa in memory."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.engine import Connection, Engine

from bot.router import Router
from handoff.settings import HandoffSettings
from relais.core.brand import load_brand
from relais.core.types import Author, Delivery, Processing, State, utcnow
from relais.storage.conversations import Conversation, Lease, Message, OutboxItem
from relais.storage.db import run_atomic, run_statements, session_scope
from relais.storage.messages import (
    Inbound,
    add_outgoing,
    add_system,
    customer_view,
    insert_inbound,
    mark_delivered,
)
from tests.unit.fakes import FakeRasa

WEB = "web:camille"
BUTTONS = [
    {"title": "XY4K2P to Lisbon", "payload": '/choose_booking{"ref": "XY4K2P"}'},
    {"title": "XY7T2M to Montreal", "payload": '/choose_booking{"ref": "XY7T2M"}'},
]


def gateway(engine: Engine, rasa: FakeRasa, worker_id: str = "worker-1") -> Router:
    return Router(engine, rasa, load_brand(), HandoffSettings(), worker_id=worker_id)  # type: ignore[arg-type]


def said(number: int, text: str, sender: str = "camille") -> Inbound:
    return Inbound(channel="web", sender=sender, platform_id=f"m-{number}", text=text)


def rows(engine: Engine, conversation_id: str = WEB) -> list[Message]:
    with session_scope(engine) as session:
        found = list(
            session.execute(
                select(Message)
                .where(Message.conversation_id == conversation_id)
                .order_by(Message.id)
            ).scalars()
        )
        session.expunge_all()
        return found


def test_a_message_is_answered_with_its_outbox_entries_and_the_lease_let_go(
    engine: Engine,
) -> None:
    rasa = FakeRasa()
    rasa.script(
        "my bookings?",
        {"text": "Which one?", "buttons": BUTTONS},
        {"text": "Or tell me its reference."},
    )
    message_id, created = asyncio.run(gateway(engine, rasa).receive(said(1, "my bookings?")))
    assert created
    question, first, second = rows(engine)
    assert question.id == message_id and question.author == Author.CUSTOMER
    assert question.processing == Processing.DONE and question.sent_to_rasa
    assert question.details["routed"] == "bot" and question.details["replies"] == 2
    assert question.details["worker"] == "worker-1" and "total" in question.details["timings_ms"]
    assert [(m.author, m.text, m.buttons) for m in (first, second)] == [
        (Author.BOT, "Which one?", BUTTONS),
        (Author.BOT, "Or tell me its reference.", []),
    ]
    with session_scope(engine) as session:
        entries = list(session.execute(select(OutboxItem).order_by(OutboxItem.id)).scalars())
        assert [(e.message_id, e.recipient, e.channel, e.status) for e in entries] == [
            (first.id, "camille", "web", Delivery.PENDING),
            (second.id, "camille", "web", Delivery.PENDING),
        ]
        conversation = session.get(Conversation, WEB)
        assert conversation is not None and conversation.last_customer_at is not None
        assert session.execute(select(Lease)).first() is None  # let go with the replies
    # The same delivery again is the same message, not answered twice.
    assert asyncio.run(gateway(engine, rasa).receive(said(1, "my bookings?"))) == (
        message_id,
        False,
    )
    assert len(rasa.sent) == 1


def test_a_delivery_racing_an_uncommitted_copy_of_itself_is_stored_once(engine: Engine) -> None:
    """Two requests with the same platform message id: the second waits on the first's
    uncommitted row, fails on the unique id once it commits, and finds it when run again."""
    rasa = FakeRasa()
    router = gateway(engine, rasa)
    asyncio.run(router.store(said(1, "hello")))  # the conversation exists
    inserted = threading.Event()
    release = threading.Event()
    first: list[int] = []

    def hold_uncommitted(connection: Connection) -> None:
        message_id, created = insert_inbound(connection, said(2, "again"))
        assert created
        first.append(message_id)
        inserted.set()
        release.wait(10)

    holder = threading.Thread(target=run_statements, args=(engine, hold_uncommitted))
    holder.start()
    assert inserted.wait(10)

    async def second_delivery() -> tuple[int, bool]:
        racing = asyncio.create_task(router.store(said(2, "again")))
        await asyncio.sleep(0.3)  # it is waiting on the first's row (or SQLite's lock)
        release.set()
        return await racing

    try:
        stored = asyncio.run(second_delivery())
    finally:
        release.set()
        holder.join(10)
    assert stored == (first[0], False)
    assert [m.text for m in rows(engine)] == ["hello", "again"]


def test_a_worker_that_lost_the_lease_stores_nothing_and_the_holder_answers_once(
    engine: Engine,
) -> None:
    rasa = FakeRasa()

    async def another_worker_takes_over(_text: str) -> None:
        # Rasa was slow: the lease ran out and worker-2 took the conversation meanwhile.
        run_atomic(
            engine,
            lambda s: s.execute(
                update(Lease)
                .where(Lease.name == f"route:{WEB}")
                .values(owner="worker-2", expires_at=utcnow() + timedelta(seconds=60))
            ),
        )

    async def main() -> None:
        first, second = gateway(engine, rasa, "worker-1"), gateway(engine, rasa, "worker-2")
        rasa.on_send = another_worker_takes_over
        await first.receive(said(1, "is my flight on time?"))
        assert [m.author for m in rows(engine)] == [Author.CUSTOMER]  # nothing stored
        rasa.on_send = None
        await second.process(WEB)

    asyncio.run(main())
    assert [(m.author, m.text) for m in rows(engine)] == [
        (Author.CUSTOMER, "is my flight on time?"),
        (Author.BOT, "echo: is my flight on time?"),
    ]
    assert len(rasa.sent) == 1  # the holder read the replies from the tracker


def test_a_typed_number_is_the_offered_buttons_payload_and_a_closed_conversation_reopens(
    engine: Engine,
) -> None:
    rasa = FakeRasa()
    rasa.script("my bookings?", {"text": "Which one?", "buttons": BUTTONS})
    router = gateway(engine, rasa)
    asyncio.run(router.receive(said(1, "my bookings?")))
    run_atomic(
        engine,
        lambda s: s.execute(
            update(Conversation).where(Conversation.id == WEB).values(state=State.CLOSED)
        ),
    )
    asyncio.run(router.receive(said(2, "2")))
    assert [sent.text for sent in rasa.sent] == ["my bookings?", BUTTONS[1]["payload"]]
    answered = rows(engine)[2]
    assert answered.text == "2" and answered.routed_text == BUTTONS[1]["payload"]
    with session_scope(engine) as session:
        conversation = session.get(Conversation, WEB)
        assert conversation is not None and conversation.state == State.BOT


def test_the_web_chats_view_hides_system_lines_and_marks_replies_delivered_once(
    engine: Engine,
) -> None:
    assert run_statements(engine, lambda c: customer_view(c, WEB, 0, 500)) == (None, [])
    with session_scope(engine) as session:
        message_id, _ = insert_inbound(session, said(1, "hello"))
        conversation = session.get(Conversation, WEB)
        assert conversation is not None
        add_system(session, conversation, "Handed over")
        reply = add_outgoing(session, conversation, Author.BOT, "Hi!", BUTTONS)
        session.flush()
        reply_id = reply.id

    state, seen = run_statements(engine, lambda c: customer_view(c, WEB, 0, 500))
    assert state == State.BOT
    assert [(m.id, m.author, m.text, m.buttons) for m in seen] == [
        (message_id, Author.CUSTOMER, "hello", []),
        (reply_id, Author.BOT, "Hi!", BUTTONS),
    ]
    assert run_statements(engine, lambda c: customer_view(c, WEB, reply_id, 500)) == (
        State.BOT,
        [],
    )
    assert run_statements(engine, lambda c: customer_view(c, WEB, 0, 1))[1][0].id == message_id
    assert run_statements(engine, lambda c: mark_delivered(c, [message_id, reply_id])) == 1
    assert run_statements(engine, lambda c: mark_delivered(c, [reply_id])) == 0
    with session_scope(engine) as session:
        entry = session.execute(select(OutboxItem)).scalar_one()
        assert entry.status == Delivery.DELIVERED and entry.platform_ids == []
