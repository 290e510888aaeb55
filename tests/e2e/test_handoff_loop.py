"""The whole handoff loop over real HTTP: web chat → Relais app → Rasa + actions → queue →
agent console API → customer, and back to the bot. Three processes, one SQLite database."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from tests.e2e.servers import AGENT_PASSWORD, Servers
from tests.e2e.webchat import conversation_id, demo_customer, visitor

pytestmark = pytest.mark.slow


class Customer:
    """A demo customer in the web chat (the session app runs in demo mode): their identity is
    the visitor cookie the app set when they were picked."""

    def __init__(self, app: str, customer: str) -> None:
        self.app, self.seen = app, 0
        self.http = demo_customer(app, customer)
        self.conversation_id = conversation_id(self.http)

    def say(self, text: str, client_id: str | None = None) -> dict[str, Any]:
        response = self.http.post(
            f"{self.app}/api/chat/messages",
            timeout=60,
            json={"text": text, "client_id": client_id or uuid.uuid4().hex},
        )
        assert response.status_code in (200, 201), response.text
        return response.json()

    def read(self) -> dict[str, Any]:
        response = self.http.get(
            f"{self.app}/api/chat/messages", timeout=30, params={"after": self.seen}
        )
        response.raise_for_status()
        data = response.json()
        if data["messages"]:
            self.seen = data["messages"][-1]["id"]
        return data

    def wait_for(
        self, check: Callable[[list[dict[str, Any]]], bool], limit: float = 30
    ) -> list[dict]:
        """Messages read until `check` holds on everything read so far."""
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            got += self.read()["messages"]
            if check(got):
                return got
            time.sleep(0.3)
        raise AssertionError(f"not seen in {limit}s: {got}")


def console(app: str, username: str) -> requests.Session:
    session = requests.Session()
    # As the console's page: from the app's own origin, in JSON (handoff/web.py console_guard).
    session.headers.update({"Origin": app, "Content-Type": "application/json"})
    response = session.post(
        f"{app}/api/login", json={"username": username, "password": AGENT_PASSWORD}
    )
    assert response.status_code == 200, response.text
    return session


def bot_texts(messages: list[dict[str, Any]]) -> list[str]:
    return [m["text"] for m in messages if m["author"] == "bot"]


def test_angry_customer_reaches_an_agent_and_comes_back_to_the_bot(
    app_url: str, servers: Servers
) -> None:
    james = Customer(app_url, "demo-james")
    first = james.say("3 weeks and still NO refund for XY7T2M. you people are useless, I'm furious")
    assert first["duplicate"] is False
    told = james.wait_for(lambda ms: len(bot_texts(ms)) >= 2)
    handoff_text, wait_text = bot_texts(told)[:2]
    assert "XY7T2M" in handoff_text and "colleague" in handoff_text
    assert "colleague should reply in" in wait_text or "away right now" in wait_text
    assert james.read()["state"] == "waiting"

    # A retried POST (same client id) is stored once; while waiting, the bot says nothing.
    retry_id = uuid.uuid4().hex
    once = james.say("hello?? anyone there", client_id=retry_id)
    assert james.say("hello?? anyone there", client_id=retry_id) == {**once, "duplicate": True}
    time.sleep(2)
    assert bot_texts(james.read()["messages"]) == []
    tracker = servers.tracker(james.conversation_id)
    assert tracker["paused"] is True
    assert [e["text"] for e in tracker["events"] if e["event"] == "user"][
        -1
    ] == "hello?? anyone there"

    alice = console(app_url, "alice")
    queue = alice.get(f"{app_url}/api/console/queue").json()
    mine = [e for e in queue["waiting"] if e["conversation_id"] == james.conversation_id]
    assert mine and mine[0]["priority"] == 1 and "anger" in mine[0]["reasons"]
    assert mine[0]["customer"] == "James Miller" and mine[0]["sla_seconds_left"] > 0
    taken = alice.post(f"{app_url}/api/console/claim-next").json()["escalation"]
    assert taken["conversation_id"] == james.conversation_id
    # Bruno cannot take it too.
    bruno = console(app_url, "bruno")
    refused = bruno.post(f"{app_url}/api/console/escalations/{taken['id']}/claim")
    assert refused.status_code == 404  # held by another agent: as if it did not exist

    view = alice.get(f"{app_url}/api/console/conversations/{james.conversation_id}").json()
    assert "XY7T2M" in view["escalation"]["summary"]
    assert any(b["reference"] == "XY7T2M" and b["refunds"] for b in view["records"]["bookings"])
    assert any("182.40" in s for s in view["suggestions"])
    authors = [m["author"] for m in view["transcript"]]
    assert authors[:4] == ["customer", "bot", "system", "bot"]  # handoff text, event, wait

    body = {
        "text": "Hello James, I'm checking your refund with our finance team now.",
        "client_id": "reply-1",
    }
    reply = alice.post(f"{app_url}/api/console/escalations/{taken['id']}/reply", json=body)
    assert reply.status_code == 200 and reply.json()["duplicate"] is False, reply.text
    # A double click (the same client id) sends nothing more.
    again = alice.post(f"{app_url}/api/console/escalations/{taken['id']}/reply", json=body).json()
    assert again == {"message_id": reply.json()["message_id"], "duplicate": True}
    # Bruno does not hold it: he cannot reply (nor see it: 404).
    assert (
        bruno.post(
            f"{app_url}/api/console/escalations/{taken['id']}/reply", json={"text": "hi"}
        ).status_code
        == 404
    )
    seen = james.wait_for(lambda ms: any(m["author"] == "agent" for m in ms))
    assert [m["text"] for m in seen if m["author"] == "agent"] == [
        "Hello James, I'm checking your refund with our finance team now."
    ]
    tracker = servers.tracker(james.conversation_id)
    agent_events = [
        e
        for e in tracker["events"]
        if e["event"] == "bot" and (e.get("metadata") or {}).get("agent") == "alice"
    ]
    assert len(agent_events) == 1

    back = alice.post(f"{app_url}/api/console/escalations/{taken['id']}/hand-back")
    assert back.status_code == 200, back.text
    follow = james.wait_for(lambda ms: bool(bot_texts(ms)))
    assert bot_texts(follow) == [
        "I'm back with you, James. Is there anything else I can check on XY7T2M?"
    ]
    assert james.read()["state"] == "bot"

    # The bot answers the next message, not the one written while Alice held the conversation.
    james.say("is my flight XY123 on time?")
    answer = james.wait_for(lambda ms: bool(bot_texts(ms)))
    assert len(bot_texts(answer)) == 1 and "XY123" in bot_texts(answer)[0]
    assert "delayed" in bot_texts(answer)[0]

    sam = console(app_url, "sam")
    metrics = sam.get(f"{app_url}/api/console/metrics").json()
    assert metrics["escalations"] >= 1 and metrics["handoffs_by_reason"]["anger"] >= 1
    assert metrics["human_first_response"]["count"] >= 1
    assert (
        "human_first_response,median_s" in sam.get(f"{app_url}/api/console/metrics?format=csv").text
    )
    assert alice.get(f"{app_url}/api/console/metrics").status_code == 403


def test_bad_web_chat_input_gets_a_clear_error(app_url: str) -> None:
    post = lambda body: requests.post(f"{app_url}/api/chat/messages", timeout=10, **body)  # noqa: E731
    assert post({"data": "not json"}).status_code == 400
    assert post({"json": {"text": "   "}}).status_code == 400
    assert post({"json": {"text": "y" * 5000}}).status_code == 400
    assert "error" in post({"json": ["list"]}).json()
    assert requests.get(f"{app_url}/api/console/queue", timeout=10).status_code == 401
    alice = console(app_url, "alice")
    assert alice.get(f"{app_url}/api/console/conversations/web:nobody-here").status_code == 404
    assert alice.post(f"{app_url}/api/console/escalations/999999/claim").status_code == 404
    wrong = requests.post(
        f"{app_url}/api/login",
        json={"username": "alice", "password": "guess"},
        headers={"Origin": app_url},
    )
    assert wrong.status_code == 401
    get = lambda query: requests.get(f"{app_url}/api/chat/messages?{query}", timeout=10)  # noqa: E731
    assert get("wait=26").status_code == 400
    assert get("wait=-1").status_code == 400
    assert "error" in get("wait=soon").json()


def test_a_long_poll_is_held_until_the_reply_and_returns_with_it(app_url: str) -> None:
    # Checked by what the answers hold, never by how long they took: a duration bound would
    # test the machine (how fast Rasa answers here) as much as the long poll.
    http = visitor(app_url)

    def poll(after: int, wait: float) -> dict[str, Any]:
        response = http.get(
            f"{app_url}/api/chat/messages", timeout=60, params={"after": after, "wait": wait}
        )
        response.raise_for_status()
        return response.json()

    posted = http.post(
        f"{app_url}/api/chat/messages", timeout=10, json={"text": "what are your opening hours?"}
    ).json()
    answer = poll(posted["message_id"], 20)
    assert [m["author"] for m in answer["messages"]][:1] == ["bot"]
    last = answer["messages"][-1]["id"]

    # Nothing new: the request answers with nothing once its wait is over.
    assert poll(last, 1.5)["messages"] == []

    # Held, not answered at once: a poll that starts before the customer writes again comes
    # back with the message written after it started and the bot's reply to it (a poll that
    # ignored `wait` would come back empty, as the one above did).
    with ThreadPoolExecutor(max_workers=1) as pool:
        held = pool.submit(poll, last, 25)
        http.post(
            f"{app_url}/api/chat/messages",
            timeout=10,
            json={"text": "and when are you open on sunday?"},
        )
        later = held.result()
    assert [m["author"] for m in later["messages"]][:1] == ["customer"]
    assert "bot" in [m["author"] for m in later["messages"]]


def test_resolve_closes_and_the_next_message_starts_again_with_the_bot(app_url: str) -> None:
    liam = Customer(app_url, "demo-liam")
    liam.say("I want to talk to a human please")
    liam.wait_for(lambda ms: len(bot_texts(ms)) >= 2)
    assert liam.read()["state"] == "waiting"
    bruno = console(app_url, "bruno")
    waiting = bruno.get(f"{app_url}/api/console/queue").json()["waiting"]
    escalation = [e for e in waiting if e["conversation_id"] == liam.conversation_id][0]
    assert "human_request" in escalation["reasons"]
    assert (
        bruno.post(f"{app_url}/api/console/escalations/{escalation['id']}/claim").status_code == 200
    )
    assert liam.read()["state"] == "with_agent"
    # Back to the queue keeps it waiting; take it again, note, then resolve.
    assert (
        bruno.post(f"{app_url}/api/console/escalations/{escalation['id']}/release").status_code
        == 200
    )
    assert liam.read()["state"] == "waiting"
    assert (
        bruno.post(f"{app_url}/api/console/escalations/{escalation['id']}/claim").status_code == 200
    )
    note = bruno.post(
        f"{app_url}/api/console/escalations/{escalation['id']}/note",
        json={"text": "Rebooked by phone, nothing else needed."},
    )
    assert note.status_code == 200
    assert (
        bruno.post(f"{app_url}/api/console/escalations/{escalation['id']}/resolve").status_code
        == 200
    )
    assert liam.read()["state"] == "closed"
    view = bruno.get(f"{app_url}/api/console/conversations/{liam.conversation_id}").json()
    assert view["notes"][0]["text"] == "Rebooked by phone, nothing else needed."
    assert all("Rebooked" not in m["text"] for m in liam.read()["messages"])  # notes stay private
    liam.say("is my flight cancelled?")
    answer = liam.wait_for(lambda ms: bool(bot_texts(ms)))
    assert "XY456" in bot_texts(answer)[0]
    assert liam.read()["state"] == "bot"


def test_a_burst_of_100_messages_is_all_kept_and_not_answered_100_times(app_url: str) -> None:
    olivia = Customer(app_url, "demo-olivia")
    with ThreadPoolExecutor(max_workers=20) as pool:
        codes = list(
            pool.map(
                lambda i: (
                    requests.post(
                        f"{app_url}/api/chat/messages",
                        timeout=120,
                        json={"text": f"hello? line {i}", "client_id": f"burst-{i}"},
                        cookies=olivia.http.cookies.get_dict(),  # Olivia's, from 20 threads
                    ).status_code
                ),
                range(100),
            )
        )
    assert codes == [201] * 100
    seen = olivia.wait_for(
        lambda ms: (
            sum(m["author"] == "customer" for m in ms) == 100
            and any(m["author"] == "bot" for m in ms)
        ),
        limit=60,
    )
    time.sleep(3)
    seen += olivia.read()["messages"]
    assert sorted(m["text"] for m in seen if m["author"] == "customer") == sorted(
        f"hello? line {i}" for i in range(100)
    )  # nothing lost
    assert 1 <= len(bot_texts(seen)) <= 6  # the customer is not flooded
