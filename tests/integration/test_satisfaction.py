"""Ratings and news while waiting, on SQLite and PostgreSQL, through the real router and desk
with Rasa in memory (tests/unit/fakes.py): asked once when an agent resolves, never on a
hand-back nor while waiting, after the bot's goodbye or a silence (the background loop, one
worker at a time); the answer, and the comment after a low one, are stored and never reach the
bot; any other message goes to the bot. A customer writing while waiting hears their place and
the wait at most every few minutes; the loop tells them once when the queue moved a lot; an
agent taking the conversation is announced by name."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.router import Router
from handoff.desk import Desk
from handoff.queue import claim, open_escalation_for
from handoff.satisfaction import ASKED, ask_idle, idle_conversations
from handoff.settings import HandoffSettings
from handoff.waiting_news import TOLD_KINDS, announce_agent, tell_queue_news
from relais.core.brand import load_brand
from relais.core.handoff import HandoffPayload
from relais.core.texts import say
from relais.core.types import Author, State, utcnow
from relais.storage.conversations import Conversation, Lease, Message
from relais.storage.db import run_atomic, session_scope
from relais.storage.escalations import Agent
from relais.storage.leases import route_lease
from relais.storage.messages import Inbound
from relais.storage.review import Rating
from tests.unit.fakes import FakeRasa

SETTINGS = HandoffSettings(rating_after_idle_minutes=30, waiting_news_minutes=3)
T = TypeVar("T")


class Scene:
    """One database, Rasa in memory, the router and the desk as the app runs them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.rasa = FakeRasa()
        self.router = Router(engine, self.rasa, load_brand(), SETTINGS, worker_id="worker-1")
        self.desk = Desk(engine, self.rasa, worker_id="worker-1")
        self._numbers = 0
        with session_scope(engine) as s:
            agent = Agent(username="alice", display_name="Alice", password_hash="x", capacity=5)
            s.add(agent)
            s.flush()
            self.agent_id = agent.id

    def say(self, sender: str, text: str) -> None:
        """The customer of web:<sender> writes `text`; the router routes it at once."""
        self._numbers += 1
        inbound = Inbound(channel="web", sender=sender, platform_id=f"m-{self._numbers}", text=text)
        asyncio.run(self.router.receive(inbound))

    def escalate(self, sender: str, language: str = "en") -> int:
        """The bot hands web:<sender> over (reasons: anger); returns the escalation's id."""
        payload = HandoffPayload(
            reasons=("anger",), priority=2, intent="complaint", language=language, summary="s"
        )
        text = f"a person now please ({sender})"
        self.rasa.script(
            text, {"text": "I'm passing you to a colleague."}, {"custom": payload.to_custom()}
        )
        self.say(sender, text)
        return self.read(lambda s: open_escalation_for(s, f"web:{sender}").id)

    def take_and_reply(self, escalation_id: int) -> None:
        """Alice takes the conversation (announced) and answers the customer."""

        def take(session: Session) -> None:
            agent = session.get(Agent, self.agent_id)
            announce_agent(session, claim(session, agent, escalation_id, utcnow()), agent)

        run_atomic(self.engine, take)
        asyncio.run(self.desk.reply(self.agent_id, escalation_id, "Hello, I'm on it."))

    def resolve(self, escalation_id: int) -> None:
        asyncio.run(self.desk.resolve(self.agent_id, escalation_id))

    def hand_back(self, escalation_id: int) -> None:
        self.rasa.script("/EXTERNAL_handed_back", {"text": "I'm back with you."})
        asyncio.run(self.desk.hand_back(self.agent_id, escalation_id))

    def read(self, work: Callable[[Session], T]) -> T:
        return run_atomic(self.engine, work)

    def bot(self, sender: str) -> list[Message]:
        """The bot's messages to web:<sender>, oldest first (detached)."""

        def read(session: Session) -> list[Message]:
            rows = list(
                session.execute(
                    select(Message)
                    .where(Message.conversation_id == f"web:{sender}", Message.author == Author.BOT)
                    .order_by(Message.id)
                ).scalars()
            )
            session.expunge_all()
            return rows

        return self.read(read)

    def ratings(self, sender: str) -> list[Rating]:
        def read(session: Session) -> list[Rating]:
            rows = list(
                session.execute(
                    select(Rating)
                    .where(Rating.conversation_id == f"web:{sender}")
                    .order_by(Rating.id)
                ).scalars()
            )
            session.expunge_all()
            return rows

        return self.read(read)

    def sent_to_rasa(self) -> list[str]:
        return [sent.text for sent in self.rasa.sent]


def kinds(messages: list[Message]) -> list[str | None]:
    return [(m.details or {}).get("kind") for m in messages]


def later(minutes: float) -> datetime:
    return utcnow() + timedelta(minutes=minutes)


# --- asked when an agent resolves, never on a hand-back -----------------------------------


def test_asked_once_when_an_agent_resolves_in_the_customers_language(engine: Engine) -> None:
    scene = Scene(engine)
    escalation = scene.escalate("nadia", language="fr")
    scene.take_and_reply(escalation)
    assert scene.ratings("nadia") == []  # never while a person holds it
    scene.resolve(escalation)

    [rating] = scene.ratings("nadia")
    assert (rating.handled_by, rating.agent_id, rating.escalation_id) == (
        "person",
        scene.agent_id,
        escalation,
    )
    assert rating.reasons == ["anger"] and rating.language == "fr" and rating.channel == "web"
    assert rating.score is None
    ask = scene.bot("nadia")[-1]
    assert ask.text == say("rating.ask", "fr")
    assert [b["payload"] for b in ask.buttons] == ["1", "2", "3", "4", "5"]

    # A press of the fourth button (its payload is the text) is stored, thanked, not for Rasa.
    scene.say("nadia", "4")
    [rating] = scene.ratings("nadia")
    assert rating.score == 4 and rating.answered_at is not None
    assert scene.bot("nadia")[-1].text == say("rating.thanks", "fr")
    assert "4" not in scene.sent_to_rasa()
    assert scene.read(lambda s: s.get(Conversation, "web:nadia").state) == State.CLOSED

    # The customer comes back in the same session: the bot answers, its goodbye asks nothing.
    scene.say("nadia", "is my flight on time?")
    scene.rasa.script("bye", {"text": say("goodbye.plain", "fr", name="Nadia")})
    scene.say("nadia", "bye")
    assert len(scene.ratings("nadia")) == 1
    assert kinds(scene.bot("nadia")).count(ASKED) == 1


def test_not_asked_on_a_hand_back_nor_when_the_agent_never_answered(engine: Engine) -> None:
    scene = Scene(engine)
    handed = scene.escalate("liam")
    scene.take_and_reply(handed)
    scene.hand_back(handed)
    assert scene.ratings("liam") == []
    assert scene.bot("liam")[-1].text == "I'm back with you."

    silent = scene.escalate("sophie")
    scene.read(lambda s: claim(s, s.get(Agent, scene.agent_id), silent, utcnow()))
    scene.resolve(silent)  # nobody answered her: nothing to rate
    assert scene.ratings("sophie") == []


def test_a_handed_back_conversation_that_goes_quiet_is_rated_for_the_person(
    engine: Engine,
) -> None:
    scene = Scene(engine)
    escalation = scene.escalate("james")
    scene.take_and_reply(escalation)
    scene.hand_back(escalation)
    assert ask_idle(engine, later(31), SETTINGS, "worker-1/background") == 1
    [rating] = scene.ratings("james")
    assert (rating.handled_by, rating.agent_id, rating.escalation_id) == (
        "person",
        scene.agent_id,
        escalation,
    )


# --- bot-only conversations: the bot's goodbye, or a silence ------------------------------


def test_the_bots_goodbye_ends_a_conversation_and_asks_once(engine: Engine) -> None:
    scene = Scene(engine)
    scene.rasa.script("bye", {"text": say("goodbye.plain", "en", name="")})
    scene.rasa.script("thanks", {"text": say("thank.plain", "en", name="")})

    # A goodbye with nothing answered before: nothing to rate.
    scene.say("early", "bye")
    assert scene.ratings("early") == []

    scene.say("camille", "is my flight on time?")
    scene.say("camille", "bye")
    [rating] = scene.ratings("camille")
    assert (rating.handled_by, rating.agent_id, rating.reasons) == ("bot", None, [])
    assert kinds(scene.bot("camille"))[-1] == ASKED
    assert [m.text for m in scene.bot("camille")][-2:] == [
        say("goodbye.plain", "en", name=""),
        say("rating.ask", "en"),
    ]
    # Not twice in a row, nor again in the same session.
    scene.say("camille", "thanks")
    scene.say("camille", "and my seat?")
    scene.say("camille", "bye")
    assert len(scene.ratings("camille")) == 1
    assert ask_idle(engine, later(31), SETTINGS, "worker-1/background") == 0


def test_the_loop_asks_a_silent_conversation_once_and_one_worker_at_a_time(
    engine: Engine,
) -> None:
    scene = Scene(engine)
    scene.rasa.script("hmm", {"text": ""})  # Rasa says nothing: no answered request
    scene.say("quiet", "hmm")
    scene.say("busy", "what can I bring on board?")
    scene.say("asked", "when does check-in open?")
    scene.say("recent", "hello")
    now = later(31)
    # All went silent; "quiet" was never answered, so it is looked at but not asked.
    assert scene.read(lambda s: set(idle_conversations(s, now, SETTINGS))) == {
        "web:quiet",
        "web:busy",
        "web:asked",
        "web:recent",
    }

    # A message of "busy" is being answered (the router holds its lease): left alone.
    with session_scope(engine) as s:
        s.add(Lease(name=route_lease("web:busy"), owner="worker-1", expires_at=later(40)))
    # Too soon for "recent" on this tick: it spoke 10 minutes after the others.
    with session_scope(engine) as s:
        s.get(Conversation, "web:recent").last_customer_at = utcnow() + timedelta(minutes=10)

    # Two workers' loops on the same tick: one question.
    assert ask_idle(engine, now, SETTINGS, "worker-1/background") == 1
    assert ask_idle(engine, now, SETTINGS, "worker-2/background") == 0
    assert [r.handled_by for r in scene.ratings("asked")] == ["bot"]
    assert scene.bot("asked")[-1].text == say("rating.ask", "en")  # the bot spoke English
    assert scene.ratings("quiet") == [] and scene.ratings("busy") == []
    assert scene.ratings("recent") == []

    # The lease is free again: "busy" is asked on a later tick; the router can still route.
    with session_scope(engine) as s:
        s.delete(s.get(Lease, route_lease("web:busy")))
    assert ask_idle(engine, later(33), SETTINGS, "worker-1/background") == 1
    assert len(scene.ratings("busy")) == 1
    assert ask_idle(engine, later(45), SETTINGS, "worker-1/background") == 1  # "recent"


def test_the_loop_never_asks_while_a_person_helps(engine: Engine) -> None:
    scene = Scene(engine)
    scene.say("waits", "is my flight on time?")
    scene.escalate("waits")
    held = scene.escalate("held")
    scene.take_and_reply(held)
    assert ask_idle(engine, later(31), SETTINGS, "worker-1/background") == 0
    assert scene.ratings("waits") == [] and scene.ratings("held") == []


# --- the answer ---------------------------------------------------------------------------


def _asked_by_the_bot(scene: Scene, sender: str) -> None:
    scene.rasa.script("bye", {"text": say("goodbye.plain", "en", name="")})
    scene.say(sender, "is my flight on time?")
    scene.say(sender, "bye")
    assert kinds(scene.bot(sender))[-1] == ASKED


def test_a_low_score_asks_what_went_wrong_and_keeps_the_comment(engine: Engine) -> None:
    scene = Scene(engine)
    _asked_by_the_bot(scene, "olivia")
    scene.say("olivia", "1 star")
    assert scene.bot("olivia")[-1].text == say("rating.ask_comment", "en")
    scene.say("olivia", "You never understood my question about the refund.")
    [rating] = scene.ratings("olivia")
    assert rating.score == 1
    assert rating.comment == "You never understood my question about the refund."
    assert rating.comment_at is not None
    assert scene.bot("olivia")[-1].text == say("rating.comment_thanks", "en")
    # Neither the score nor the comment went to the bot; the next message does.
    assert scene.sent_to_rasa() == ["is my flight on time?", "bye"]
    scene.say("olivia", "and my refund?")
    assert scene.sent_to_rasa()[-1] == "and my refund?"
    assert scene.ratings("olivia")[0].comment.startswith("You never")


def test_a_good_score_is_thanked_and_asks_for_no_comment(engine: Engine) -> None:
    scene = Scene(engine)
    _asked_by_the_bot(scene, "theo")
    scene.say("theo", "5/5 ⭐️")
    scene.say("theo", "great service")
    [rating] = scene.ratings("theo")
    assert (rating.score, rating.comment) == (5, None)
    assert scene.sent_to_rasa()[-1] == "great service"  # the bot answers it


def test_any_other_message_closes_the_question_and_goes_to_the_bot(engine: Engine) -> None:
    scene = Scene(engine)
    _asked_by_the_bot(scene, "emma")
    scene.say("emma", "actually, when does check-in open?")
    assert scene.sent_to_rasa()[-1] == "actually, when does check-in open?"
    # The question is closed: a "3" now is not a rating, it goes to the bot as any text.
    scene.say("emma", "3")
    assert scene.sent_to_rasa()[-1] == "3"
    [rating] = scene.ratings("emma")
    assert rating.score is None and rating.answered_at is None


# --- news while waiting -------------------------------------------------------------------


def _told_minutes_ago(scene: Scene, sender: str, minutes: float) -> None:
    """Dates back what the customer of web:<sender> was last told of the wait."""
    with session_scope(scene.engine) as s:
        for message in s.execute(
            select(Message).where(
                Message.conversation_id == f"web:{sender}", Message.author == Author.BOT
            )
        ).scalars():
            if (message.details or {}).get("kind") in TOLD_KINDS:
                message.sent_at = message.sent_at - timedelta(minutes=minutes)


def test_a_customer_writing_while_waiting_hears_the_queue_never_the_bot(engine: Engine) -> None:
    scene = Scene(engine)
    scene.escalate("first")
    scene.escalate("second", language="fr")
    told = len(scene.bot("second"))
    scene.say("second", "allô ??")  # told the wait a moment ago: nothing new
    assert len(scene.bot("second")) == told

    _told_minutes_ago(scene, "second", 4)
    scene.say("second", "il y a quelqu'un ?")
    news = scene.bot("second")[-1]
    assert len(scene.bot("second")) == told + 1
    assert news.details["kind"] == "waiting_news" and news.details["position"] == 2
    assert news.text.startswith("J'ai ajouté ce message à votre conversation")
    scene.say("second", "???")  # at most once every few minutes
    assert len(scene.bot("second")) == told + 1
    # Only logged for the agents: Rasa parsed the messages, never answered them.
    assert not {"allô ??", "il y a quelqu'un ?", "???"} & set(scene.sent_to_rasa())
    assert [c[1] for c in scene.rasa.called("parse")] == ["allô ??", "il y a quelqu'un ?", "???"]


def test_the_loop_tells_once_when_the_queue_moved_a_lot(engine: Engine) -> None:
    scene = Scene(engine)
    ahead = scene.escalate("ahead")
    scene.escalate("behind")
    scene.take_and_reply(ahead)  # "behind" is next now (2 -> 1)
    assert (
        tell_queue_news(engine, utcnow(), load_brand(), SETTINGS, "w/background") == 0
    )  # too soon
    _told_minutes_ago(scene, "behind", 4)
    assert tell_queue_news(engine, utcnow(), load_brand(), SETTINGS, "w/background") == 1
    news = scene.bot("behind")[-1]
    assert news.details["news"] == "waiting.moved_up" and news.details["position"] == 1
    _told_minutes_ago(scene, "behind", 4)
    assert tell_queue_news(engine, utcnow(), load_brand(), SETTINGS, "w/background") == 0  # once


def test_an_agent_taking_the_conversation_is_announced_by_name(engine: Engine) -> None:
    scene = Scene(engine)
    escalation = scene.escalate("chloe", language="fr")
    scene.take_and_reply(escalation)
    joined = [m for m in scene.bot("chloe") if m.details.get("kind") == "agent_joined"]
    assert [m.text for m in joined] == [say("waiting.agent_joined", "fr", agent="Alice")]
