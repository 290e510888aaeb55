"""What the designers' review loop and the satisfaction ratings store.

- `Rating`: one question "how did we do?" asked of a customer, when an agent resolved their
  conversation or when a bot-only conversation ended; the score (1-5) and an optional comment
  once they answer. `handled_by` says who helped them (the bot or a person).
- `ReviewLabel`: what a designer made of one customer message: the right intent (an existing
  one or a new name), entity spans, or "not for training"; exported once accepted.
- `ReviewStory`: a whole conversation a designer turned into a test story.
- `ReviewDone`: a conversation a designer has finished reviewing (it leaves the inbox).
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import relationship

from relais.core.types import utcnow
from relais.storage.db import Base

#: Who helped the customer a rating is about.
HANDLED_BY_BOT = "bot"
HANDLED_BY_PERSON = "person"


class Rating(Base):
    __tablename__ = "ratings"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(
        String(200), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    #: The escalation a person resolved; None for a bot-only conversation.
    escalation_id = Column(Integer, ForeignKey("escalations.id", ondelete="SET NULL"))
    channel = Column(String(20), nullable=False)
    language = Column(String(5), nullable=False)
    handled_by = Column(String(10), nullable=False)  #: HANDLED_BY_BOT or HANDLED_BY_PERSON
    agent_id = Column(Integer, ForeignKey("agents.id", ondelete="SET NULL"))
    #: The escalation's reasons (empty for the bot): satisfaction by reason.
    reasons = Column(JSON, nullable=False, default=list)
    asked_at = Column(DateTime, nullable=False, default=utcnow)
    score = Column(Integer)  #: 1-5; None until the customer answers
    answered_at = Column(DateTime)
    comment = Column(Text)  #: free text after a low score, shown in the review inbox
    comment_at = Column(DateTime)

    agent = relationship("Agent")

    __table_args__ = (Index("ix_ratings_conversation", "conversation_id", "asked_at"),)


class ReviewLabel(Base):
    __tablename__ = "review_labels"

    id = Column(Integer, primary_key=True)
    message_id = Column(
        Integer, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False, unique=True
    )
    conversation_id = Column(String(200), nullable=False, index=True)
    #: The intent the message should have had: an existing one or a new name.
    intent = Column(String(60))
    #: Entity spans on the message's text: [{"start", "end", "entity", "value"}].
    entities = Column(JSON, nullable=False, default=list)
    #: "Not for training": kept out of every export.
    excluded = Column(Boolean, nullable=False, default=False)
    language = Column(String(5))
    designer_id = Column(Integer, ForeignKey("agents.id", ondelete="SET NULL"))
    created_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)
    exported_at = Column(DateTime)  #: written to data/nlu/review/<date>.yml
    export_file = Column(String(200))


class ReviewStory(Base):
    __tablename__ = "review_stories"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(
        String(200), ForeignKey("conversations.id", ondelete="CASCADE"), nullable=False
    )
    name = Column(String(200), nullable=False)
    designer_id = Column(Integer, ForeignKey("agents.id", ondelete="SET NULL"))
    created_at = Column(DateTime, nullable=False, default=utcnow)
    exported_at = Column(DateTime)  #: written to tests/stories/review/<date>.yml
    export_file = Column(String(200))


class ReviewDone(Base):
    __tablename__ = "review_done"

    conversation_id = Column(
        String(200), ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    designer_id = Column(Integer, ForeignKey("agents.id", ondelete="SET NULL"))
    done_at = Column(DateTime, nullable=False, default=utcnow)
