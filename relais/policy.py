"""The escalation policy: one pure function that decides whether a person takes over.

The live bot (actions/) and `relais triage` both call `decide`; nothing else decides a handoff.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

from relais.config import settings


class Reason(str, enum.Enum):
    """Why a conversation goes to a person (the fixed vocabulary documented in the README)."""

    ANGER = "anger"  #: the customer is angry
    COMPLAINT = "complaint"  #: a complaint about the service
    HUMAN_REQUEST = "human_request"  #: the customer asked for a person
    OUT_OF_SCOPE = "out_of_scope"  #: outside what the bot does, more than once in a row
    LOW_CONFIDENCE = "low_confidence"  #: not understood, more than once in a row
    MULTIPLE_REQUESTS = "multiple_requests"  #: several requests in one message
    LEGAL_OR_COMPENSATION = "legal_or_compensation"  #: lawyer, EU261, chargeback, press…
    SAFETY = "safety"  #: safety, health or discrimination
    VIP = "vip"  #: a high loyalty tier with a problem
    REPEAT_CONTACT = "repeat_contact"  #: same booking, contacted within 7 days
    STALLED = "stalled"  #: the conversation goes in circles


OUT_OF_SCOPE_INTENT = "out_of_scope"
FALLBACK_INTENT = "nlu_fallback"
#: Intents that concern a problem with an existing booking (priority 2 when handed over).
BOOKING_PROBLEM_INTENTS = frozenset(
    {"change_booking", "cancel_booking", "refund_status", "lost_baggage"}
)
#: Remarks and courtesy (priority 4).
REMARK_INTENTS = frozenset({"greet", "goodbye", "thank", "affirm", "deny"})


@dataclass(frozen=True)
class Thresholds:
    """Tunable numbers, read from escalation.yml."""

    low_confidence: float = 0.4
    misunderstood_turns: int = 2

    @classmethod
    def from_file(cls, path: Path) -> "Thresholds":
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"{path}: unknown escalation settings {sorted(unknown)}")
        return cls(**data)


@lru_cache(maxsize=4)
def load_thresholds(path: Path | None = None) -> Thresholds:
    """Thresholds from escalation.yml (cached; the file is read once per process)."""
    return Thresholds.from_file(path or settings().escalation_file)


@dataclass(frozen=True)
class Signals:
    """What the policy looks at for one customer message."""

    text: str
    intent: str
    confidence: float
    #: Turns not understood (out of scope or low confidence) right before this one.
    misunderstood_before: int = 0


@dataclass(frozen=True)
class Decision:
    """The policy's verdict for one message."""

    handoff: bool
    reasons: tuple[str, ...] = field(default_factory=tuple)
    priority: int = 3

    def as_dict(self) -> dict[str, object]:
        return {"handoff": self.handoff, "reasons": list(self.reasons), "priority": self.priority}


def is_misunderstood(intent: str, confidence: float, thresholds: Thresholds) -> bool:
    """True when the bot cannot answer this message as one of its own requests."""
    return intent in (OUT_OF_SCOPE_INTENT, FALLBACK_INTENT) or confidence < thresholds.low_confidence


def decide(signals: Signals, thresholds: Thresholds | None = None) -> Decision:
    """Decides handoff, reasons and priority for one message in its context."""
    t = thresholds or load_thresholds()
    reasons: list[Reason] = []
    if signals.intent == "complaint":
        reasons.append(Reason.COMPLAINT)
    if signals.intent == "human_request":
        reasons.append(Reason.HUMAN_REQUEST)
    if is_misunderstood(signals.intent, signals.confidence, t):
        if signals.misunderstood_before + 1 >= t.misunderstood_turns:
            reasons.append(
                Reason.OUT_OF_SCOPE
                if signals.intent == OUT_OF_SCOPE_INTENT
                else Reason.LOW_CONFIDENCE
            )
    return Decision(
        handoff=bool(reasons),
        reasons=tuple(r.value for r in reasons),
        priority=_priority(signals.intent, reasons),
    )


def _priority(intent: str, reasons: list[Reason]) -> int:
    """1 = complaints, anger, safety; 2 = booking problems; 3 = other requests; 4 = remarks."""
    if {Reason.COMPLAINT, Reason.ANGER, Reason.SAFETY} & set(reasons) or intent == "complaint":
        return 1
    if intent in BOOKING_PROBLEM_INTENTS:
        return 2
    if intent in REMARK_INTENTS:
        return 4
    return 3
