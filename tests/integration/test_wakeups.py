"""A message written to a customer wakes who waits for it at its commit, and only then: in the
process through the commit hook (SQLite and PostgreSQL), across processes through
PostgreSQL's NOTIFY (bot/wakeups.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import pytest
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from bot.wakeups import OutgoingListener
from relais.core.types import Author, State
from relais.storage.conversations import Conversation
from relais.storage.db import joined_session, run_atomic, run_statements
from relais.storage.messages import Reply, add_outgoing, add_replies
from relais.storage.wakeups import on_outgoing


def conversation(session: Session, sender: str) -> Conversation:
    found = session.get(Conversation, f"web:{sender}")
    if found is None:
        found = Conversation(id=f"web:{sender}", channel="web", sender=sender, state=State.BOT)
        session.add(found)
        session.flush()
    return found


def reply(session: Session, sender: str, text: str = "Hello") -> None:
    add_outgoing(session, conversation(session, sender), Author.BOT, text)


def test_a_committed_reply_wakes_its_conversation_once(engine: Engine) -> None:
    woken: list[set[str]] = []
    stop = on_outgoing(lambda ids: woken.append(set(ids)))
    try:
        run_atomic(engine, lambda s: (reply(s, "a"), reply(s, "a", "Second"), reply(s, "b")))
        assert woken == [{"web:a", "web:b"}]
        # A transaction without replies wakes nobody.
        run_atomic(engine, lambda s: conversation(s, "c"))
        assert woken == [{"web:a", "web:b"}]
    finally:
        stop()
    run_atomic(engine, lambda s: reply(s, "a"))  # stopped: no longer called
    assert len(woken) == 1


def test_a_rolled_back_reply_wakes_nobody(engine: Engine) -> None:
    woken: list[set[str]] = []
    stop = on_outgoing(lambda ids: woken.append(set(ids)))

    def fails(session: Session) -> None:
        reply(session, "a")
        raise RuntimeError("the transaction fails after writing")

    try:
        with pytest.raises(RuntimeError):
            run_atomic(engine, fails)
        run_atomic(engine, lambda s: conversation(s, "z"))
        assert woken == []
    finally:
        stop()


def test_replies_written_with_statements_wake_at_their_commit_and_not_on_rollback(
    engine: Engine,
) -> None:
    """The router's transactions without a Session (`run_statements`), and the ORM steps
    joined to them (a handoff, a rating), wake as run_atomic's do."""
    run_atomic(engine, lambda s: (conversation(s, "a"), conversation(s, "b")))
    woken: list[set[str]] = []
    stop = on_outgoing(lambda ids: woken.append(set(ids)))

    def both(connection: Connection) -> None:
        add_replies(connection, "web:a", "web", "a", [Reply("One"), Reply("Two")])
        with joined_session(connection) as session:
            reply(session, "b")
        assert woken == []  # not before the commit

    def fails(connection: Connection) -> None:
        add_replies(connection, "web:a", "web", "a", [Reply("Lost")])
        raise RuntimeError("the transaction fails after writing")

    try:
        run_statements(engine, both)
        assert woken == [{"web:a", "web:b"}]
        with pytest.raises(RuntimeError):
            run_statements(engine, fails)
        run_statements(engine, lambda c: add_replies(c, "web:b", "web", "b", []))
        assert woken == [{"web:a", "web:b"}]  # the failed one and the empty one wake nobody
        run_statements(engine, lambda c: add_replies(c, "web:b", "web", "b", [Reply("Three")]))
        assert woken == [{"web:a", "web:b"}, {"web:b"}]  # nothing of the failed one left over
    finally:
        stop()


def test_other_workers_hear_of_a_reply_through_postgresql(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("NOTIFY is PostgreSQL's; one SQLite node has one worker")

    async def scenario() -> set[str]:
        heard: asyncio.Queue[set[str]] = asyncio.Queue()

        def woken(ids: Iterable[str]) -> None:
            heard.put_nowait(set(ids))

        listener = OutgoingListener(engine.url, woken)
        listener.start()
        try:
            # Written (and committed) as another worker would: a connection of its own.
            await asyncio.to_thread(run_atomic, engine, lambda s: reply(s, "far"))
            first = await asyncio.wait_for(heard.get(), 10)
            # And from the router's transactions without a Session.
            await asyncio.to_thread(
                run_statements,
                engine,
                lambda c: add_replies(c, "web:far", "web", "far", [Reply("Again")]),
            )
            return first | await asyncio.wait_for(heard.get(), 10)
        finally:
            listener.close()

    assert asyncio.run(scenario()) == {"web:far"}
