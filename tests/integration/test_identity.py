"""Who a conversation's customer is (relais/storage/identity.py), on SQLite and PostgreSQL:
web visitors bound only once proven, and the booking checks' ledger and limits."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from relais.core.types import Language, LoyaltyTier
from relais.storage.db import run_atomic
from relais.storage.identity import (
    CheckLimits,
    bind_web_visitor,
    check_allowed,
    check_passed,
    proven,
    start_check,
)
from relais.storage.messages import conversation_for
from relais.storage.queries import customer_for_sender
from relais.storage.records import Customer

NOW = datetime(2026, 12, 4, 12, 0)
LIMITS = CheckLimits(failures=2, window=timedelta(hours=1))


def customer(session: Session, web_id: str) -> Customer:
    found = Customer(
        full_name="Ada Example",
        email=f"{web_id}@example.org",
        preferred_language=Language.EN,
        loyalty_tier=LoyaltyTier.GOLD,
        web_chat_id=web_id,
    )
    session.add(found)
    session.flush()
    return found


def test_a_web_visitor_is_a_customer_only_once_bound(session: Session) -> None:
    ada = customer(session, "ada-1")
    # A visitor id that happens to be a customer's web identity names nobody.
    customer(session, "v-0123456789abcdef0123456789abcdef")
    assert customer_for_sender(session, "web:v-0123456789abcdef0123456789abcdef") is None
    visitor = "v-" + "a" * 32
    conversation_for(session, "web", visitor)  # wrote before being proven: still nobody
    assert customer_for_sender(session, f"web:{visitor}") is None
    bound = bind_web_visitor(session, visitor, ada)
    assert bound.customer_id == ada.id
    assert customer_for_sender(session, f"web:{visitor}") is ada
    # A new visitor is bound from the start, conversation and language included.
    fresh = bind_web_visitor(session, "v-" + "b" * 32, ada)
    assert fresh.customer_id == ada.id and fresh.language == "en"
    # Callers of the REST channel still name a customer by their web identity.
    assert customer_for_sender(session, "web:ada-1") is ada
    other = customer(session, "bob-1")
    with pytest.raises(ValueError, match="another customer"):
        bind_web_visitor(session, visitor, other)
    with pytest.raises(ValueError, match="visitor id"):
        bind_web_visitor(session, "ada-1", ada)


def check(engine: Engine, sender: str, network: str | None, at: datetime) -> tuple[int, bool]:
    check_id = run_atomic(
        engine,
        lambda s: start_check(s, sender=sender, network=network, reference="XY7T2M", now=at),
    )
    return check_id, run_atomic(engine, lambda s: check_allowed(s, check_id, at, LIMITS))


def test_failed_checks_are_limited_per_sender_and_per_network(engine: Engine) -> None:
    for minute in range(2):
        assert check(engine, "web:v-1", "192.0.2.1", NOW + timedelta(minutes=minute))[1]
    # Past the limit: refused for the same sender from elsewhere, and for the same network
    # from a new sender; a refused check is not counted (it was not made).
    assert not check(engine, "web:v-1", "192.0.2.9", NOW + timedelta(minutes=3))[1]
    assert not check(engine, "web:v-2", "192.0.2.1", NOW + timedelta(minutes=4))[1]
    assert check(engine, "web:v-3", None, NOW + timedelta(minutes=5))[1]
    # Once the failures leave the window, checks are made again.
    assert check(engine, "web:v-1", "192.0.2.1", NOW + timedelta(minutes=61))[1]


def test_a_passed_check_proves_the_reference_for_its_sender_a_day(engine: Engine) -> None:
    check_id, allowed = check(engine, "telegram:42", None, NOW)
    assert allowed
    run_atomic(engine, lambda s: check_passed(s, check_id, holder=False))
    seen = lambda sender, at, holder=False: run_atomic(  # noqa: E731
        engine, lambda s: proven(s, sender, "xy7t2m", at, holder=holder)
    )
    assert seen("telegram:42", NOW + timedelta(hours=1))
    assert not seen("telegram:42", NOW + timedelta(hours=1), holder=True)
    assert not seen("telegram:43", NOW + timedelta(hours=1))
    assert not seen("telegram:42", NOW + timedelta(hours=25))
    # A success is no failure: the limit still allows checks.
    assert check(engine, "telegram:42", None, NOW + timedelta(minutes=1))[1]
