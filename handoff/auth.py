"""Agent logins: scrypt password hashes, and session tokens of which only a hash is stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from relais.storage.escalations import Agent, AgentSession

# scrypt's cost: 2^14 × 8 × 128 bytes = 16 MiB of memory per check; tens of milliseconds.
_N, _R, _P = 2**14, 8, 1


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


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def log_in(
    session: Session, username: str, password: str, now: datetime, hours: float
) -> tuple[Agent, str] | None:
    """(agent, token for the cookie) when the password is right, else None."""
    agent = (
        session.execute(select(Agent).where(Agent.username == username.strip().lower()))
        .scalars()
        .first()
    )
    if agent is None or not agent.active or not check_password(password, agent.password_hash):
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
