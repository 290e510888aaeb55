"""Rasa's SQL tracker store, with its database work off Rasa's event loop.

Rasa 3.6's `SQLTrackerStore` reads and writes trackers with blocking SQLAlchemy calls made by
the coroutine that serves the message: while PostgreSQL answers, the Rasa server serves no
one else. `AsyncSQLTrackerStore` keeps Rasa's table (`events`: same columns, same rows, so it
can take over a database Rasa's store wrote, and back) and Rasa's idea of a tracker (the
events of the latest session, in id order), but runs every statement in a small pool of
threads, and in fewer of them: Core statements without a transaction around them, and the
new events of a turn in one multi-row INSERT. A Rasa server names it in its endpoints.yml
(README, "Scale-out"; docs/tracker-store.md has the measurements that chose it):

    tracker_store:
      type: relais.nlu.tracker_store.AsyncSQLTrackerStore
      dialect: postgresql
      url: <postgres host>
      db: relais_rasa
      username: postgres
      login_db: postgres
      threads: 4          # optional: statements in flight at once (default 4)
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Statements in flight at once, per Rasa server, unless endpoints.yml says `threads:`.
DEFAULT_THREADS = 4


class AsyncSQLTrackerStore(SQLTrackerStore):
    """Trackers in Rasa's SQL table, read and written from threads, not the event loop."""

    def __init__(self, domain: Any = None, threads: int = DEFAULT_THREADS, **kwargs: Any) -> None:
        # Rasa's constructor creates the database (login_db), the table and an engine.
        super().__init__(domain, **kwargs)
        url = self.engine.url
        self.engine.dispose()
        # Our own engine: with login_db, Rasa's second engine drops the pool size and the
        # schema it configured for PostgreSQL. AUTOCOMMIT: a read is one round trip, with no
        # BEGIN and ROLLBACK around it; a turn's events go in one INSERT, atomic by itself.
        options = create_engine_kwargs(url)
        if "pool_size" in options:
            options["pool_size"] = max(int(options["pool_size"]), int(threads))
        self.engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", **options)
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        self._events = self.SQLEvent.__table__
        self._threads = ThreadPoolExecutor(int(threads), thread_name_prefix="tracker-store")

    async def _off_loop(self, work: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._threads, work, *args)

    async def keys(self) -> Iterable[str]:
        """The conversation ids that have events."""
        return await self._off_loop(self._senders)

    async def _retrieve(
        self, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> DialogueStateTracker | None:
        events = await self._off_loop(self._load, sender_id, fetch_events_from_all_sessions)
        if not events:
            logger.debug("no tracker stored for conversation %r", sender_id)
            return None
        return DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Appends the tracker's events that are not stored yet."""
        await self.stream_events(tracker)
        # A copy of the list, made on the loop; the events themselves are not changed once
        # made, and Rasa's lock keeps anyone else from this conversation until we return.
        await self._off_loop(self._append, tracker.sender_id, list(tracker.events))

    # What runs in the threads.

    def _latest_session(self, sender_id: str) -> list[Any]:
        """Rasa's filter: the events since the latest session start (all, if none)."""
        events = self._events.c
        start = (
            sa.select(sa.func.max(events.timestamp))
            .where(events.sender_id == sender_id, events.type_name == SessionStarted.type_name)
            .scalar_subquery()
        )
        return [events.sender_id == sender_id, sa.or_(events.timestamp >= start, start.is_(None))]

    def _load(self, sender_id: str, all_sessions: bool) -> list[dict[str, Any]]:
        events = self._events.c
        where = [events.sender_id == sender_id] if all_sessions else self._latest_session(sender_id)
        query = sa.select(events.data).where(*where).order_by(events.id)
        with self.engine.connect() as connection:
            rows = connection.execute(query).scalars().all()
        return [json.loads(row) for row in rows]

    def _append(self, sender_id: str, events: list[Event]) -> None:
        count = sa.select(sa.func.count()).select_from(self._events)
        with self.engine.connect() as connection:
            # The tracker holds the latest session; what the table has of it is already saved.
            stored = connection.execute(count.where(*self._latest_session(sender_id))).scalar()
            rows = [_row(sender_id, event) for event in events[stored or 0 :]]
            if rows:
                connection.execute(self._events.insert(), rows)
        logger.debug("saved %d events of conversation %r", len(rows), sender_id)

    def _senders(self) -> list[str]:
        with self.engine.connect() as connection:
            query = sa.select(self._events.c.sender_id).distinct()
            return list(connection.execute(query).scalars().all())


def _row(sender_id: str, event: Event) -> dict[str, Any]:
    """The `events` row Rasa's SQL tracker store writes for `event`."""
    data = event.as_dict()
    return {
        "sender_id": sender_id,
        "type_name": event.type_name,
        "timestamp": data.get("timestamp"),
        "intent_name": ((data.get("parse_data") or {}).get("intent") or {}).get(INTENT_NAME_KEY),
        "action_name": data.get("name"),
        "data": json.dumps(data),
    }
