"""Agent accounts: add one, disable one, set a password (`relais agent …` calls these).

Each function takes a Session and leaves the commit to the caller; a request that cannot be
done raises AccountError with a sentence for the operator.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from handoff.auth import end_sessions, hash_password, normal_username, password_problem
from handoff.queue import requeue
from relais.core.types import EscalationStatus, Role
from relais.storage.escalations import Agent, Escalation

#: Lower case (logins are matched in lower case), no spaces, fits agents.username.
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,59}")
MAX_CAPACITY = 50


class AccountError(ValueError):
    """An account request that cannot be done: a taken or unknown username, a weak password."""


@dataclass(frozen=True)
class Disabled:
    sessions_ended: int
    requeued: int


def check_username(username: str) -> str:
    name = normal_username(username)
    if not USERNAME.fullmatch(name):
        raise AccountError(
            f"{username!r} is not a valid username: 2-60 characters, lower-case letters, digits "
            "and . _ -, starting with a letter or a digit"
        )
    return name


def check_password_for(username: str, password: str) -> None:
    problem = password_problem(password, username)
    if problem:
        raise AccountError(problem)


def find_agent(session: Session, username: str) -> Agent | None:
    return (
        session.execute(select(Agent).where(Agent.username == normal_username(username)))
        .scalars()
        .first()
    )


def _find(session: Session, username: str) -> Agent:
    agent = find_agent(session, username)
    if agent is None:
        raise AccountError(f"no agent is called {normal_username(username)!r}")
    return agent


def add_agent(
    session: Session,
    username: str,
    password: str,
    role: Role = Role.AGENT,
    name: str | None = None,
    capacity: int = 3,
) -> Agent:
    username = check_username(username)
    check_password_for(username, password)
    display = (name if name is not None else username.title()).strip()
    if not display or len(display) > 120:
        raise AccountError("the display name must be 1-120 characters")
    if not 1 <= capacity <= MAX_CAPACITY:
        raise AccountError(f"capacity must be between 1 and {MAX_CAPACITY} conversations")
    taken = find_agent(session, username)
    if taken is not None:
        state = "" if taken.active else " (disabled)"
        raise AccountError(f"the username {username!r} is taken{state}")
    agent = Agent(
        username=username,
        display_name=display,
        role=role,
        capacity=capacity,
        password_hash=hash_password(password),
        active=True,
    )
    session.add(agent)
    session.flush()
    return agent


def disable_agent(session: Session, username: str) -> Disabled:
    """The agent can no longer log in: their logins end now, and the conversations they hold
    go back to the queue (rather than waiting for the silence limit)."""
    agent = _find(session, username)
    if not agent.active:
        raise AccountError(f"{agent.username!r} is already disabled")
    agent.active = False
    held = list(
        session.execute(
            select(Escalation).where(
                Escalation.agent_id == agent.id, Escalation.status == EscalationStatus.CLAIMED
            )
        ).scalars()
    )
    for escalation in held:
        requeue(
            session,
            escalation,
            f"Back to the queue: {agent.display_name}'s account was disabled.",
            agent.id,
        )
    return Disabled(sessions_ended=end_sessions(session, agent.id), requeued=len(held))


def set_password(session: Session, username: str, password: str) -> int:
    """A new password; the agent's logins end (a password is changed when it may be known).
    Returns how many logins ended."""
    agent = _find(session, username)
    check_password_for(agent.username, password)
    agent.password_hash = hash_password(password)
    return end_sessions(session, agent.id)
