"""Ratings and news while waiting end to end, through the web chat and the Telegram stand-in:
a customer handed over writes while queued and hears the queue (never the bot), hears the
agent's name when they take it, and is asked for a rating once the agent resolves it: a
button press is stored with who helped. One app of our own (its own database with the demo
agents, news due at every message) in front of the session's Rasa."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.fakes.telegram import FakeTelegram
from handoff.seed import seed_agents
from relais.core.texts import say
from relais.storage.db import create_all, make_engine, session_scope
from relais.storage.review import Rating
from relais.tools.seed import seed
from tests.e2e.servers import AGENT_PASSWORD, Servers, eventually, free_port, relais_app
from tests.e2e.test_handoff_loop import Customer, bot_texts, console

pytestmark = pytest.mark.slow
#: A Telegram user no other test writes as (and no customer in the demo records).
VISITOR = 777351


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, servers: Servers
) -> Iterator[tuple[str, str, FakeTelegram]]:
    """(app URL, database URL, Telegram stand-in): the app polls the stand-in."""
    workdir: Path = tmp_path_factory.mktemp("ratings")
    url = f"sqlite:///{workdir / 'relais.db'}"
    engine = make_engine(url)
    create_all(engine)
    with session_scope(engine) as session:
        seed(session, anchor=datetime.now(timezone.utc).date())
        seed_agents(session, AGENT_PASSWORD)
    engine.dispose()
    # Every message written while waiting gets the news (the pace is the integration tier's).
    handoff_file = workdir / "handoff.yml"
    handoff_file.write_text("waiting_news_minutes: 0.001\n")
    telegram = FakeTelegram()
    telegram.start_in_thread(free_port())
    env = {
        "RELAIS_DEMO": "1",
        "RELAIS_HANDOFF_FILE": str(handoff_file),
        "TELEGRAM_BOT_TOKEN": telegram.token,
        "TELEGRAM_API_URL": telegram.url,
        "TELEGRAM_MODE": "polling",
    }
    try:
        with relais_app(workdir, url, servers.rasa_url, env) as app:
            yield app, url, telegram
    finally:
        telegram.stop()


def take_reply_resolve(app: str, conversation_id: str) -> None:
    """Alice takes this conversation from the queue, answers, and resolves it."""
    alice = console(app, "alice")
    waiting = alice.get(f"{app}/api/console/queue").json()["waiting"]
    escalation = next(e for e in waiting if e["conversation_id"] == conversation_id)["id"]
    base = f"{app}/api/console/escalations/{escalation}"
    assert alice.post(f"{base}/claim").status_code == 200
    reply = alice.post(f"{base}/reply", json={"text": "Done, you're all set."})
    assert reply.status_code == 200, reply.text
    assert alice.post(f"{base}/resolve").status_code == 200


def rating_of(database: str, conversation_id: str) -> Rating:
    engine = make_engine(database)
    try:
        with session_scope(engine) as session:
            rating = session.execute(
                select(Rating).where(Rating.conversation_id == conversation_id)
            ).scalar_one()
            session.expunge(rating)
            return rating
    finally:
        engine.dispose()


def test_web_chat_waiting_news_agent_name_and_rating_buttons(
    stack: tuple[str, str, FakeTelegram],
) -> None:
    app, database, _ = stack
    nadia = Customer(app, "demo-nadia")
    nadia.say("je veux parler à un conseiller tout de suite")
    nadia.wait_for(lambda ms: len(bot_texts(ms)) >= 2)  # handed over, and the wait
    assert nadia.read()["state"] == "waiting"

    # Writing while queued: the place and the wait, in her language; never the bot's answer.
    nadia.say("il y a quelqu'un ? mon vol part demain")
    news = bot_texts(nadia.wait_for(lambda ms: bool(bot_texts(ms))))
    assert len(news) == 1
    assert news[0].startswith("J'ai ajouté ce message à votre conversation pour notre collègue.")
    assert nadia.read()["state"] == "waiting"

    take_reply_resolve(app, nadia.conversation_id)
    seen = nadia.wait_for(lambda ms: any(m["buttons"] for m in ms))
    assert say("waiting.agent_joined", "fr", agent="Alice Martin") in bot_texts(seen)
    ask = next(m for m in seen if m["buttons"])
    assert ask["text"] == say("rating.ask", "fr")
    assert [b["payload"] for b in ask["buttons"]] == ["1", "2", "3", "4", "5"]

    nadia.say(ask["buttons"][3]["payload"])  # as the page sends a pressed button
    thanks = nadia.wait_for(lambda ms: bool(bot_texts(ms)))
    assert bot_texts(thanks) == [say("rating.thanks", "fr")]
    rating = rating_of(database, nadia.conversation_id)
    assert (rating.score, rating.handled_by, rating.language) == (4, "person", "fr")
    assert "human_request" in rating.reasons


def test_telegram_waiting_news_and_rating_buttons(stack: tuple[str, str, FakeTelegram]) -> None:
    app, database, telegram = stack
    telegram.customer_text(VISITOR, "I want to talk to a human please")
    eventually(lambda: len(telegram.texts_to(VISITOR)) >= 2)
    told = len(telegram.texts_to(VISITOR))

    telegram.customer_text(VISITOR, "hello?? anyone there")
    eventually(lambda: len(telegram.texts_to(VISITOR)) > told)
    assert telegram.texts_to(VISITOR)[told].startswith(
        "I've added this to your conversation for our colleague."
    )

    take_reply_resolve(app, f"telegram:{VISITOR}")
    eventually(lambda: any(s.reply_markup for s in telegram.sent_to(VISITOR)))
    ask = next(s for s in telegram.sent_to(VISITOR) if s.reply_markup)
    assert ask.text == say("rating.ask", "en")
    assert ask.reply_markup is not None
    keyboard: list[list[dict[str, Any]]] = ask.reply_markup["inline_keyboard"]
    assert [row[0]["callback_data"] for row in keyboard] == ["1", "2", "3", "4", "5"]
    assert keyboard[4][0]["text"] == "★★★★★"
    assert say("waiting.agent_joined", "en", agent="Alice Martin") in telegram.texts_to(VISITOR)

    telegram.press_button(VISITOR, "5", on=ask)
    eventually(lambda: telegram.texts_to(VISITOR)[-1] == say("rating.thanks", "en"))
    assert telegram.answered_callbacks
    rating = rating_of(database, f"telegram:{VISITOR}")
    assert (rating.score, rating.handled_by, rating.channel) == (5, "person", "telegram")
