"""Leases on SQLite and PostgreSQL: taken, renewed by their owner, refused to another owner
until they expire, let go; and under contention from many threads, held by one at a time."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine

from relais.storage.conversations import Lease
from relais.storage.db import run_atomic
from relais.storage.leases import acquire, release

NOW = datetime(2026, 12, 5, 9, 0, 0)


def take(engine: Engine, owner: str, now: datetime = NOW, seconds: float = 60.0) -> bool:
    return run_atomic(engine, lambda s: acquire(s, "route:web:a", owner, now, seconds))


def holder(engine: Engine) -> tuple[str, datetime] | None:
    row = run_atomic(
        engine, lambda s: s.execute(select(Lease.owner, Lease.expires_at)).one_or_none()
    )
    return (row.owner, row.expires_at) if row else None


def test_a_lease_is_taken_renewed_refused_and_taken_over_once_expired(engine: Engine) -> None:
    assert take(engine, "w1")
    assert holder(engine) == ("w1", NOW + timedelta(seconds=60))
    # Its owner renews it: the expiry moves on.
    assert take(engine, "w1", NOW + timedelta(seconds=30))
    assert holder(engine) == ("w1", NOW + timedelta(seconds=90))
    # Another worker is refused while it runs, and changes nothing.
    assert not take(engine, "w2", NOW + timedelta(seconds=60))
    assert holder(engine) == ("w1", NOW + timedelta(seconds=90))
    # Once it expired (its owner died), another worker takes it over.
    assert take(engine, "w2", NOW + timedelta(seconds=91))
    assert holder(engine) == ("w2", NOW + timedelta(seconds=151))


def test_a_released_lease_is_free_and_only_its_owner_releases_it(engine: Engine) -> None:
    assert take(engine, "w1")
    run_atomic(engine, lambda s: release(s, "route:web:a", "w2"))  # not theirs: kept
    assert holder(engine) is not None and holder(engine)[0] == "w1"  # type: ignore[index]
    run_atomic(engine, lambda s: release(s, "route:web:a", "w1"))
    assert holder(engine) is None
    assert take(engine, "w2")


def test_many_workers_racing_for_a_free_lease_get_it_once(engine: Engine) -> None:
    winners: list[str] = []
    start = threading.Barrier(8)

    def race(owner: str) -> None:
        start.wait()
        if take(engine, owner):
            winners.append(owner)

    threads = [threading.Thread(target=race, args=(f"w{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    assert holder(engine) == (winners[0], NOW + timedelta(seconds=60))
