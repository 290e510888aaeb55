"""Agent logins: scrypt password hashes, session tokens of which only a hash is stored, and
the limits on failed logins (per username and per client address, counted in the database).

Login limits: each login first writes its attempt and commits it, then counts the attempts in
the window. Counting after committing is what makes the limit hold across workers and racing
requests: of N simultaneous guesses, the last to count sees all N. A refused attempt is
deleted (no password was checked); a failed one stays (it is a failure); a successful one is
deleted with the earlier failures of that username from that address.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from relais.core.config import settings
from relais.storage.escalations import Agent, AgentSession, LoginAttempt

# scrypt's cost: 2^14 × 8 × 128 bytes = 16 MiB of memory per check; tens of milliseconds.
_N, _R, _P = 2**14, 8, 1
#: The password every demo database once had (`relais seed` before passwords were generated):
#: refused outside demo mode, so agents seeded by an older version are not open to it.
OLD_DEMO_PASSWORD = "relais-demo"
#: The shortest password `relais agent` accepts for an agent (hash_password's floor of 8 is
#: for the demo password an operator sets in RELAIS_DEMO_PASSWORD).
MIN_PASSWORD = 12


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if kind != "scrypt":
        return False
    candidate = hashlib.scrypt(
        password.encode(),
        salt=bytes.fromhex(salt),
        n=int(n),
        r=int(r),
        p=int(p),
        dklen=len(digest) // 2,
    )
    return hmac.compare_digest(candidate.hex(), digest)


def generate_password() -> str:
    """A random password (20 characters, 120 bits) for `--generate` and the demo agents."""
    return secrets.token_urlsafe(15)


def password_problem(password: str, username: str) -> str | None:
    """Why `password` may not be this agent's, or None when it may."""
    if len(password) < MIN_PASSWORD:
        return f"a password needs at least {MIN_PASSWORD} characters"
    if username.strip().lower() in password.lower():
        return "a password must not contain the username"
    if len(set(password)) < 5:
        return "a password needs more than a few different characters"
    return None


@lru_cache(maxsize=1)
def dummy_hash() -> str:
    """What the password of an unknown username is checked against: the same scrypt work as
    for a known one, so the answer's timing does not tell which usernames exist."""
    return hash_password(secrets.token_urlsafe(16))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def normal_username(username: str) -> str:
    return username.strip().lower()


def log_in(
    session: Session, username: str, password: str, now: datetime, hours: float
) -> tuple[Agent, str] | None:
    """(agent, token for the cookie) when the password is right, else None."""
    agent = (
        session.execute(select(Agent).where(Agent.username == normal_username(username)))
        .scalars()
        .first()
    )
    # Always one scrypt check, whoever asks: unknown and disabled agents take as long.
    right = check_password(password, agent.password_hash if agent is not None else dummy_hash())
    if password == OLD_DEMO_PASSWORD and not settings().demo:
        right = False
    if agent is None or not agent.active or not right:
        return None
    token = secrets.token_urlsafe(32)
    session.add(
        AgentSession(
            token_hash=_token_hash(token),
            agent_id=agent.id,
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
    )
    session.execute(delete(AgentSession).where(AgentSession.expires_at < now))
    agent.last_seen_at = now
    return agent, token


def agent_for_token(session: Session, token: str | None, now: datetime) -> Agent | None:
    if not token:
        return None
    found = session.get(AgentSession, _token_hash(token))
    if found is None or found.expires_at < now or not found.agent.active:
        return None
    found.agent.last_seen_at = now
    return found.agent


def log_out(session: Session, token: str) -> None:
    session.execute(delete(AgentSession).where(AgentSession.token_hash == _token_hash(token)))


def end_sessions(session: Session, agent_id: int) -> int:
    """Logs the agent out everywhere (disabled, or a new password); returns how many logins."""
    ended = session.execute(delete(AgentSession).where(AgentSession.agent_id == agent_id))
    return int(ended.rowcount or 0)


# --- login limits ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginLimits:
    """Failed logins allowed in `window`, per username and per client address (handoff.yml)."""

    per_username: int
    per_address: int
    window: timedelta


def _username_key(username: str) -> str:
    return hashlib.sha256(normal_username(username).encode()).hexdigest()


def start_attempt(
    session: Session, username: str, address: str, now: datetime, limits: LoginLimits
) -> int:
    """Records a login about to be checked; returns its id. The caller commits before
    `wait_before_login` counts. Attempts older than the window are deleted here."""
    session.execute(delete(LoginAttempt).where(LoginAttempt.at < now - limits.window))
    attempt = LoginAttempt(username_hash=_username_key(username), address=address[:64], at=now)
    session.add(attempt)
    session.flush()
    return int(attempt.id)


def wait_before_login(session: Session, attempt_id: int, now: datetime, limits: LoginLimits) -> int:
    """Seconds before attempt `attempt_id` may be checked: 0 for now, else until enough of the
    attempts counted against it have left the window for one more (the Retry-After)."""
    attempt = session.get(LoginAttempt, attempt_id)
    if attempt is None:
        return 0
    wait = 0
    for column, value, limit in (
        (LoginAttempt.username_hash, attempt.username_hash, limits.per_username),
        (LoginAttempt.address, attempt.address, limits.per_address),
    ):
        others = list(
            session.execute(
                select(LoginAttempt.at)
                .where(
                    column == value,
                    LoginAttempt.at > now - limits.window,
                    LoginAttempt.id != attempt_id,
                )
                .order_by(LoginAttempt.at)
            ).scalars()
        )
        if len(others) >= limit:
            # One more try once all but limit - 1 of them are older than the window.
            frees_at = others[len(others) - limit] + limits.window
            wait = max(wait, math.ceil((frees_at - now).total_seconds()), 1)
    return wait


def forget_attempt(session: Session, attempt_id: int) -> None:
    """A refused attempt: no password was checked, so it is no failure."""
    session.execute(delete(LoginAttempt).where(LoginAttempt.id == attempt_id))


def login_succeeded(session: Session, attempt_id: int) -> None:
    """Clears the attempt and the username's earlier failures from the same address (an
    agent's own typos); failures from elsewhere still count against the username."""
    attempt = session.get(LoginAttempt, attempt_id)
    if attempt is None:
        return
    session.execute(
        delete(LoginAttempt).where(
            LoginAttempt.username_hash == attempt.username_hash,
            LoginAttempt.address == attempt.address,
        )
    )
