"""Who a conversation's customer is, when the channel alone cannot say.

- Web chat: a visitor is a random id in a signed cookie (bot/web_identity.py), and their
  conversation is "web:<visitor id>". Nothing the page sends names a customer: the visitor's
  conversation is bound to one (`bind_web_visitor`) only after the brand's website vouched
  for them with a signed assertion, or, in demo mode, when a demo customer was picked.
- Any channel: a customer the bot cannot identify proves a booking is theirs with its
  reference and a passenger's surname. Each check is recorded (`start_check`, then
  `check_passed`): successes let that conversation see the booking (`proven`), failures are
  limited per conversation and per client network (`check_allowed`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from relais.core.types import State
from relais.storage.conversations import Conversation, ReferenceCheck
from relais.storage.records import Customer

#: Web chat visitor ids start with this (then random letters and digits): a sender id the
#: web chat made is never mistaken for a customer's web identity (relais/storage/queries.py).
VISITOR_PREFIX = "v-"
#: How long a passed check lets its conversation see the booking.
PROVEN_FOR = timedelta(hours=24)
#: Checks are kept at least this long, then deleted.
KEPT_FOR = timedelta(days=1)


def is_visitor_id(identity: str) -> bool:
    return identity.startswith(VISITOR_PREFIX)


def bound_customer(session: Session, conversation_id: str) -> Customer | None:
    """The customer a web visitor's conversation was bound to, if any."""
    conversation = session.get(Conversation, conversation_id)
    if conversation is None or conversation.customer_id is None:
        return None
    return session.get(Customer, conversation.customer_id)


def bind_web_visitor(session: Session, visitor_id: str, customer: Customer) -> Conversation:
    """Makes `customer` the customer of visitor `visitor_id`'s web conversation.

    Called only once the customer is proven (a verified assertion, a demo pick): the caller
    gives each binding a new visitor id, so a conversation never changes customer.
    """
    if not is_visitor_id(visitor_id):
        raise ValueError(f"not a web chat visitor id: {visitor_id!r}")
    conversation_id = f"web:{visitor_id}"
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        conversation = Conversation(
            id=conversation_id,
            channel="web",
            sender=visitor_id,
            state=State.BOT,
            customer_id=customer.id,
            language=str(customer.preferred_language),
        )
        try:
            with session.begin_nested():
                session.add(conversation)
            return conversation
        except IntegrityError:  # the visitor wrote a moment ago (only then can it exist)
            conversation = session.get(Conversation, conversation_id)
            assert conversation is not None
    if conversation.customer_id not in (None, customer.id):
        raise ValueError(f"conversation {conversation_id} belongs to another customer")
    conversation.customer_id = customer.id
    return conversation


def client_network(address: object) -> str | None:
    """What the per-address limit counts for a client address: the address itself for IPv4,
    its /64 for IPv6 (one subscriber gets a whole /64, and could change address at will
    within it); None when there is no usable address."""
    if not isinstance(address, str) or not address.strip():
        return None
    try:
        parsed = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip()[:64]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:  # "::ffff:192.0.2.1" is an IPv4 client
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{parsed}/64", strict=False))
    return str(parsed)


@dataclass(frozen=True)
class CheckLimits:
    """Failed checks allowed per conversation and per client network in `window`."""

    failures: int
    window: timedelta


def _failures(session: Session, since: datetime, *where: object) -> int:
    query = select(func.count(ReferenceCheck.id)).where(
        ReferenceCheck.succeeded.is_(False), ReferenceCheck.at >= since, *where
    )
    return int(session.execute(query).scalar_one())


def start_check(
    session: Session,
    *,
    sender: str,
    network: str | None,
    reference: str,
    now: datetime,
    keep_for: timedelta = KEPT_FOR,
) -> int:
    """Records a check as failed before it is made, and returns its id; deletes the checks
    older than `keep_for` (the longest a limit looks back).

    Committed on its own (not in the caller's transaction), before `check_allowed` counts:
    checks made at the same moment then all see each other, and a crash counts as a failure.
    """
    session.execute(
        delete(ReferenceCheck)
        .where(ReferenceCheck.at < now - max(keep_for, KEPT_FOR, PROVEN_FOR))
        .execution_options(synchronize_session=False)
    )
    check = ReferenceCheck(
        sender=sender,
        network=network,
        reference=reference.upper()[:12],
        succeeded=False,
        holder=False,
        at=now,
    )
    session.add(check)
    session.flush()
    return int(check.id)


def check_allowed(session: Session, check_id: int, now: datetime, limits: CheckLimits) -> bool:
    """Whether started check `check_id` may be made: its conversation and its client network
    failed fewer than `limits.failures` checks in the window before it. A refused check is
    deleted (it was not made, so it does not prolong the wait)."""
    check = session.get(ReferenceCheck, check_id)
    if check is None:
        return False
    since = now - limits.window
    over = _failures(session, since, ReferenceCheck.sender == check.sender) > limits.failures
    if not over and check.network is not None:
        network_failures = _failures(session, since, ReferenceCheck.network == check.network)
        over = network_failures > limits.failures
    if over:
        session.delete(check)
    return not over


def check_passed(session: Session, check_id: int, holder: bool) -> None:
    """Started check `check_id` matched: a success (by the booking's holder, or not)."""
    check = session.get(ReferenceCheck, check_id)
    if check is not None:
        check.succeeded = True
        check.holder = holder


def _proven_query(holder: bool) -> Select:
    checks = ReferenceCheck.__table__
    query = select(checks.c.id).where(
        checks.c.sender == bindparam("sender"),
        checks.c.reference == bindparam("reference"),
        checks.c.succeeded.is_(True),
        checks.c.at >= bindparam("since"),
    )
    if holder:
        query = query.where(checks.c.holder.is_(True))
    return query.limit(1)


#: `proven`'s statements, built once (by anyone, and by the booking's holder).
_PROVEN = {holder: _proven_query(holder) for holder in (False, True)}


def proven(
    session: Session | Connection, sender: str, reference: str, now: datetime, holder: bool = False
) -> bool:
    """Whether this conversation passed a check of `reference` lately (with `holder`: with
    the booking holder's surname)."""
    found = session.execute(
        _PROVEN[holder],
        {"sender": sender, "reference": reference.upper(), "since": now - PROVEN_FOR},
    )
    return found.first() is not None
