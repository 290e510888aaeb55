"""What the human side stores: agents and their logins, escalations, notes, canned replies."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import relationship
from sqlalchemy.sql.expression import false

from relais.core.types import EscalationStatus, Role, utcnow
from relais.storage.db import Base
from relais.storage.records import _enum


class Agent(Base):
    __tablename__ = "agents"

    id = Column(Integer, primary_key=True)
    username = Column(String(60), nullable=False, unique=True)
    display_name = Column(String(120), nullable=False)
    #: "scrypt$n$r$p$salt$hash" (hex), see handoff.auth
    password_hash = Column(String(300), nullable=False)
    role = Column(_enum(Role, "role"), nullable=False, default=Role.AGENT)
    #: How many conversations the agent may hold at once.
    capacity = Column(Integer, nullable=False, default=3)
    #: Languages the agent answers in ("en", "fr").
    languages = Column(JSON, nullable=False, default=lambda: ["en", "fr"])
    active = Column(Boolean, nullable=False, default=True)
    last_seen_at = Column(DateTime)  #: the console's last request: "online" is recent


class AgentSession(Base):
    """A console login: only the SHA-256 of the cookie's token is stored."""

    __tablename__ = "agent_sessions"

    token_hash = Column(String(64), primary_key=True)
    agent_id = Column(Integer, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    expires_at = Column(DateTime, nullable=False)

    agent = relationship("Agent")


class LoginAttempt(Base):
    """A console login that failed, or is being checked: what the login limits count (per
    username and per client address). In the database, so every worker counts the same
    attempts; rows older than the limits' window are deleted."""

    __tablename__ = "login_attempts"

    id = Column(Integer, primary_key=True)
    #: SHA-256 of the username as typed (trimmed, lower case): a password typed into the
    #: username box is not kept readable.
    username_hash = Column(String(64), nullable=False)
    address = Column(String(64), nullable=False)
    at = Column(DateTime, nullable=False, index=True)

    __table_args__ = (
        Index("ix_login_attempts_username", "username_hash", "at"),
        Index("ix_login_attempts_address", "address", "at"),
    )


class Escalation(Base):
    """One handoff of a conversation to the human side, from intake to resolution."""

    __tablename__ = "escalations"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(
        String(200), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    channel = Column(String(20), nullable=False)
    status = Column(
        _enum(EscalationStatus, "escalation_status"),
        nullable=False,
        default=EscalationStatus.WAITING,
    )
    reasons = Column(JSON, nullable=False, default=list)
    priority = Column(Integer, nullable=False)
    intent = Column(String(60))
    language = Column(String(5))
    summary = Column(Text, nullable=False, default="")
    #: Everything the bot knew: booking, entities, anger, slots (from the handoff payload).
    context = Column(JSON, nullable=False, default=dict)
    #: A booking reference the customer typed but did not prove (no surname): the console
    #: shows that booking's records marked "not verified". A proven booking is the context's
    #: "booking_reference" instead.
    typed_reference = Column(String(12))
    created_at = Column(DateTime, nullable=False, default=utcnow)
    #: When a person must first answer (priority and channel targets from brand.yml).
    deadline = Column(DateTime, nullable=False)
    #: The wait the customer was told, in seconds (None: told when agents are back).
    estimate_seconds = Column(Float)
    agent_id = Column(Integer, ForeignKey("agents.id", ondelete="SET NULL"))
    claimed_at = Column(DateTime)
    first_reply_at = Column(DateTime)  #: the first agent reply to the customer
    last_agent_activity_at = Column(DateTime)
    closed_at = Column(DateTime)
    #: How many times it went back to the queue (agent silent, released, transferred).
    requeued = Column(Integer, nullable=False, default=0)
    #: The agent's one line on what the customer wanted (resolve or hand-back), for designers.
    customer_wanted = Column(Text)
    #: The agent marked it "the bot should have handled this": it goes to the review inbox.
    bot_should_handle = Column(Boolean, nullable=False, default=False, server_default=false())

    agent = relationship("Agent")

    __table_args__ = (
        Index("ix_escalations_queue", "status", "priority", "deadline"),
        Index("ix_escalations_conversation", "conversation_id", "status"),
        #: What an agent holds: the capacity check of every claim reads only their rows.
        Index("ix_escalations_held", "agent_id", "status"),
    )


class Note(Base):
    """A private note on a conversation: agents see it, the customer never does."""

    __tablename__ = "notes"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(
        String(200), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    agent_id = Column(Integer, ForeignKey("agents.id", ondelete="SET NULL"))
    text = Column(Text, nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)

    agent = relationship("Agent")


class CannedResponse(Base):
    """A reply agents insert and edit; {first_name} and {reference} are filled in the console."""

    __tablename__ = "canned_responses"

    id = Column(Integer, primary_key=True)
    title = Column(String(120), nullable=False)
    language = Column(String(5), nullable=False)
    text = Column(Text, nullable=False)
