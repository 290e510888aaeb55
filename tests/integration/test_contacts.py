"""Contacts recorded in real use, on SQLite and PostgreSQL: one per conversation and booking
(`record_contact`), the current conversation never a repeat contact (`recent_contact`), a
person's resolve or hand-back recorded on a proven booking only (the console's API), and a
typed reference's records shown as not verified (records_view); the knowledge passages the
console suggests from Rasa's parse, and none (but the conversation) with Rasa down."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.web import CONSOLE, make_app
from handoff import records_view
from handoff.accounts import add_agent
from handoff.intake import open_escalation
from relais.core.brand import load_brand
from relais.core.config import settings
from relais.core.handoff import HandoffPayload
from relais.core.types import (
    Author,
    FareFamily,
    HandledBy,
    Language,
    LoyaltyTier,
    RefundStatus,
    utcnow,
)
from relais.storage.conversations import Conversation, Message
from relais.storage.db import session_scope
from relais.storage.escalations import Escalation
from relais.storage.messages import conversation_for
from relais.storage.queries import CONVERSATION_GAP, recent_contact, record_contact
from relais.storage.records import Booking, Contact, Customer, Refund
from tests.unit.fakes import FakeRasa

AT = datetime(2026, 12, 3, 9, 0)
GAP = CONVERSATION_GAP
MILLER, DUBOIS = "XY7T2M", "XY4K2P"
CONVERSATION = "telegram:100001"
OTHER = "web:v-other-visit"
RASA_DOWN = "http://127.0.0.1:9"
PASSWORD = "a-long-password-for-these-tests"
#: A web chat visitor the bot could not identify.
VISITOR = "v-unidentified"


def add_customer(engine: Engine, name: str, reference: str, web_chat_id: str) -> int:
    with session_scope(engine) as s:
        customer = Customer(
            full_name=name,
            email=f"{web_chat_id}@example.org",
            preferred_language=Language.EN,
            loyalty_tier=LoyaltyTier.GOLD,
            loyalty_points=1200,
            web_chat_id=web_chat_id,
        )
        booking = Booking(
            reference=reference,
            customer=customer,
            fare_family=FareFamily.STANDARD,
            changeable=True,
            refundable=False,
            total_paid=Decimal("240.00"),
            checked_bags_included=1,
            cabin_bag_kg=8,
        )
        booking.refunds.append(
            Refund(amount=Decimal("80.00"), status=RefundStatus.APPROVED, reason="cancelled")
        )
        s.add(customer)
        s.flush()
        return customer.id


@pytest.fixture
def records(engine: Engine) -> Engine:
    """Two customers with a booking each: James Miller (XY7T2M), Camille Dubois (XY4K2P)."""
    add_customer(engine, "James Miller", MILLER, "james-miller")
    add_customer(engine, "Camille Dubois", DUBOIS, "camille-dubois")
    return engine


def booking(s: Session, reference: str) -> Booking:
    return s.execute(select(Booking).where(Booking.reference == reference)).scalar_one()


def record(
    engine: Engine,
    at: datetime,
    handled_by: HandledBy = HandledBy.BOT,
    conversation_id: str = CONVERSATION,
    reference: str = MILLER,
    topic: str = "refund_status",
    summary: str = "asked about the refund",
) -> int:
    with session_scope(engine) as s:
        return record_contact(
            s,
            conversation_id=conversation_id,
            booking=booking(s, reference),
            topic=topic,
            handled_by=handled_by,
            summary=summary,
            now=at,
            gap=GAP,
        ).id


def contacts(engine: Engine) -> list[Contact]:
    with session_scope(engine) as s:
        found = list(s.execute(select(Contact).order_by(Contact.id)).scalars())
        s.expunge_all()
        return found


# --- record_contact -------------------------------------------------------------------------


def test_a_conversation_on_a_booking_is_one_contact_updated_while_it_goes_on(
    records: Engine,
) -> None:
    first = record(records, AT)
    (contact,) = contacts(records)
    with session_scope(records) as s:
        miller = booking(s, MILLER)
        assert contact.customer_id == miller.customer_id and contact.booking_id == miller.id
    assert contact.conversation_id == CONVERSATION and contact.channel == "telegram"
    assert contact.created_at == contact.last_at == AT and contact.handled_by == HandledBy.BOT

    later = AT + GAP - timedelta(minutes=1)
    assert record(records, later, topic="lost_baggage", summary="  and a bag  ") == first
    (contact,) = contacts(records)
    assert (contact.created_at, contact.last_at) == (AT, later)
    assert (contact.topic, contact.summary) == ("lost_baggage", "and a bag")

    # A person handled it: it stays handled by an agent, whatever the bot does next.
    assert record(records, later + timedelta(minutes=5), HandledBy.AGENT) == first
    assert record(records, later + timedelta(minutes=10), HandledBy.BOT) == first
    (contact,) = contacts(records)
    assert contact.handled_by == HandledBy.AGENT
    assert contact.last_at == later + timedelta(minutes=10)


def test_after_the_gap_or_on_another_booking_or_conversation_it_is_a_new_contact(
    records: Engine,
) -> None:
    first = record(records, AT)
    # The gap counts from the last activity, not from the start.
    assert record(records, AT + GAP - timedelta(minutes=1)) == first
    again = AT + 2 * GAP
    second = record(records, again, HandledBy.AGENT)
    assert second != first
    assert record(records, again, reference=DUBOIS) not in (first, second)
    assert record(records, again, conversation_id=OTHER) not in (first, second)
    found = contacts(records)
    assert len(found) == 4
    assert [c.handled_by for c in found] == [
        HandledBy.BOT,
        HandledBy.AGENT,
        HandledBy.BOT,
        HandledBy.BOT,
    ]
    assert [c.channel for c in found] == ["telegram", "telegram", "telegram", "web"]
    # Each on its booking's customer.
    with session_scope(records) as s:
        dubois = booking(s, DUBOIS)
        assert found[2].customer_id == dubois.customer_id != found[0].customer_id


def test_a_demo_contact_without_conversation_is_never_updated(records: Engine) -> None:
    with session_scope(records) as s:
        miller = booking(s, MILLER)
        s.add(
            Contact(
                customer_id=miller.customer_id,
                booking_id=miller.id,
                channel="phone",
                topic="refund_status",
                summary="called",
                handled_by=HandledBy.AGENT,
                created_at=AT,
            )
        )
    record(records, AT + timedelta(minutes=1))
    assert len(contacts(records)) == 2


# --- recent_contact -------------------------------------------------------------------------


def repeat(
    engine: Engine,
    now: datetime,
    conversation_id: str | None = CONVERSATION,
    references: tuple[str, ...] = (MILLER,),
    customer: bool = False,
) -> bool:
    with session_scope(engine) as s:
        found = (
            s.execute(select(Customer).where(Customer.web_chat_id == "james-miller")).scalar_one()
            if customer
            else None
        )
        return recent_contact(
            s,
            references=list(references),
            customer=found,
            topic="refund_status",
            since=now - timedelta(days=7),
            conversation_id=conversation_id,
            gap=GAP,
            now=now,
        )


def test_the_current_conversation_is_not_a_repeat_contact(records: Engine) -> None:
    record(records, AT)
    record(records, AT + timedelta(minutes=30), HandledBy.AGENT)  # a person handled it
    now = AT + timedelta(hours=1)
    assert not repeat(records, now)
    assert not repeat(records, now, references=(), customer=True)  # by customer and topic
    # Without a conversation to leave out, it counts (the old behaviour).
    assert repeat(records, now, conversation_id=None)
    assert repeat(records, now, conversation_id=None, references=(), customer=True)


def test_another_conversation_or_this_one_long_ago_is_a_repeat_contact(records: Engine) -> None:
    record(records, AT, conversation_id=OTHER)
    assert repeat(records, AT + timedelta(minutes=10))  # the other conversation's, just now
    assert not repeat(records, AT + timedelta(minutes=10), references=(DUBOIS,))

    record(records, AT + timedelta(days=1))
    # The same conversation, two days after its last activity: a contact of its own.
    assert repeat(records, AT + timedelta(days=3), conversation_id=CONVERSATION)
    with session_scope(records) as s:
        for contact in s.execute(select(Contact)).scalars():
            if contact.conversation_id == OTHER:
                s.delete(contact)
    assert repeat(records, AT + timedelta(days=3))
    assert not repeat(records, AT + timedelta(days=1, hours=1))
    # Older than `since`: not recent at all.
    assert not repeat(records, AT + timedelta(days=30))


def test_without_now_the_clock_says_which_contacts_are_the_current_conversation(
    records: Engine,
) -> None:
    record(records, utcnow() - timedelta(minutes=5))
    with session_scope(records) as s:

        def counted(conversation_id: str) -> bool:
            return recent_contact(
                s,
                references=[MILLER],
                customer=None,
                topic="refund_status",
                since=utcnow() - timedelta(days=7),
                conversation_id=conversation_id,
            )

        assert not counted(CONVERSATION) and counted(OTHER)


# --- the console: resolve and hand back record the contact -------------------------------


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in ("RELAIS_DEMO", "RELAIS_PUBLIC_URL", "RELAIS_TRUSTED_PROXIES"):
        monkeypatch.delenv(name, raising=False)
    settings.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    settings.cache_clear()


@dataclass(frozen=True)
class Handover:
    escalation: int
    conversation: str


def hand_over(
    engine: Engine,
    sender: str,
    booking_reference: str | None = None,
    typed_reference: str | None = None,
    summary: str = "James Miller wants help with a refund.",
) -> Handover:
    payload = HandoffPayload(
        reasons=("complaint",),
        priority=2,
        summary=summary,
        language="en",
        intent="complaint",
        topic="refund_status",
        booking_reference=booking_reference,
        typed_reference=typed_reference,
    )
    with session_scope(engine) as s:
        conversation = conversation_for(s, "web", sender)
        escalation, created = open_escalation(s, conversation, payload, utcnow(), load_brand())
        assert created
        s.flush()
        return Handover(escalation.id, conversation.id)


Check = Callable[[aiohttp.ClientSession], Awaitable[None]]


def console(db_url: str, engine: Engine, check: Check, rasa: FakeRasa | None = None) -> None:
    """Runs `check(client)` with alice logged in to an app whose Rasa is down (the close is
    committed all the same; its Rasa side waits for the tracker sync), or is `rasa`."""
    with session_scope(engine) as s:
        add_agent(s, "alice", PASSWORD)

    async def go() -> None:
        app = make_app(db_url, RASA_DOWN, background=False)
        if rasa is not None:
            app[CONSOLE].desk.rasa = rasa
        server = TestServer(app)
        await server.start_server()
        own = str(server.make_url(""))
        try:
            async with aiohttp.ClientSession(
                base_url=own,
                headers={"Origin": own, "Content-Type": "application/json"},
                cookie_jar=aiohttp.CookieJar(unsafe=True),
            ) as client:
                async with client.post(
                    "/api/login", json={"username": "alice", "password": PASSWORD}
                ) as r:
                    assert r.status == 200
                await check(client)
        finally:
            await server.close()

    asyncio.run(go())


async def post(client: aiohttp.ClientSession, escalation: int, action: str, **body: str) -> None:
    async with client.post(f"/api/console/escalations/{escalation}/{action}", json=body) as r:
        assert r.status == 200, await r.text()


def test_resolving_a_proven_booking_records_a_contact_handled_by_an_agent(
    db_url: str, records: Engine, env: pytest.MonkeyPatch
) -> None:
    proven = hand_over(records, "james-miller", booking_reference=MILLER)
    typed = hand_over(records, VISITOR, typed_reference=DUBOIS)

    async def check(client: aiohttp.ClientSession) -> None:
        for handover in (proven, typed):
            await post(client, handover.escalation, "claim")
            await post(client, handover.escalation, "note", text="Refund\n confirmed  by phone.")
            await post(client, handover.escalation, "resolve")

    console(db_url, records, check)
    (contact,) = contacts(records)
    assert contact.conversation_id == proven.conversation == "web:james-miller"
    assert contact.handled_by == HandledBy.AGENT and contact.channel == "web"
    assert contact.topic == "refund_status" and contact.summary == "Refund confirmed by phone."
    with session_scope(records) as s:
        assert contact.booking_id == booking(s, MILLER).id
        # The typed reference recorded nothing: anyone can type one.
        assert s.get(Escalation, typed.escalation).status == "resolved"


def test_handing_back_records_the_bots_summary_trimmed_and_joins_the_bots_contact(
    db_url: str, records: Engine, env: pytest.MonkeyPatch
) -> None:
    long_summary = "James Miller wants help with a refund. " * 30
    handover = hand_over(records, "james-miller", booking_reference=MILLER, summary=long_summary)
    # The bot recorded this conversation's contact a moment ago.
    bots = record(records, utcnow(), conversation_id=handover.conversation)

    async def check(client: aiohttp.ClientSession) -> None:
        await post(client, handover.escalation, "claim")
        async with client.post(
            f"/api/console/escalations/{handover.escalation}/hand-back", json={}
        ) as r:
            assert r.status == 200 and (await r.json()) == {"follow_up": []}  # Rasa is down

    console(db_url, records, check)
    (contact,) = contacts(records)
    assert contact.id == bots and contact.handled_by == HandledBy.AGENT
    assert len(contact.summary) <= 500 and contact.summary.endswith("…")
    assert contact.summary.startswith("James Miller wants help with a refund. James")
    with session_scope(records) as s:
        assert s.get(Conversation, handover.conversation).rasa_pending == "hand_back"


# --- the records the console shows -----------------------------------------------------------


def test_a_typed_reference_shows_its_booking_marked_not_verified(
    db_url: str, records: Engine, env: pytest.MonkeyPatch
) -> None:
    record(records, AT, reference=DUBOIS, summary="asked about a seat")
    typed = hand_over(records, VISITOR, typed_reference=DUBOIS.lower())
    with session_scope(records) as s:
        assert s.get(Escalation, typed.escalation).typed_reference == DUBOIS

    async def check(client: aiohttp.ClientSession) -> None:
        async with client.get(f"/api/console/conversations/{typed.conversation}") as r:
            assert r.status == 200
            data = await r.json()
        shown = data["records"]
        assert shown["customer"] is None
        assert shown["unverified"] == {
            "reference": DUBOIS,
            "known": True,
            "notice": records_view.NOT_VERIFIED,
        }
        assert "not verified" in shown["unverified"]["notice"].lower()
        assert [(b["reference"], b["verified"]) for b in shown["bookings"]] == [(DUBOIS, False)]
        assert shown["bookings"][0]["refunds"][0]["status"] == "approved"
        # The holder's past contacts are their history, not this visitor's: not shown.
        assert shown["contacts"] == []
        # Nothing of the holder's own, and no reply suggested from records that may not be
        # the customer's: only the question for a reference.
        assert "Camille" not in str(shown) and "camille-dubois" not in str(shown)
        assert not any("80.00" in text or DUBOIS in text for text in data["suggestions"])
        assert data["escalation"]["customer"] is None

    console(db_url, records, check)


def customer_writes(engine: Engine, conversation_id: str, *texts: str) -> None:
    with session_scope(engine) as s:
        for text in texts:
            s.add(
                Message(
                    conversation_id=conversation_id,
                    author=Author.CUSTOMER,
                    channel="web",
                    text=text,
                    sent_at=utcnow(),
                )
            )


def test_the_console_suggests_the_knowledge_that_answers_the_customers_latest_messages(
    db_url: str, records: Engine, env: pytest.MonkeyPatch
) -> None:
    handover = hand_over(records, VISITOR)
    customer_writes(records, handover.conversation, "hello", "can my cat fly in the cabin?")
    rasa = FakeRasa()
    rasa.parse_result["knowledge"] = {
        "articles": [
            {"article": "pets", "passage": "pets-in-cabin", "score": 0.9},
            {"article": "no-such-article", "passage": "x", "score": 0.8},
            {"article": "meals", "passage": "on-board", "score": 0.1},
        ],
        "outside": 0.0,
    }

    async def check(client: aiohttp.ClientSession) -> None:
        async with client.get(f"/api/console/conversations/{handover.conversation}") as r:
            assert r.status == 200
            data = await r.json()
        (suggested,) = data["knowledge_suggestions"]
        assert (suggested["article"], suggested["passage"]) == ("pets", "pets-in-cabin")
        assert suggested["title"] == "Travelling with pets"
        assert suggested["text"].startswith("Cats and small dogs can fly in the cabin")
        assert suggested["link"] in suggested["text"]
        assert data["suggestions"]  # the records' suggestions are still there

    console(db_url, records, check, rasa)
    assert rasa.called("parse") == [
        ("parse", "hello"),
        ("parse", "can my cat fly in the cabin?"),
    ]


def test_rasa_down_leaves_out_the_knowledge_suggestions_not_the_conversation(
    db_url: str, records: Engine, env: pytest.MonkeyPatch
) -> None:
    handover = hand_over(records, VISITOR)
    customer_writes(records, handover.conversation, "can my cat fly in the cabin?")
    rasa = FakeRasa()
    rasa.unavailable = True

    async def check(client: aiohttp.ClientSession) -> None:
        async with client.get(f"/api/console/conversations/{handover.conversation}") as r:
            assert r.status == 200
            data = await r.json()
        assert data["knowledge_suggestions"] == []
        customer = [m["text"] for m in data["transcript"] if m["author"] == "customer"]
        assert customer == ["can my cat fly in the cabin?"]

    console(db_url, records, check, rasa)
    assert rasa.called("parse") == [("parse", "can my cat fly in the cabin?")]


def test_an_identified_customer_or_a_proven_booking_shows_as_before(records: Engine) -> None:
    identified = hand_over(
        records, "james-miller", booking_reference=MILLER, typed_reference=DUBOIS
    )
    proven = hand_over(records, "v-proven-visit", booking_reference=DUBOIS)
    unknown = hand_over(records, "v-typed-nothing-known", typed_reference="XY0ZZ9")
    with session_scope(records) as s:

        def shown(handover: Handover) -> dict[str, Any]:
            conversation = s.get(Conversation, handover.conversation)
            escalation = s.get(Escalation, handover.escalation)
            return records_view.records(s, conversation, AT, escalation)

        mine = shown(identified)
        assert mine["customer"]["name"] == "James Miller"
        assert mine["unverified"] is None
        assert [(b["reference"], b["verified"]) for b in mine["bookings"]] == [(MILLER, True)]
        suggested = records_view.suggestions(mine, s.get(Escalation, identified.escalation), "en")
        assert any("80.00" in text for text in suggested)

        theirs = shown(proven)
        assert theirs["customer"] is None and theirs["unverified"] is None
        assert [(b["reference"], b["verified"]) for b in theirs["bookings"]] == [(DUBOIS, True)]

        nothing = shown(unknown)
        assert nothing["bookings"] == [] and nothing["unverified"] == {
            "reference": "XY0ZZ9",
            "known": False,
            "notice": records_view.NOT_VERIFIED,
        }


def test_a_second_handoff_keeps_the_latest_typed_reference(records: Engine) -> None:
    first = hand_over(records, VISITOR)
    with session_scope(records) as s:
        conversation = s.get(Conversation, first.conversation)
        escalation, created = open_escalation(
            s,
            conversation,
            HandoffPayload(reasons=("anger",), typed_reference=MILLER),
            utcnow(),
            load_brand(),
        )
        assert not created and escalation.typed_reference == MILLER
