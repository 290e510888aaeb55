"""Deterministic demo customer records: the fixed customers that docs and tests name, and a crowd.

The content lives in the YAML files of `relais/tools/demo/`, checked when read (`demo_data`): the
airports; the routes, flight numbers, cabins, fares and prices; the fixed records; what the crowd
is drawn from, and how often. The rows depend only on those files and the anchor date: every
random choice comes from one fixed seed, in a fixed order, so the parts below run in this order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from relais.storage.records import RECORD_MODELS, Customer
from relais.tools.demo_bags import add_baggage_reports
from relais.tools.demo_bookings import add_bookings
from relais.tools.demo_contacts import add_contacts
from relais.tools.demo_customers import add_customers
from relais.tools.demo_data import DemoData, load_demo
from relais.tools.demo_fixed import add_fixed_records
from relais.tools.demo_flights import add_flights
from relais.tools.demo_refunds import add_refunds
from relais.tools.demo_rows import DemoRows


@lru_cache(maxsize=1)
def demo() -> DemoData:
    """The shipped demo files, read and checked on first use (never at import)."""
    return load_demo()


def fixed_references() -> tuple[str, ...]:
    """Booking references of the fixed records (generated ones avoid them)."""
    return demo().references


def fixed_flight_numbers() -> tuple[str, ...]:
    """Flight numbers of the fixed records (generated ones avoid them)."""
    return tuple(sorted(f["number"] for f in demo().fixed["flights"]))


@dataclass(frozen=True)
class SeedReport:
    """What `seed` did: whether it created the records, and how many rows each table holds."""

    created: bool
    counts: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        state = "created" if self.created else "already present"
        rows = ", ".join(f"{count} {table}" for table, count in self.counts.items())
        return f"demo records {state}: {rows}"


def seed(session: Session, *, anchor: date, reset: bool = False) -> SeedReport:
    """Adds the demo records around `anchor` unless customers exist (then does nothing).

    `reset=True` first deletes every customer-record row (and forgets the session's objects).
    The caller commits, e.g. with `relais.storage.db.session_scope()`.
    """
    if reset:
        for model in reversed(RECORD_MODELS):
            session.execute(delete(model.__table__))
        session.expunge_all()
    elif session.execute(select(Customer.id).limit(1)).first() is not None:
        return SeedReport(created=False, counts=record_counts(session))

    for rows in build(anchor, demo()).tables():
        # Always the same order of adds (and of cascades from them): the same ids everywhere.
        session.add_all(rows)
    session.flush()
    return SeedReport(created=True, counts=record_counts(session))


def build(anchor: date, data: DemoData) -> DemoRows:
    """Every demo row around `anchor`, in memory."""
    rows = DemoRows(anchor, data)
    add_fixed_records(rows)
    add_customers(rows)
    returns = add_flights(rows)
    add_bookings(rows, returns)
    add_baggage_reports(rows)
    add_refunds(rows)
    add_contacts(rows)
    return rows


def record_counts(session: Session) -> dict[str, int]:
    """Rows per customer-record table."""
    return {
        model.__tablename__: session.execute(select(func.count()).select_from(model)).scalar_one()
        for model in RECORD_MODELS
    }
