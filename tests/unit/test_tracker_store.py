"""Relais's tracker store (relais/nlu/tracker_store.py): Rasa's SQL table and rules, with the
database work in threads. On SQLite here; the scale-out test runs it on PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import read_endpoint_config

from relais.nlu.tracker_store import AsyncSQLTrackerStore

DOMAIN = Domain.from_yaml(
    """
version: "3.1"
intents: [greet, ask_flight]
slots:
  booking_reference:
    type: text
    mappings: [{type: custom}]
responses:
  utter_greet: [{text: hello}]
"""
)


@pytest.fixture
def db(tmp_path: Path) -> dict[str, Any]:
    return {"dialect": "sqlite", "db": str(tmp_path / "trackers.db")}


def turn(tracker: DialogueStateTracker, text: str, intent: str) -> None:
    tracker.update(UserUttered(text, {"name": intent, "confidence": 1.0}))
    tracker.update(ActionExecuted("utter_greet"))
    tracker.update(ActionExecuted("action_listen"))


def stored(db: dict[str, Any]) -> list[tuple[str, str, str | None, str | None]]:
    engine = sa.create_engine(f"sqlite:///{db['db']}")
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT sender_id, type_name, intent_name, action_name FROM events ORDER BY id")
        ).all()
    engine.dispose()
    return [tuple(row) for row in rows]


def test_endpoints_yml_names_it_and_rasa_takes_it_as_asynchronous(
    db: dict[str, Any], tmp_path: Path
) -> None:
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text(
        "tracker_store:\n  type: relais.nlu.tracker_store.AsyncSQLTrackerStore\n"
        f"  dialect: sqlite\n  db: {db['db']}\n  threads: 2\n"
    )
    store = TrackerStore.create(read_endpoint_config(str(endpoints), "tracker_store"), DOMAIN)
    # Not wrapped in Rasa's AwaitableTrackerStore: every method Rasa awaits is a coroutine.
    assert type(store) is AsyncSQLTrackerStore
    assert store._threads._max_workers == 2


def test_a_turn_is_stored_once_and_read_back_whole(db: dict[str, Any]) -> None:
    async def scenario() -> tuple[DialogueStateTracker | None, DialogueStateTracker]:
        store = AsyncSQLTrackerStore(DOMAIN, **db)
        tracker = await store.get_or_create_tracker("web:ana")
        turn(tracker, "hi", "greet")
        tracker.update(SlotSet("booking_reference", "XY7T2M"))
        await store.save(tracker)
        await store.save(tracker)  # nothing new: nothing written
        return await store.retrieve("web:ana"), tracker

    back, saved = asyncio.run(scenario())
    assert back is not None and list(back.events) == list(saved.events)
    assert back.get_slot("booking_reference") == "XY7T2M"
    assert stored(db) == [
        ("web:ana", "action", None, "action_listen"),
        ("web:ana", "user", "greet", None),
        ("web:ana", "action", None, "utter_greet"),
        ("web:ana", "action", None, "action_listen"),
        ("web:ana", "slot", None, "booking_reference"),
    ]


def test_rasas_store_and_ours_read_each_others_trackers(db: dict[str, Any]) -> None:
    async def scenario() -> tuple[list[Any], list[Any], list[Any], list[Any]]:
        ours, rasas = AsyncSQLTrackerStore(DOMAIN, **db), SQLTrackerStore(DOMAIN, **db)
        tracker = await ours.get_or_create_tracker("telegram:1")
        turn(tracker, "hi", "greet")
        await ours.save(tracker)
        by_rasa = await rasas.retrieve("telegram:1")
        assert by_rasa is not None
        turn(by_rasa, "when is my flight?", "ask_flight")
        await rasas.save(by_rasa)
        by_us = await ours.retrieve("telegram:1")
        assert by_us is not None
        turn(by_us, "thanks", "greet")
        await ours.save(by_us)
        mine, theirs = await ours.retrieve("telegram:1"), await rasas.retrieve("telegram:1")
        assert mine is not None and theirs is not None
        return list(by_us.events), list(mine.events), list(theirs.events), list(tracker.events)

    by_us, mine, theirs, first = asyncio.run(scenario())
    assert mine == theirs == by_us and len(mine) == len(first) + 6
    assert [e.text for e in mine if isinstance(e, UserUttered)] == [
        "hi",
        "when is my flight?",
        "thanks",
    ]


def test_a_tracker_is_its_latest_session_the_full_tracker_all_of_them(
    db: dict[str, Any],
) -> None:
    async def scenario() -> tuple[Any, Any, Any, Any]:
        ours, rasas = AsyncSQLTrackerStore(DOMAIN, **db), SQLTrackerStore(DOMAIN, **db)
        tracker = await ours.get_or_create_tracker("x:7")
        turn(tracker, "hi", "greet")
        await ours.save(tracker)
        tracker.update(SessionStarted())
        tracker.update(ActionExecuted("action_listen"))
        turn(tracker, "me again", "greet")
        await ours.save(tracker)
        latest = await ours.retrieve("x:7")
        # Rasa hands the store the latest session only: its new events are still appended.
        assert latest is not None
        turn(latest, "and my seat?", "ask_flight")
        await ours.save(latest)
        return (
            await ours.retrieve("x:7"),
            await rasas.retrieve("x:7"),
            await ours.retrieve_full_tracker("x:7"),
            await rasas.retrieve_full_tracker("x:7"),
        )

    latest, rasas_latest, full, rasas_full = asyncio.run(scenario())
    texts = [[e.text for e in t.events if isinstance(e, UserUttered)] for t in (latest, full)]
    assert texts == [["me again", "and my seat?"], ["hi", "me again", "and my seat?"]]
    assert isinstance(latest.events[0], SessionStarted)
    assert list(latest.events) == list(rasas_latest.events)
    assert list(full.events) == list(rasas_full.events)


def test_unknown_conversations_and_keys(db: dict[str, Any]) -> None:
    async def scenario() -> tuple[Any, bool, list[str]]:
        store = AsyncSQLTrackerStore(DOMAIN, **db)
        for sender in ("web:a", "web:b", "web:a"):
            tracker = await store.get_or_create_tracker(sender)
            turn(tracker, "hi", "greet")
            await store.save(tracker)
        return await store.retrieve("web:nobody"), await store.exists("web:b"), await store.keys()

    nobody, exists, keys = asyncio.run(scenario())
    assert nobody is None and exists
    assert sorted(keys) == ["web:a", "web:b"]


def test_no_statement_runs_on_the_event_loops_thread(db: dict[str, Any]) -> None:
    store = AsyncSQLTrackerStore(DOMAIN, **db)
    threads: list[int] = []

    @sa.event.listens_for(store.engine, "before_cursor_execute")
    def record(*_: Any) -> None:
        threads.append(threading.get_ident())

    async def scenario() -> int:
        tracker = await store.get_or_create_tracker("web:ana")
        turn(tracker, "hi", "greet")
        await store.save(tracker)
        await store.retrieve("web:ana")
        await store.retrieve_full_tracker("web:ana")
        await store.keys()
        return threading.get_ident()

    loop_thread = asyncio.run(scenario())
    assert len(threads) >= 6 and loop_thread not in threads
