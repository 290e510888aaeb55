"""What the gateway stores: conversations, every message in and out, and the outbox.

Datetimes are naive UTC, as in the customer records. A conversation's id is
"<channel>:<sender>" ("web:demo-camille", "telegram:100001"): the same id is the Rasa sender
id, so the tracker, the transcript and the customer's records line up.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import relationship

from relais.core.types import Author, Delivery, Processing, State, utcnow
from relais.storage.db import Base
from relais.storage.records import _enum


class Conversation(Base):
    __tablename__ = "conversations"

    id = Column(String(200), primary_key=True)  #: "<channel>:<sender>"
    channel = Column(String(20), nullable=False)
    sender = Column(String(160), nullable=False)  #: the platform's id for the customer
    customer_id = Column(Integer, ForeignKey("customers.id", ondelete="SET NULL"))
    state = Column(_enum(State, "state"), nullable=False, default=State.BOT)
    language = Column(String(5))
    agent_id = Column(Integer, ForeignKey("agents.id", ondelete="SET NULL"))
    created_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    last_customer_at = Column(DateTime)
    #: The Rasa side of an agent's resolve or hand-back, still to do because Rasa could not
    #: be reached: "resume" (resume the tracker) or "hand_back" (resume, then the follow-up).
    #: None when done. The tracker sync retries it (handoff/desk.py), and the router holds
    #: the conversation's messages until then: a paused tracker would answer nothing.
    rasa_pending = Column(String(20))

    messages = relationship("Message", back_populates="conversation", order_by="Message.id")

    __table_args__ = (
        UniqueConstraint("channel", "sender"),
        Index("ix_conversations_rasa_pending", "rasa_pending"),
    )


class Message(Base):
    """One line of the transcript: from the customer, the bot, an agent, or the system."""

    __tablename__ = "messages"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(
        String(200), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    author = Column(_enum(Author, "author"), nullable=False)
    agent_id = Column(Integer, ForeignKey("agents.id", ondelete="SET NULL"))
    #: The channel's own id of an inbound message: the same id twice is stored once.
    platform_id = Column(String(120))
    channel = Column(String(20), nullable=False)
    text = Column(Text, nullable=False, default="")
    #: [{"kind": "photo"|"document"|…, "ref": platform file id, "name": …}]
    attachments = Column(JSON, nullable=False, default=list)
    #: [{"title": …, "payload": …}] offered with a bot message
    buttons = Column(JSON, nullable=False, default=list)
    #: What Rasa said about an inbound message (intent, anger…) or a system event's details.
    details = Column(JSON, nullable=False, default=dict)
    sent_at = Column(DateTime, nullable=False)  #: when the customer sent it, or when we wrote it
    created_at = Column(DateTime, nullable=False, default=utcnow)
    processing = Column(_enum(Processing, "processing"))
    processed_at = Column(DateTime)
    #: Logged into the Rasa tracker (messages handled by a person).
    in_tracker = Column(Boolean, nullable=False, default=False)
    #: The router is about to send (or sent) this message to Rasa. Written before the call,
    #: so that after a crash the router reads the replies from the tracker instead of asking
    #: twice. The server default lets a worker of an older version insert messages too.
    sent_to_rasa = Column(Boolean, nullable=False, default=False, server_default=false())
    #: What goes to Rasa instead of `text`: a numbered choice's payload, or a burst's lines
    #: joined (None: the text itself).
    routed_text = Column(Text)

    conversation = relationship("Conversation", back_populates="messages")

    __table_args__ = (
        UniqueConstraint("channel", "platform_id"),
        Index("ix_messages_pending", "processing", "conversation_id", "id"),
    )


class OutboxItem(Base):
    """A message to deliver to a customer's channel; delivered exactly once, retried until then."""

    __tablename__ = "outbox"

    id = Column(Integer, primary_key=True)
    message_id = Column(
        Integer, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    conversation_id = Column(
        String(200), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    channel = Column(String(20), nullable=False)
    recipient = Column(String(160), nullable=False)
    status = Column(_enum(Delivery, "delivery"), nullable=False, default=Delivery.PENDING)
    attempts = Column(Integer, nullable=False, default=0)
    next_attempt_at = Column(DateTime, nullable=False, default=utcnow)
    last_error = Column(Text)
    delivered_at = Column(DateTime)
    platform_ids = Column(JSON, nullable=False, default=list)  #: the channel's ids of what it sent
    created_at = Column(DateTime, nullable=False, default=utcnow)

    message = relationship("Message")

    __table_args__ = (Index("ix_outbox_due", "status", "channel", "next_attempt_at"),)


class ChannelState(Base):
    """A channel's own bookkeeping that must survive restarts (e.g. a polling position)."""

    __tablename__ = "channel_state"

    channel = Column(String(20), primary_key=True)
    key = Column(String(120), primary_key=True)
    value = Column(Text, nullable=False)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)


class Lease(Base):
    """Who may work on something shared by several Relais workers, until when
    (relais/storage/leases.py)."""

    __tablename__ = "leases"

    name = Column(String(220), primary_key=True)  #: "route:<conversation id>", "deliver:…"
    owner = Column(String(120), nullable=False)  #: the worker's id
    expires_at = Column(DateTime, nullable=False)


class ReferenceCheck(Base):
    """A booking reference checked with a surname for a customer the bot cannot identify
    (actions/lookup.py, relais/storage/identity.py). Failures are what the limits count, per
    conversation and per client network; a success is what lets that conversation see the
    booking. In the database, so every action server counts the same checks; rows older than
    a day are deleted."""

    __tablename__ = "reference_checks"

    id = Column(Integer, primary_key=True)
    #: The conversation (Rasa's sender id, "web:v-…", "telegram:…") that made the check.
    sender = Column(String(200), nullable=False)
    #: The client's network as the gateway saw it (an IPv4 address, an IPv6 /64); None on a
    #: channel that gives none (Telegram, X: their platform is the client).
    network = Column(String(64))
    reference = Column(String(12), nullable=False)
    succeeded = Column(Boolean, nullable=False)
    #: The surname was the booking holder's, not only a passenger's: their loyalty account
    #: may be shown too.
    holder = Column(Boolean, nullable=False, default=False)
    at = Column(DateTime, nullable=False, index=True)

    __table_args__ = (
        Index("ix_reference_checks_sender", "sender", "at"),
        Index("ix_reference_checks_network", "network", "at"),
    )
