"""The router against a real SQLite database and a Rasa in memory (tests/unit/fakes.py).

Each test drives `bot.router.Router` as the web chat and the channels do (`receive`,
`store` + `process`, `drain`) and checks what Rasa received and what the transcript holds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot import bursts
from bot.router import Router
from handoff.settings import HandoffSettings
from relais.core.brand import load_brand
from relais.core.handoff import HANDOFF_KEY, HandoffPayload
from relais.core.types import Author, Processing, State
from relais.storage.conversations import Conversation, Lease
from relais.storage.db import create_all, make_engine, session_scope
from relais.storage.escalations import Escalation
from relais.storage.messages import Inbound, transcript
from tests.unit.fakes import FakeRasa, ProcessDied

CONVERSATION = "web:camille"
BUTTONS = [
    {"title": "XY4K2P to Lisbon", "payload": '/choose_booking{"ref": "XY4K2P"}'},
    {"title": "XY7T2M to Montreal", "payload": '/choose_booking{"ref": "XY7T2M"}'},
]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Engine]:
    """A SQLite file with every table, for this test alone."""
    engine = make_engine(f"sqlite:///{tmp_path / 'relais.db'}")
    create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def rasa() -> FakeRasa:
    return FakeRasa()


def router(engine: Engine, rasa: FakeRasa, worker_id: str = "worker-1") -> Router:
    return Router(
        engine,
        rasa,
        load_brand(),
        HandoffSettings(),  # type: ignore[arg-type]
        worker_id=worker_id,
    )


def line(number: int, text: str, attachments: Sequence[dict[str, Any]] = ()) -> Inbound:
    """The customer's message number `number` in the web chat."""
    return Inbound(
        channel="web",
        sender="camille",
        platform_id=f"m-{number}",
        text=text,
        attachments=tuple(attachments),
    )


@dataclass
class Row:
    """A transcript line, read after the fact."""

    id: int
    author: Author
    text: str
    processing: Processing | None
    details: dict[str, Any]
    sent_to_rasa: bool
    routed_text: str | None
    in_tracker: bool


def rows(engine: Engine, author: Author | None = None) -> list[Row]:
    with session_scope(engine) as session:
        return [
            Row(
                m.id,
                m.author,
                m.text,
                m.processing,
                dict(m.details or {}),
                m.sent_to_rasa,
                m.routed_text,
                m.in_tracker,
            )
            for m in transcript(session, CONVERSATION)
            if author is None or m.author == author
        ]


def bot_texts(engine: Engine) -> list[str]:
    return [r.text for r in rows(engine, Author.BOT)]


def test_messages_are_answered_oldest_first_one_at_a_time(db: Engine, rasa: FakeRasa) -> None:
    """The customer writes again while Rasa answers, and each webhook asks to route: the
    messages still go to Rasa one at a time, in the order they came."""
    later = iter([line(2, "second"), line(3, "third")])
    woken: list[asyncio.Task[int]] = []

    async def main() -> None:
        gateway = router(db, rasa)

        async def customer_writes_again(_text: str) -> None:
            following = next(later, None)
            if following is not None:
                await gateway.store(following)
                woken.append(asyncio.create_task(gateway.process(CONVERSATION)))

        rasa.on_send = customer_writes_again
        await gateway.receive(line(1, "first"))
        await asyncio.gather(*woken)

    asyncio.run(main())
    assert [s.text for s in rasa.sent] == ["first", "second", "third"]
    assert rasa.max_in_flight == 1
    customers = rows(db, Author.CUSTOMER)
    assert [s.metadata["relais_message_id"] for s in rasa.sent] == [r.id for r in customers]
    assert bot_texts(db) == ["echo: first", "echo: second", "echo: third"]
    assert all(r.processing == Processing.DONE and r.details["routed"] == "bot" for r in customers)


def test_another_worker_leaves_the_conversation_to_the_lease_holder(
    db: Engine, rasa: FakeRasa
) -> None:
    """Two workers on one database: the second, woken for a message while the first routes
    the conversation, routes nothing; the first answers it after its own, in order."""

    async def main() -> list[int]:
        first, second = router(db, rasa, "worker-1"), router(db, rasa, "worker-2")
        routed_by_second: list[int] = []

        async def second_worker_gets_a_message(text: str) -> None:
            if text == "first":
                await second.store(line(2, "second"))
                routed_by_second.append(await second.process(CONVERSATION))

        rasa.on_send = second_worker_gets_a_message
        await first.receive(line(1, "first"))
        return routed_by_second

    assert asyncio.run(main()) == [0]
    assert [s.text for s in rasa.sent] == ["first", "second"]
    assert bot_texts(db) == ["echo: first", "echo: second"]
    with session_scope(db) as session:  # the lease was let go once nothing was pending
        assert session.execute(select(Lease)).scalars().all() == []


def test_a_burst_of_lines_is_answered_once_with_the_joined_text(
    db: Engine, rasa: FakeRasa, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bursts, "BURST_PAUSE_S", 0)
    lines = ["hi", "my flight XY602", "it is delayed", "what can I do", "thanks"]

    async def main() -> None:
        gateway = router(db, rasa)
        for number, text in enumerate(lines, 1):
            await gateway.store(line(number, text))
        assert await gateway.process(CONVERSATION) == 1

    asyncio.run(main())
    assert [s.text for s in rasa.sent] == ["\n".join(lines)]
    assert bot_texts(db) == ["echo: " + "\n".join(lines)]
    first, *others = rows(db, Author.CUSTOMER)
    assert [r.text for r in [first, *others]] == lines  # every line stays in the transcript
    assert first.routed_text == "\n".join(lines) and first.details["merged"] == 4
    assert first.sent_to_rasa
    assert all(
        r.details["routed"] == "merged"
        and r.details["merged_into"] == first.id
        and r.processing == Processing.DONE
        and not r.sent_to_rasa
        for r in others
    )


def test_a_number_after_buttons_sends_that_buttons_payload(db: Engine, rasa: FakeRasa) -> None:
    rasa.script("change my booking", {"text": "Which trip?", "buttons": BUTTONS})

    async def main() -> None:
        gateway = router(db, rasa)
        await gateway.receive(line(1, "change my booking"))
        await gateway.receive(line(2, " 2 "))
        await gateway.receive(line(3, "3"))  # no third option: plain text

    asyncio.run(main())
    assert [s.text for s in rasa.sent] == ["change my booking", BUTTONS[1]["payload"], "3"]
    chosen = rows(db, Author.CUSTOMER)[1]
    assert chosen.text == " 2 " and chosen.routed_text == BUTTONS[1]["payload"]


@pytest.mark.parametrize("text", ["²", "٢", "２"])
def test_a_digit_that_is_not_ascii_is_sent_as_text(db: Engine, rasa: FakeRasa, text: str) -> None:
    """ "²".isdigit() is true and int("²") raises: it must neither crash the router nor
    block the conversation; "٢" and "２" would even read as 2."""
    rasa.script("change my booking", {"text": "Which trip?", "buttons": BUTTONS})

    async def main() -> None:
        gateway = router(db, rasa)
        await gateway.receive(line(1, "change my booking"))
        await gateway.receive(line(2, text))
        await gateway.receive(line(3, "thanks"))

    asyncio.run(main())
    assert [s.text for s in rasa.sent] == ["change my booking", text, "thanks"]
    sent = rows(db, Author.CUSTOMER)[1]
    assert sent.routed_text is None and sent.details["routed"] == "bot"


def test_after_a_crash_the_replies_come_from_the_tracker_not_a_second_question(
    db: Engine, rasa: FakeRasa
) -> None:
    rasa.script(
        "where is my bag", {"text": "Your bag is in Lyon."}, {"text": "It reaches you tomorrow."}
    )
    rasa.die_after_next_message()

    async def crash() -> None:
        with pytest.raises(ProcessDied):
            await router(db, rasa).receive(line(1, "where is my bag"))

    asyncio.run(crash())
    [message] = rows(db)
    assert message.processing == Processing.PENDING and message.sent_to_rasa
    assert bot_texts(db) == []

    async def restart() -> int:
        # The same worker id: it takes its own lease back at once (relais/storage/leases.py).
        return await router(db, rasa, "worker-1").drain()

    assert asyncio.run(restart()) == 1
    assert len(rasa.called("send")) == 1
    assert rasa.called("tracker") == [("tracker", CONVERSATION)]
    assert bot_texts(db) == ["Your bag is in Lyon.", "It reaches you tomorrow."]
    assert rows(db, Author.CUSTOMER)[0].processing == Processing.DONE


def test_a_turn_still_running_in_rasa_is_waited_for_not_asked_again(
    db: Engine, rasa: FakeRasa
) -> None:
    rasa.die_after_next_message(finished=False)

    async def crash() -> None:
        with pytest.raises(ProcessDied):
            await router(db, rasa).receive(line(1, "hello"))

    asyncio.run(crash())
    assert asyncio.run(router(db, rasa).drain()) == 0  # the turn has not ended: wait
    assert rows(db)[0].processing == Processing.PENDING
    rasa.finish_turn(CONVERSATION)
    assert asyncio.run(router(db, rasa).drain()) == 1
    assert len(rasa.called("send")) == 1 and bot_texts(db) == ["echo: hello"]


def test_while_rasa_is_down_messages_wait_in_order_and_drain_answers_them(
    db: Engine, rasa: FakeRasa
) -> None:
    rasa.unavailable = True

    async def while_down() -> list[int]:
        gateway = router(db, rasa)
        await gateway.receive(line(1, "hello"))
        await gateway.receive(line(2, "anyone there?"))
        return [await gateway.drain()]

    assert asyncio.run(while_down()) == [0]
    assert [r.processing for r in rows(db)] == [Processing.PENDING, Processing.PENDING]
    assert rasa.sent == [] and bot_texts(db) == []
    with session_scope(db) as session:  # let go, so that any worker may retry
        assert session.execute(select(Lease)).scalars().all() == []

    rasa.unavailable = False
    assert asyncio.run(router(db, rasa).drain()) == 2
    # The first was marked sent before Rasa failed: the tracker is asked first, then Rasa.
    assert rasa.called("tracker") and [s.text for s in rasa.sent] == ["hello", "anyone there?"]
    assert bot_texts(db) == ["echo: hello", "echo: anyone there?"]


def test_a_message_that_fails_does_not_block_the_next_one(db: Engine, rasa: FakeRasa) -> None:
    rasa.fail_on("boom", ValueError("Rasa refused the message"))

    async def main() -> int:
        gateway = router(db, rasa)

        async def customer_writes_again(text: str) -> None:
            if text == "boom":
                await gateway.store(line(2, "hello"))

        rasa.on_send = customer_writes_again
        await gateway.store(line(1, "boom"))
        return await gateway.process(CONVERSATION)

    assert asyncio.run(main()) == 2
    failed, answered = rows(db, Author.CUSTOMER)
    assert failed.processing == Processing.DONE and failed.details["routed"] == "error"
    assert "Rasa refused the message" in failed.details["error"]
    assert answered.details["routed"] == "bot" and bot_texts(db) == ["echo: hello"]


def test_a_handoff_reply_queues_the_conversation_and_later_lines_only_reach_the_log(
    db: Engine, rasa: FakeRasa
) -> None:
    payload = HandoffPayload(
        reasons=("complaint",),
        priority=1,
        intent="complaint",
        language="en",
        summary="Camille is upset about XY602.",
        booking_reference="XY4K2P",
        context={"anger": 0.9},
    )
    rasa.script(
        "this is a disgrace",
        {"text": "I'm passing this to a colleague now."},
        {"custom": payload.to_custom()},
    )
    photo = {"kind": "photo", "ref": "file-1"}

    async def main() -> None:
        gateway = router(db, rasa)
        await gateway.receive(line(1, "look at my bag", [photo]))
        await gateway.receive(line(2, "this is a disgrace"))
        await gateway.receive(line(3, "hello?"))

    asyncio.run(main())
    with session_scope(db) as session:
        assert session.get(Conversation, CONVERSATION).state == State.WAITING
        [escalation] = session.execute(select(Escalation)).scalars().all()
        assert (escalation.reasons, escalation.priority) == (["complaint"], 1)
        assert escalation.summary == payload.summary and escalation.intent == "complaint"
        assert escalation.context["booking_reference"] == "XY4K2P"
        assert escalation.context["anger"] == 0.9
        assert [a["ref"] for a in escalation.context["attachments"]] == ["file-1"]
    bot = rows(db, Author.BOT)
    assert bot[-2].text == "I'm passing this to a colleague now."
    assert bot[-1].details["kind"] == "wait_estimate"
    # While a person holds it: logged in the tracker, not answered.
    assert [s.text for s in rasa.sent] == ["look at my bag", "this is a disgrace"]
    last = rows(db, Author.CUSTOMER)[-1]
    assert last.details["routed"] == "human" and last.in_tracker and not last.sent_to_rasa
    assert rasa.trackers[CONVERSATION][-1]["text"] == "hello?"


def test_a_damaged_handoff_payload_still_reaches_the_queue_with_safe_defaults(
    db: Engine, rasa: FakeRasa
) -> None:
    rasa.script("a person please", {"custom": {HANDOFF_KEY: {"reasons": [], "priority": 9}}})
    asyncio.run(router(db, rasa).receive(line(1, "a person please")))
    with session_scope(db) as session:
        [escalation] = session.execute(select(Escalation)).scalars().all()
        assert (escalation.reasons, escalation.priority) == (["human_request"], 3)


def test_a_photo_without_words_gets_one_question_and_is_not_sent_to_rasa(
    db: Engine, rasa: FakeRasa
) -> None:
    asyncio.run(router(db, rasa).receive(line(1, "", [{"kind": "document", "ref": "f-9"}])))
    assert rasa.calls == []
    assert bot_texts(db) == [
        "Thanks for the file. I can't open it myself: tell me in a few words what it is about "
        "(a damaged bag, a travel document…) and I'll help, or pass it to a colleague along "
        "with it."
    ]
    message = rows(db, Author.CUSTOMER)[0]
    assert message.details["routed"] == "attachment" and not message.sent_to_rasa
