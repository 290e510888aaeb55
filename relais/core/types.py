"""The records' types: the enums every layer speaks, and time as the records hold it.

All datetimes are naive UTC; the airports' IANA time zones say how to show them locally.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone

#: IATA special service request codes for assistance that a passenger can carry.
SPECIAL_ASSISTANCE_CODES = ("WCHR", "WCHS", "WCHC", "BLND", "DEAF", "DPNA", "UMNR", "MAAS")


def utcnow() -> datetime:
    """Now, as the naive UTC datetimes the records hold."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


class StrEnum(str, enum.Enum):
    """A string enum that formats as its value, so f"{status}" is "delayed" on every Python."""

    def __str__(self) -> str:
        return str(self.value)


class Language(StrEnum):
    EN = "en"  #: English
    FR = "fr"  #: French


class LoyaltyTier(StrEnum):
    BASIC = "basic"  #: entry tier, every member
    SILVER = "silver"  #: second tier
    GOLD = "gold"  #: third tier
    PLATINUM = "platinum"  #: top tier


class FlightStatus(StrEnum):
    ON_TIME = "on_time"  #: expected to leave as scheduled
    DELAYED = "delayed"  #: leaves after its schedule; see `estimated_departure`
    CANCELLED = "cancelled"  #: will not operate


class FareFamily(StrEnum):
    LIGHT = "light"  #: cheapest; no changes, no refund, cabin bag only
    STANDARD = "standard"  #: changes for a fee, one checked bag
    FLEX = "flex"  #: free changes, refundable, two checked bags


class BookingStatus(StrEnum):
    CONFIRMED = "confirmed"  #: ticketed and valid
    CANCELLED = "cancelled"  #: cancelled by the customer or the airline


class BaggageKind(StrEnum):
    DELAYED = "delayed"  #: did not arrive with the passenger
    DAMAGED = "damaged"  #: arrived damaged


class BaggageStatus(StrEnum):
    SEARCHING = "searching"  #: not found yet
    LOCATED = "located"  #: found, not yet sent
    ON_ITS_WAY = "on_its_way"  #: being delivered to the passenger
    DELIVERED = "delivered"  #: handed back to the passenger
    CLOSED = "closed"  #: file closed (settled or compensated)


class RefundStatus(StrEnum):
    REQUESTED = "requested"  #: received, not looked at yet
    PROCESSING = "processing"  #: being checked
    APPROVED = "approved"  #: accepted, payment to follow
    PAID = "paid"  #: money sent back
    REJECTED = "rejected"  #: refused (fare rules)


class Channel(StrEnum):
    TELEGRAM = "telegram"  #: Telegram direct messages
    X = "x"  #: X (Twitter) direct messages
    WEB = "web"  #: the website's chat
    EMAIL = "email"  #: e-mail to customer service
    PHONE = "phone"  #: the call centre


class HandledBy(StrEnum):
    BOT = "bot"  #: the assistant answered alone
    AGENT = "agent"  #: a person took over


# --- conversations -------------------------------------------------------------------------


class State(StrEnum):
    """Who holds a conversation."""

    BOT = "bot"  #: Rasa answers
    WAITING = "waiting"  #: handed over, in the queue; the bot is paused and says nothing
    WITH_AGENT = "with_agent"  #: an agent holds it
    CLOSED = "closed"  #: resolved by an agent; the next customer message reopens it with the bot


class Author(StrEnum):
    CUSTOMER = "customer"
    BOT = "bot"
    AGENT = "agent"
    SYSTEM = "system"  #: handoff, claim, hand back… shown in the transcript, never sent


class Processing(StrEnum):
    """Where an inbound message is in the router."""

    PENDING = "pending"  #: stored, not yet routed (Rasa may be down: it waits, in order)
    DONE = "done"  #: routed: answered by the bot, or given to the human side


class Delivery(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  #: gave up after the last retry (kept, visible to agents)


# --- the human side ------------------------------------------------------------------------


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"  #: also sees the metrics and every conversation
    #: Reviews what the bot could not handle and turns it into training data; takes no queue.
    DESIGNER = "designer"


class EscalationStatus(StrEnum):
    WAITING = "waiting"  #: in the queue
    CLAIMED = "claimed"  #: an agent holds it
    RESOLVED = "resolved"  #: the agent closed it
    HANDED_BACK = "handed_back"  #: the agent gave it back to the bot


OPEN_STATUSES = (EscalationStatus.WAITING, EscalationStatus.CLAIMED)
