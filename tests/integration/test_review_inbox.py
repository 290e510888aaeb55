"""The designers' review inbox through the console's API, in-process, on SQLite and PostgreSQL.

Which conversations are in the inbox (one per reason that puts them there, and those that
are not), paging, "done", who may see it (a designer and a supervisor; an agent gets 404, a
designer takes no queue), the bot's parse of each message from a stand-in tracker (and Rasa
down), labels and their validation, test stories, and the line an agent leaves on resolve.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.web import make_app
from handoff.accounts import add_agent
from handoff.intake import open_escalation
from handoff.settings import load_handoff_settings
from handoff.wait import estimate_wait
from handoff.web import CONSOLE
from relais.core.brand import load_brand
from relais.core.config import settings
from relais.core.errors import RasaUnavailable
from relais.core.handoff import HandoffPayload
from relais.core.types import Author, Role, utcnow
from relais.storage.conversations import Message
from relais.storage.db import session_scope
from relais.storage.escalations import Agent, Escalation
from relais.storage.messages import add_outgoing, conversation_for
from relais.storage.review import Rating, ReviewDone, ReviewLabel, ReviewStory

PASSWORD = "a-long-password-for-these-tests"
RASA_DOWN = "http://127.0.0.1:9"
REVIEW = "/api/console/review"
#: Each conversation that belongs in the inbox, and why.
IN_INBOX = {
    "web:low": "low_confidence",
    "web:oos": "out_of_scope",
    "web:stalled": "stalled",
    "web:multi": "multiple_requests",
    "web:flagged": "flagged",
    "web:rated-1": "rating",
    "web:rated-2": "rating",
}
#: Conversations that do not: a handoff for anger alone, ratings of 3 and 5, the bot alone.
NOT_IN_INBOX = ("web:angry", "web:rated-3", "web:happy", "web:bot-only")
FIRST = "3 weeks and still nothing for ✈️ XY7T2M  and my dog??"


class StandInTracker:
    """The bot's side as the review reads it: a tracker per conversation (user events with
    the gateway's message id and Rasa's parse), or Rasa down."""

    def __init__(self) -> None:
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise RasaUnavailable("connection refused (stand-in)")

    async def append_events(self, conversation_id: str, events: list[dict[str, Any]]) -> None:
        self._check()
        self.events.setdefault(conversation_id, []).extend(events)

    async def trigger_intent(self, conversation_id: str, intent: str) -> list[dict[str, Any]]:
        self._check()
        return []

    async def tracker(self, conversation_id: str) -> dict[str, Any]:
        self._check()
        return {"sender_id": conversation_id, "events": list(self.events.get(conversation_id, []))}

    async def parse(self, text: str) -> dict[str, Any]:
        self._check()
        return {"text": text, "intent": {"name": "greet", "confidence": 0.9}, "entities": []}


@dataclass
class Scene:
    escalations: dict[str, int] = field(default_factory=dict)
    designer: int = 0
    #: The messages of web:low: customer (2), bot, then the handoff's system line.
    first: int = 0
    second: int = 0
    bot_reply: int = 0


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("RELAIS_DEMO", "RELAIS_PUBLIC_URL", "RELAIS_TRUSTED_PROXIES"):
        monkeypatch.delenv(name, raising=False)
    settings.cache_clear()
    yield
    monkeypatch.undo()
    settings.cache_clear()


@pytest.fixture
def scene(engine: Engine, env: None) -> Scene:
    now = utcnow()
    brand = load_brand()
    found = Scene()
    with session_scope(engine) as s:
        add_agent(s, "alice", PASSWORD)
        found.designer = add_agent(s, "dana", PASSWORD, role=Role.DESIGNER).id
        add_agent(s, "sam", PASSWORD, role=Role.SUPERVISOR)
        low = conversation_for(s, "web", "low")
        low.language = "en"
        first = _customer(s, "web:low", FIRST, now - timedelta(minutes=5))
        second = _customer(s, "web:low", "hello???", now - timedelta(minutes=4))
        s.flush()
        reply = add_outgoing(s, low, Author.BOT, "Sorry, I did not get that.")
        s.flush()
        found.first, found.second, found.bot_reply = first.id, second.id, reply.id
        for conversation_id, reasons in (
            ("web:low", ("low_confidence",)),
            ("web:oos", ("out_of_scope",)),
            ("web:stalled", ("stalled",)),
            ("web:multi", ("anger", "multiple_requests")),
            ("web:flagged", ("anger",)),
            ("web:angry", ("anger",)),
        ):
            conversation = conversation_for(s, "web", conversation_id.split(":")[1])
            payload = HandoffPayload(reasons=reasons, priority=3, summary="", language="en")
            escalation, _ = open_escalation(s, conversation, payload, now, brand)
            s.flush()
            found.escalations[conversation_id] = escalation.id
        flagged = s.get(Escalation, found.escalations["web:flagged"])
        flagged.bot_should_handle = True
        flagged.customer_wanted = "to take a cat in the cabin"
        for sender, score, comment in (
            ("rated-1", 1, "useless, it never understood me"),
            ("rated-2", 2, None),
            ("rated-3", 3, None),
            ("happy", 5, None),
        ):
            conversation = conversation_for(s, "web", sender)
            s.add(
                Rating(
                    conversation_id=conversation.id,
                    channel="web",
                    language="en",
                    handled_by="bot",
                    reasons=[],
                    asked_at=now,
                    score=score,
                    answered_at=now,
                    comment=comment,
                    comment_at=now if comment else None,
                )
            )
        conversation_for(s, "web", "bot-only")
    return found


def _customer(s: Any, conversation_id: str, text: str, at: Any) -> Message:
    message = Message(
        conversation_id=conversation_id,
        author=Author.CUSTOMER,
        channel="web",
        text=text,
        sent_at=at,
    )
    s.add(message)
    return message


Check = Callable[[TestServer, StandInTracker], Awaitable[None]]


def run(db_url: str, check: Check) -> None:
    async def go() -> None:
        app = make_app(db_url, RASA_DOWN, background=False)
        bot = StandInTracker()
        app[CONSOLE].desk.rasa = bot  # the review reads the desk's tracker
        server = TestServer(app)
        await server.start_server()
        try:
            await check(server, bot)
        finally:
            await server.close()

    asyncio.run(go())


def page(server: TestServer) -> aiohttp.ClientSession:
    origin = str(server.make_url(""))
    return aiohttp.ClientSession(
        base_url=origin,
        headers={"Origin": origin, "Content-Type": "application/json"},
        cookie_jar=aiohttp.CookieJar(unsafe=True),
    )


async def logged_in(server: TestServer, username: str) -> aiohttp.ClientSession:
    client = page(server)
    async with client.post("/api/login", json={"username": username, "password": PASSWORD}) as r:
        assert r.status == 200, await r.text()
    return client


async def call(
    client: aiohttp.ClientSession, method: str, path: str, body: object = None
) -> tuple[int, Any]:
    async with client.request(method, path, json=body) as r:
        return r.status, await r.json(content_type=None)


# --- the inbox ------------------------------------------------------------------------------


def test_the_inbox_holds_each_kind_of_conversation_worth_learning_from(
    db_url: str, scene: Scene
) -> None:
    async def check(server: TestServer, bot: StandInTracker) -> None:
        async with await logged_in(server, "dana") as dana:
            status, inbox = await call(dana, "GET", f"{REVIEW}/inbox")
            assert status == 200
            rows = {row["conversation_id"]: row for row in inbox["conversations"]}
            assert set(rows) == set(IN_INBOX)
            assert inbox["total"] == len(IN_INBOX)
            for conversation_id, why in IN_INBOX.items():
                row = rows[conversation_id]
                if why == "flagged":
                    assert row["flagged"] and row["reasons"] == []
                    assert row["customer_wanted"] == "to take a cat in the cabin"
                elif why == "rating":
                    assert row["low_rating"] in (1, 2) and not row["reasons"]
                else:
                    assert row["reasons"] == [why] and not row["flagged"]
            # The reasons shown are those that put it there (not anger).
            assert rows["web:multi"]["reasons"] == ["multiple_requests"]
            assert rows["web:rated-1"]["rating_comment"] == "useless, it never understood me"
            assert rows["web:low"]["channel"] == "web" and rows["web:low"]["language"] == "en"
            assert rows["web:low"]["labels"] == 0

            # Pages of 3 cover the inbox once, in order.
            seen: list[str] = []
            for offset in (0, 3, 6):
                status, part = await call(dana, "GET", f"{REVIEW}/inbox?limit=3&offset={offset}")
                assert status == 200 and part["total"] == len(IN_INBOX)
                seen += [row["conversation_id"] for row in part["conversations"]]
            assert seen == [row["conversation_id"] for row in inbox["conversations"]]
            assert len(seen) == len(set(seen)) == len(IN_INBOX)

            # Done: out of the inbox, still readable.
            status, done = await call(dana, "POST", f"{REVIEW}/conversations/web:oos/done", {})
            assert status == 200 and done["done_at"]
            status, inbox = await call(dana, "GET", f"{REVIEW}/inbox")
            assert "web:oos" not in {row["conversation_id"] for row in inbox["conversations"]}
            assert inbox["total"] == len(IN_INBOX) - 1
            status, view = await call(dana, "GET", f"{REVIEW}/conversations/web:oos")
            assert status == 200 and view["done_at"]

    run(db_url, check)


def test_who_sees_the_inbox_and_designers_take_no_queue(db_url: str, scene: Scene) -> None:
    async def check(server: TestServer, bot: StandInTracker) -> None:
        async with page(server) as nobody:
            assert (await call(nobody, "GET", f"{REVIEW}/inbox"))[0] == 401
        async with await logged_in(server, "alice") as alice:
            for method, path, body in (
                ("GET", f"{REVIEW}/inbox", None),
                ("GET", f"{REVIEW}/conversations/web:low", None),
                ("POST", f"{REVIEW}/messages/{scene.first}/label", {"intent": "greet"}),
                ("DELETE", f"{REVIEW}/messages/{scene.first}/label", None),
                ("POST", f"{REVIEW}/conversations/web:low/story", {"name": "x"}),
                ("POST", f"{REVIEW}/conversations/web:low/done", {}),
            ):
                status, answer = await call(alice, method, path, body)
                assert status == 404 and answer == {"error": "No such page."}, (method, path)
        async with await logged_in(server, "dana") as dana:
            status, answer = await call(dana, "POST", "/api/console/claim-next")
            assert status == 403 and "do not take the queue" in answer["error"]
            waiting = scene.escalations["web:angry"]
            status, answer = await call(dana, "POST", f"/api/console/escalations/{waiting}/claim")
            assert status == 403 and "do not take the queue" in answer["error"]
            # The console's own view: what is in the inbox, read-only; nothing else.
            assert (await call(dana, "GET", "/api/console/conversations/web:low"))[0] == 200
            assert (await call(dana, "GET", "/api/console/conversations/web:angry"))[0] == 404
            assert (await call(dana, "GET", f"{REVIEW}/conversations/web:angry"))[0] == 404
            assert (await call(dana, "GET", f"{REVIEW}/conversations/web:nobody"))[0] == 404
            assert (await call(dana, "GET", f"{REVIEW}/conversations/web:happy"))[0] == 404
            assert (await call(dana, "GET", f"{REVIEW}/conversations/web:rated-2"))[0] == 200
        async with await logged_in(server, "sam") as sam:
            assert (await call(sam, "GET", f"{REVIEW}/inbox"))[0] == 200
            # A supervisor reads any conversation in the review.
            assert (await call(sam, "GET", f"{REVIEW}/conversations/web:angry"))[0] == 200
            # Designers are not offered as agents to transfer to.
            status, queue = await call(sam, "GET", "/api/console/queue")
            assert status == 200
            assert "Dana" not in {agent["name"] for agent in queue["agents"]}

    run(db_url, check)


def test_a_designer_cannot_be_given_a_conversation(db_url: str, scene: Scene) -> None:
    act = f"/api/console/escalations/{scene.escalations['web:angry']}/"

    async def check(server: TestServer, bot: StandInTracker) -> None:
        async with await logged_in(server, "alice") as alice:
            assert (await call(alice, "POST", act + "claim", {}))[0] == 200
            status, answer = await call(
                alice, "POST", act + "transfer", {"agent_id": scene.designer}
            )
            assert status == 409 and "active agent" in answer["error"]

    run(db_url, check)


# --- one conversation -----------------------------------------------------------------------


def _user_event(message_id: int, parse: dict[str, Any]) -> dict[str, Any]:
    return {
        "event": "user",
        "text": "…",
        "metadata": {"relais_message_id": message_id},
        "parse_data": parse,
    }


def test_each_customer_message_shows_the_bots_parse_and_what_happened_next(
    db_url: str, scene: Scene
) -> None:
    async def check(server: TestServer, bot: StandInTracker) -> None:
        bot.events["web:low"] = [
            {"event": "action", "name": "action_session_start"},
            _user_event(
                scene.first,
                {
                    "intent": {"name": "refund_status", "confidence": 0.31234},
                    "language": "en",
                    "anger": 0.8,
                    "entities": [
                        {"entity": "booking_reference", "value": "XY7T2M", "start": 33, "end": 39}
                    ],
                    "knowledge": {
                        "articles": [
                            {"article": "pets", "passage": "cabin", "score": 0.61},
                            {"article": "refunds", "passage": "delays", "score": 0.4},
                        ],
                        "outside": 0.1,
                    },
                },
            ),
            {"event": "bot", "text": "Sorry, I did not get that."},
            # Another conversation's id, or no id at all: not this message's parse.
            {"event": "user", "text": "x", "metadata": {}, "parse_data": {"intent": {}}},
            _user_event(scene.second, {"intent": {"name": "greet", "confidence": 0.2}}),
        ]
        async with await logged_in(server, "dana") as dana:
            status, view = await call(dana, "GET", f"{REVIEW}/conversations/web:low")
            assert status == 200 and view["bot"] == "ok"
            messages = {m["id"]: m for m in view["messages"]}
            assert [m["author"] for m in view["messages"]][:3] == ["customer", "customer", "bot"]
            first = messages[scene.first]
            assert first["text"] == FIRST
            assert first["parse"] == {
                "intent": "refund_status",
                "confidence": 0.312,
                "language": "en",
                "anger": 0.8,
                "entities": [
                    {"entity": "booking_reference", "value": "XY7T2M", "start": 33, "end": 39}
                ],
                "knowledge": {"article": "pets", "passage": "cabin", "score": 0.61},
            }
            # Then the customer wrote again: nothing happened in between.
            assert first["next"] == {"bot": 0, "agent": 0, "handoff": None}
            second = messages[scene.second]
            assert second["parse"]["intent"] == "greet" and second["parse"]["knowledge"] is None
            assert second["next"] == {"bot": 1, "agent": 0, "handoff": ["low_confidence"]}
            handoff = [m for m in view["messages"] if m.get("event") == "handoff"]
            assert handoff and handoff[0]["reasons"] == ["low_confidence"]
            assert "parse" not in messages[scene.bot_reply]
            assert [e["reasons"] for e in view["escalations"]] == [["low_confidence"]]
            # The names a label may use: the domain's, without the gateway's own intent.
            assert "refund_status" in view["intents"] and "booking_reference" in view["entities"]
            assert not any(name.startswith("EXTERNAL_") for name in view["intents"])

            bot.down = True
            status, view = await call(dana, "GET", f"{REVIEW}/conversations/web:low")
            assert status == 200 and view["bot"] == "unreachable"
            assert [m["text"] for m in view["messages"]][:2] == [FIRST, "hello???"]
            assert all(m["parse"] is None for m in view["messages"] if m["author"] == "customer")

    run(db_url, check)


# --- labels, stories --------------------------------------------------------------------------


def test_labels_are_set_checked_and_removed(db_url: str, scene: Scene, engine: Engine) -> None:
    label = f"{REVIEW}/messages/{scene.first}/label"
    start = FIRST.index("XY7T2M")  # characters (code points), after the emoji

    async def check(server: TestServer, bot: StandInTracker) -> None:
        async with await logged_in(server, "dana") as dana:
            status, answer = await call(dana, "POST", label, {"intent": "refund_status"})
            assert status == 200 and answer["label"]["intent"] == "refund_status"
            assert answer["label"]["language"] is None  # the export takes the bot's parse
            status, answer = await call(
                dana,
                "POST",
                label,
                {
                    "intent": "pet_travel",  # a new intent
                    # The spaces selected along are left out; the value is the text's.
                    "entities": [
                        {"start": start - 1, "end": start + 7, "entity": "booking_reference"},
                        {
                            "start": FIRST.index("dog"),
                            "end": FIRST.index("dog") + 3,
                            "entity": "pet",
                            "value": "ignored",
                        },
                    ],
                    "language": "en",
                },
            )
            assert status == 200, answer
            assert answer["label"]["entities"] == [
                {
                    "start": start,
                    "end": start + 6,
                    "entity": "booking_reference",
                    "value": "XY7T2M",
                },
                {
                    "start": FIRST.index("dog"),
                    "end": FIRST.index("dog") + 3,
                    "entity": "pet",
                    "value": "dog",
                },
            ]
            status, answer = await call(dana, "POST", label, {"excluded": True})
            assert status == 200 and answer["label"]["excluded"] is True
            assert answer["label"]["intent"] == "pet_travel"  # what was not sent stays
            status, inbox = await call(dana, "GET", f"{REVIEW}/inbox")
            rows = {row["conversation_id"]: row for row in inbox["conversations"]}
            assert rows["web:low"]["labels"] == 1
            status, view = await call(dana, "GET", f"{REVIEW}/conversations/web:low")
            assert "pet_travel" in view["intents"] and "pet" in view["entities"]
            first = next(m for m in view["messages"] if m["id"] == scene.first)
            assert first["label"]["intent"] == "pet_travel" and first["label"]["excluded"]

            status, answer = await call(dana, "DELETE", label)
            assert status == 200
            assert (await call(dana, "DELETE", label))[0] == 404
            with session_scope(engine) as s:
                assert s.execute(select(ReviewLabel)).first() is None

    run(db_url, check)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({}, "say what to set"),
        ({"intent": "Refund Status!"}, "not an intent of the domain"),
        ({"intent": "x"}, "not an intent of the domain"),
        ({"intent": 5}, "intent must be"),
        ({"intent": "greet", "colour": "red"}, "unknown field 'colour'"),
        ({"excluded": "yes"}, "excluded must be true or false"),
        ({"language": "de"}, "language must be one of"),
        ({"entities": "XY7T2M"}, "entities must be a list"),
        ({"entities": [[0, 2, "x"]]}, "each entity must be an object"),
        ({"entities": [{"start": 0, "end": 2.5, "entity": "pet"}]}, "whole numbers"),
        ({"entities": [{"start": True, "end": 2, "entity": "pet"}]}, "whole numbers"),
        ({"entities": [{"start": 4, "end": 4, "entity": "pet"}]}, "its start before its end"),
        ({"entities": [{"start": 0, "end": 999, "entity": "pet"}]}, "within the message"),
        ({"entities": [{"start": -1, "end": 3, "entity": "pet"}]}, "within the message"),
        ({"entities": [{"start": 0, "end": 3, "entity": "Pet Name"}]}, "not an entity"),
        ({"entities": [{"start": 0, "end": 3}]}, "must be a name"),
        ({"entities": [{"start": 1, "end": 2, "entity": "pet"}] * 21}, "at most 20"),
        (
            {
                "entities": [
                    {"start": 0, "end": 7, "entity": "pet"},
                    {"start": 5, "end": 9, "entity": "pet"},
                ]
            },
            "overlap",
        ),
    ],
)
def test_a_label_that_cannot_be_accepted_is_a_400(
    db_url: str, scene: Scene, body: dict[str, Any], problem: str
) -> None:
    async def check(server: TestServer, bot: StandInTracker) -> None:
        async with await logged_in(server, "dana") as dana:
            status, answer = await call(
                dana, "POST", f"{REVIEW}/messages/{scene.first}/label", body
            )
            assert status == 400 and problem in answer["error"], answer

    run(db_url, check)


def test_requests_that_name_nothing_or_send_nonsense_are_4xx(db_url: str, scene: Scene) -> None:
    async def check(server: TestServer, bot: StandInTracker) -> None:
        async with await logged_in(server, "dana") as dana:
            for method, path, body, expected in (
                ("POST", f"{REVIEW}/messages/{scene.bot_reply}/label", {"intent": "greet"}, 400),
                ("POST", f"{REVIEW}/messages/999999/label", {"intent": "greet"}, 404),
                ("POST", f"{REVIEW}/messages/abc/label", {"intent": "greet"}, 400),
                ("POST", f"{REVIEW}/messages/99999999999/label", {"intent": "greet"}, 400),
                ("POST", f"{REVIEW}/messages/{scene.first}/label", ["intent"], 400),
                ("DELETE", f"{REVIEW}/messages/{scene.first}/label", None, 404),
                ("POST", f"{REVIEW}/conversations/web:low/story", {}, 400),
                ("POST", f"{REVIEW}/conversations/web:low/story", {"name": "x" * 201}, 400),
                ("POST", f"{REVIEW}/conversations/web:low/story", {"name": " \n\t"}, 400),
                ("POST", f"{REVIEW}/conversations/web:nobody/story", {"name": "x"}, 404),
                ("POST", f"{REVIEW}/conversations/web:nobody/done", {}, 404),
                ("POST", f"{REVIEW}/conversations/web:low/done", [], 400),
                ("GET", f"{REVIEW}/inbox?limit=0", None, 400),
                ("GET", f"{REVIEW}/inbox?limit=101", None, 400),
                ("GET", f"{REVIEW}/inbox?offset=-1", None, 400),
                ("GET", f"{REVIEW}/inbox?limit=ten", None, 400),
            ):
                status, answer = await call(dana, method, path, body)
                assert status == expected and answer["error"], (method, path, body, answer)
            async with dana.post(
                f"{REVIEW}/messages/{scene.first}/label", data=b"{not json"
            ) as broken:
                assert broken.status == 400

    run(db_url, check)


def test_a_conversation_becomes_a_test_story_once(
    db_url: str, scene: Scene, engine: Engine
) -> None:
    async def check(server: TestServer, bot: StandInTracker) -> None:
        async with await logged_in(server, "dana") as dana:
            path = f"{REVIEW}/conversations/web:low/story"
            status, answer = await call(dana, "POST", path, {"name": "  dog in\n the cabin "})
            assert status == 200 and answer["story"]["name"] == "dog in the cabin"
            status, again = await call(dana, "POST", path, {"name": "pet travel, not understood"})
            assert status == 200 and again["story"]["id"] == answer["story"]["id"]
            status, view = await call(dana, "GET", f"{REVIEW}/conversations/web:low")
            assert view["story"]["name"] == "pet travel, not understood"
            status, inbox = await call(dana, "GET", f"{REVIEW}/inbox")
            rows = {row["conversation_id"]: row for row in inbox["conversations"]}
            assert rows["web:low"]["story"] is True
        with session_scope(engine) as s:
            assert len(s.execute(select(ReviewStory)).all()) == 1

    run(db_url, check)


# --- what agents say as they close ------------------------------------------------------------


def test_an_agents_line_on_resolve_reaches_the_inbox(
    db_url: str, scene: Scene, engine: Engine
) -> None:
    angry = scene.escalations["web:angry"]
    act = f"/api/console/escalations/{angry}/"

    async def check(server: TestServer, bot: StandInTracker) -> None:
        async with await logged_in(server, "alice") as alice:
            assert (await call(alice, "POST", act + "claim", {}))[0] == 200
            for body, problem in (
                ({"customer_wanted": "x" * 201}, "at most 200 characters"),
                ({"customer_wanted": 5}, "customer_wanted must be a string"),
                ({"bot_should_handle": "yes"}, "bot_should_handle must be true or false"),
                ({"bot_should_handle": 1}, "bot_should_handle must be true or false"),
            ):
                status, answer = await call(alice, "POST", act + "resolve", body)
                assert status == 400 and problem in answer["error"]
            with session_scope(engine) as s:
                escalation = s.get(Escalation, angry)
                assert str(escalation.status) == "claimed"  # refused: nothing happened
                assert escalation.customer_wanted is None
            status, answer = await call(
                alice,
                "POST",
                act + "resolve",
                {
                    "customer_wanted": "  to bring\n her dog\x00 on board  ",
                    "bot_should_handle": True,
                },
            )
            assert status == 200 and answer == {"ok": True}
        with session_scope(engine) as s:
            escalation = s.get(Escalation, angry)
            assert str(escalation.status) == "resolved"
            assert escalation.customer_wanted == "to bring her dog on board"
            assert escalation.bot_should_handle is True
        async with await logged_in(server, "dana") as dana:
            status, inbox = await call(dana, "GET", f"{REVIEW}/inbox")
            rows = {row["conversation_id"]: row for row in inbox["conversations"]}
            assert rows["web:angry"]["flagged"]
            assert rows["web:angry"]["customer_wanted"] == "to bring her dog on board"

    run(db_url, check)


def test_hand_back_without_a_line_changes_nothing_for_designers(
    db_url: str, scene: Scene, engine: Engine
) -> None:
    angry = scene.escalations["web:angry"]

    async def check(server: TestServer, bot: StandInTracker) -> None:
        async with await logged_in(server, "alice") as alice:
            act = f"/api/console/escalations/{angry}/"
            assert (await call(alice, "POST", act + "claim", {}))[0] == 200
            status, answer = await call(
                alice,
                "POST",
                act + "hand-back",
                {"customer_wanted": "", "bot_should_handle": False},
            )
            assert status == 200 and "follow_up" in answer
        with session_scope(engine) as s:
            escalation = s.get(Escalation, angry)
            assert str(escalation.status) == "handed_back"
            assert escalation.customer_wanted is None and escalation.bot_should_handle is False
            assert s.get(ReviewDone, "web:angry") is None
        async with await logged_in(server, "dana") as dana:
            status, inbox = await call(dana, "GET", f"{REVIEW}/inbox")
            assert "web:angry" not in {row["conversation_id"] for row in inbox["conversations"]}

    run(db_url, check)


# --- the export -------------------------------------------------------------------------------


def test_the_export_is_previewed_then_downloaded_once_per_file(
    db_url: str, scene: Scene, engine: Engine
) -> None:
    day_file = settings().repo_root / "data" / "nlu" / "review" / f"{utcnow().date()}.yml"
    existed = day_file.exists()
    asked = time.time() - 120

    async def check(server: TestServer, bot: StandInTracker) -> None:
        bot.events["web:low"] = [
            {"event": "action", "name": "action_session_start", "timestamp": asked},
            {"event": "session_started", "timestamp": asked},
            {"event": "action", "name": "action_listen", "timestamp": asked},
            {
                **_user_event(scene.second, {"intent": {"name": "greet", "confidence": 0.9}}),
                "text": "hello???",
                "timestamp": asked + 1,
            },
            {"event": "action", "name": "action_greet", "timestamp": asked + 2},
            {"event": "pause", "timestamp": asked + 3},
        ]
        async with await logged_in(server, "dana") as dana:
            label = f"{REVIEW}/messages/{scene.first}/label"
            status, _ = await call(dana, "POST", label, {"intent": "pet_travel", "language": "en"})
            assert status == 200
            story = f"{REVIEW}/conversations/web:low/story"
            assert (await call(dana, "POST", story, {"name": "greeting"}))[0] == 200

            status, preview = await call(dana, "GET", f"{REVIEW}/export")
            assert status == 200, preview
            assert preview["examples"] == 1 and preview["stories"] == 1
            assert "- intent: pet_travel" in preview["nlu"] and "lang: en" in preview["nlu"]
            assert "XY7T2M" not in preview["nlu"]  # a booking reference is personal data
            assert "intent: greet" in preview["stories_yaml"]
            assert "action_greet" in preview["stories_yaml"]
            assert any(f["kind"] == "new_intent" for f in preview["flags"])
            assert preview["trackers_missing"] == 0

            async with dana.get(f"{REVIEW}/export?file=nlu") as download:
                assert download.status == 200
                assert download.content_type == "text/yaml"
                assert download.headers["Content-Disposition"].startswith("attachment;")
                assert "review-nlu-" in download.headers["Content-Disposition"]
                assert (await download.text()).endswith(preview["nlu"].split("nlu:\n", 1)[1])
            status, after = await call(dana, "GET", f"{REVIEW}/export")
            # The training data went; the story stays to download.
            assert after["examples"] == 0 and after["stories"] == 1
            status, again = await call(dana, "GET", f"{REVIEW}/export?file=nlu")
            assert status == 404 and "Nothing to export" in again["error"]
            async with dana.get(f"{REVIEW}/export?file=stories") as download:
                assert download.status == 200
                assert "- story:" in await download.text()
            status, last = await call(dana, "GET", f"{REVIEW}/export")
            assert last["examples"] == 0 and last["stories"] == 0
            status, answer = await call(dana, "GET", f"{REVIEW}/export?file=everything")
            assert status == 400 and "file must be one of" in answer["error"]
        async with await logged_in(server, "alice") as alice:
            assert (await call(alice, "GET", f"{REVIEW}/export"))[0] == 404

    run(db_url, check)
    with session_scope(engine) as s:
        label = s.execute(select(ReviewLabel)).scalar_one()
        assert label.exported_at is not None and label.export_file.startswith("data/nlu/review/")
        assert s.execute(select(ReviewStory)).scalar_one().exported_at is not None
    # Downloaded, not written into the project.
    assert day_file.exists() == existed


def test_without_the_bot_the_export_keeps_the_stories_and_says_why(
    db_url: str, scene: Scene
) -> None:
    async def check(server: TestServer, bot: StandInTracker) -> None:
        bot.down = True
        async with await logged_in(server, "dana") as dana:
            story = f"{REVIEW}/conversations/web:low/story"
            assert (await call(dana, "POST", story, {"name": "greeting"}))[0] == 200
            status, preview = await call(dana, "GET", f"{REVIEW}/export")
            assert status == 200
            assert preview["stories"] == 0 and preview["trackers_missing"] == 1
            assert [f["kind"] for f in preview["flags"]] == ["no_tracker"]
            status, answer = await call(dana, "GET", f"{REVIEW}/export?file=stories")
            assert status == 404

    run(db_url, check)


def test_a_designer_online_is_no_free_slot_in_the_wait_estimate(
    engine: Engine, scene: Scene
) -> None:
    now = utcnow()
    with session_scope(engine) as s:
        s.get(Agent, scene.designer).last_seen_at = now
        escalation = s.get(Escalation, scene.escalations["web:angry"])
        estimate = estimate_wait(s, escalation, now, load_brand(), load_handoff_settings())
        assert estimate.agents_online == 0 and estimate.free_slots == 0
