"""The escalation policy: one pure function that decides whether a person takes over.

The live bot (actions/) and `relais triage` both call `decide`; nothing else decides a handoff.
Numbers come from escalation.yml; the reasons are a fixed vocabulary (README).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from relais.core.config import settings
from relais.core.cues import legal_claim, safety_issue
from relais.core.lexicon import totals


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
    REPEAT_CONTACT = "repeat_contact"  #: same booking, contacted within a few days
    STALLED = "stalled"  #: the conversation goes in circles


OUT_OF_SCOPE_INTENT = "out_of_scope"
FALLBACK_INTENT = "nlu_fallback"
#: Intents that concern a problem with an existing booking (priority 2 when handed over).
BOOKING_PROBLEM_INTENTS = frozenset(
    {"change_booking", "cancel_booking", "refund_status", "lost_baggage"}
)
#: Remarks and courtesy (priority 4).
REMARK_INTENTS = frozenset({"greet", "goodbye", "thank", "affirm", "deny"})
#: Intents that are not a request of their own (never counted as "another request").
_NOT_REQUESTS = REMARK_INTENTS | {
    OUT_OF_SCOPE_INTENT,
    FALLBACK_INTENT,
    "provide_booking_reference",
    "human_request",
    "complaint",
}
#: Problems that make a high-tier customer a priority for a person.
_VIP_PROBLEMS = frozenset({"complaint", "lost_baggage"})


@dataclass(frozen=True)
class Thresholds:
    """Tunable numbers, read from escalation.yml (see the comments there)."""

    low_confidence: float = 0.4
    misunderstood_turns: int = 2
    anger_handoff: float = 0.5
    anger_apology: float = 0.3
    part_confidence: float = 0.5
    vip_tiers: tuple[str, ...] = ("platinum", "gold")
    repeat_contact_days: int = 7
    stalled_repeats: int = 3
    problem_words: int = 2
    knowledge_answer: float = 0.42
    knowledge_intent_bonus: float = 0.0
    knowledge_outside_margin: float = 0.03
    conversation_gap_minutes: int = 240

    @classmethod
    def from_file(cls, path: Path) -> Thresholds:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{path}: unknown escalation settings {sorted(unknown)}")
        if "vip_tiers" in data:
            data["vip_tiers"] = tuple(data["vip_tiers"])
        return cls(**data)


@lru_cache(maxsize=4)
def load_thresholds(path: Path | None = None) -> Thresholds:
    """Thresholds from escalation.yml (cached; the file is read once per process)."""
    return Thresholds.from_file(path or settings().escalation_file)


@dataclass(frozen=True)
class Signals:
    """What the policy looks at for one customer message.

    The first fields come from the parse alone (all `relais triage` has); the others from
    the conversation and the customer's records (the live bot fills them).
    """

    text: str
    intent: str
    confidence: float
    anger: float = 0.0
    #: (intent, confidence) pairs, best first, as the classifier ranked them.
    ranking: tuple[tuple[str, float], ...] = ()
    #: (intent, confidence) of each part of a message with several parts (else empty).
    parts: tuple[tuple[str, float], ...] = ()
    #: Turns not understood (out of scope or low confidence) right before this one.
    misunderstood_before: int = 0
    loyalty_tier: str | None = None
    #: The same booking was the subject of a contact within `repeat_contact_days`.
    repeat_contact: bool = False
    #: How many times this conversation already asked the same thing without an answer.
    same_request_before: int = 0
    #: A passage of the brand's knowledge answers the message (relais/core/knowledge.py):
    #: it is understood even when no request of ours matched it.
    answerable: bool = False

    @classmethod
    def from_parse(cls, text: str, parse: Mapping[str, Any], **context: Any) -> Signals:
        """Signals from Rasa's parse of `text`; `context` adds what the conversation knows."""
        intent = parse.get("intent") or {}
        ranking = tuple(
            (str(r.get("name")), float(r.get("confidence") or 0.0))
            for r in parse.get("intent_ranking") or []
        )
        parts = tuple(
            (str(p.get("name")), float(p.get("confidence") or 0.0))
            for p in parse.get("parts") or []
        )
        return cls(
            text=text,
            parts=parts,
            intent=str(intent.get("name") or ""),
            confidence=float(intent.get("confidence") or 0.0),
            anger=float(parse.get("anger") or 0.0),
            ranking=ranking,
            **context,
        )


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
    return (
        intent in (OUT_OF_SCOPE_INTENT, FALLBACK_INTENT) or confidence < thresholds.low_confidence
    )


def asks_for_a_person(signals: Signals, t: Thresholds) -> bool:
    """The customer asked for a person: the whole message, or one confident part of it ("can
    my dog fly in the cabin? I want to talk to someone"): answering the question alone would
    ignore what they asked for."""
    return signals.intent == "human_request" or any(
        name == "human_request" and conf >= t.part_confidence for name, conf in signals.parts
    )


def several_requests(signals: Signals, t: Thresholds) -> bool:
    """Two parts of the message are each confidently a different request of their own."""
    requests = {
        name
        for name, conf in signals.parts
        if name not in _NOT_REQUESTS and conf >= t.part_confidence
    }
    return len(requests) >= 2


def reports_problem(text: str, t: Thresholds) -> bool:
    """The message names a service failure or displeasure: the weights of our lexicons'
    `problem`, `annoyance` and `anger` terms add up to `problem_words` ("flight delayed",
    "wifi not working", "pas content"), where one weak word ("issue", "refund") does not."""
    found = totals(text)
    return found["problem"] + found["annoyance"] + found["anger"] >= t.problem_words


def unanswerable_complaint(signals: Signals, t: Thresholds) -> bool:
    """A problem the bot cannot answer: out of scope and naming a failure ("the wifi was dead
    the whole flight"), or not understood, naming a failure and at least annoyed. Asking
    such a customer to rephrase would be the blanket reply Relais exists to avoid."""
    if not reports_problem(signals.text, t):
        return False
    return signals.intent == OUT_OF_SCOPE_INTENT or signals.anger >= t.anger_apology


def decide(signals: Signals, thresholds: Thresholds | None = None) -> Decision:
    """Decides handoff, reasons and priority for one message in its context."""
    t = thresholds or load_thresholds()
    s = signals
    reasons: list[Reason] = []
    if s.anger >= t.anger_handoff:
        reasons.append(Reason.ANGER)
    misunderstood = is_misunderstood(s.intent, s.confidence, t) and not s.answerable
    if s.intent == "complaint" or (misunderstood and unanswerable_complaint(s, t)):
        reasons.append(Reason.COMPLAINT)
    if asks_for_a_person(s, t):
        reasons.append(Reason.HUMAN_REQUEST)
    if safety_issue(s.text):
        reasons.append(Reason.SAFETY)
    if legal_claim(s.text):
        reasons.append(Reason.LEGAL_OR_COMPENSATION)
    if misunderstood and (s.misunderstood_before + 1 >= t.misunderstood_turns or s.repeat_contact):
        reasons.append(
            Reason.OUT_OF_SCOPE if s.intent == OUT_OF_SCOPE_INTENT else Reason.LOW_CONFIDENCE
        )
    if not misunderstood and several_requests(s, t):
        reasons.append(Reason.MULTIPLE_REQUESTS)
    if s.same_request_before + 1 >= t.stalled_repeats and s.intent not in REMARK_INTENTS:
        reasons.append(Reason.STALLED)
    vip = s.loyalty_tier in t.vip_tiers
    if vip and (reasons or s.intent in _VIP_PROBLEMS or s.anger >= t.anger_apology):
        reasons.append(Reason.VIP)
    # A contact on the same booking days ago is no reason alone; it joins the others.
    if s.repeat_contact and reasons:
        reasons.append(Reason.REPEAT_CONTACT)
    return Decision(
        handoff=bool(reasons),
        reasons=tuple(r.value for r in reasons),
        priority=_priority(s.intent, reasons),
    )


def _priority(intent: str, reasons: list[Reason]) -> int:
    """1 = complaints, anger, safety; 2 = booking problems; 3 = other requests; 4 = remarks.

    A high-tier customer moves up one level.
    """
    urgent = {Reason.COMPLAINT, Reason.ANGER, Reason.SAFETY, Reason.LEGAL_OR_COMPENSATION}
    if urgent & set(reasons) or intent == "complaint":
        priority = 1
    elif intent in BOOKING_PROBLEM_INTENTS:
        priority = 2
    elif intent in REMARK_INTENTS:
        priority = 4
    else:
        priority = 3
    if Reason.VIP in reasons:
        priority = max(1, priority - 1)
    return priority
