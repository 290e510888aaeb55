"""The handoff payload: what the bot tells the human side when it passes a conversation on.

The action server (actions/handoff.py) sends it in a custom response, `{HANDOFF_KEY: {...}}`;
the gateway reads it back from Rasa's replies (bot/rasa_turn.py) and the intake
(handoff/intake.py) queues the escalation from it. Both sides use this one type, so a field
cannot be renamed or mistyped on one side only.

Building one in code checks its values (a bad priority is a bug; a booking reference not in
the brand's shape, which may come from what the customer typed, is dropped); reading one off
the wire (`from_custom`) never fails: what is missing or unusable gets a safe default, because
a customer who asked for a person must reach the queue even if the payload is damaged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from relais.core.codes import brand_codes

#: The key of the custom response that carries the payload.
HANDOFF_KEY = "relais_handoff"
PRIORITIES = (1, 2, 3, 4)
#: What a payload without a usable reason or priority is queued with.
DEFAULT_REASONS: tuple[str, ...] = ("human_request",)
DEFAULT_PRIORITY = 3
#: The widest values the escalation's columns hold (relais/storage/escalations.py).
_MAX_INTENT = 60
_MAX_LANGUAGE = 5


@dataclass(frozen=True)
class HandoffPayload:
    """Why and how urgently a conversation goes to a person, and what the bot knew."""

    reasons: tuple[str, ...] = DEFAULT_REASONS
    priority: int = DEFAULT_PRIORITY  #: 1 (most urgent) to 4
    intent: str | None = None
    language: str | None = None  #: None: the conversation's own
    summary: str = ""  #: one paragraph for the agent
    topic: str | None = None  #: what the customer wants help with
    #: A booking the bot proved is the customer's (identified customer, or reference and
    #: surname): the action server sets it for a proven booking only.
    booking_reference: str | None = None
    #: A booking reference the customer typed but did not prove (no surname): the console
    #: shows that booking's records marked "not verified"; nothing else trusts it.
    typed_reference: str | None = None
    customer_id: int | None = None
    entities: tuple[dict[str, Any], ...] = ()
    #: Files the customer sent lately (added by the gateway: the action server never sees them).
    attachments: tuple[dict[str, Any], ...] = ()
    #: Anything else the sender included, kept for the agents' console.
    context: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Lists are accepted for convenience and stored as tuples, so the payload stays frozen.
        for name in ("reasons", "entities", "attachments"):
            value = getattr(self, name)
            if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
                raise TypeError(f"handoff payload: {name} must be a list, not {value!r}")
            object.__setattr__(self, name, tuple(value))
        object.__setattr__(self, "context", dict(self.context))
        # References are what a customer typed or the records hold: one not in the brand's
        # shape is dropped rather than refused, so the customer still reaches a person.
        for name in ("booking_reference", "typed_reference"):
            object.__setattr__(self, name, _reference(getattr(self, name)))
        if self.typed_reference == self.booking_reference:
            object.__setattr__(self, "typed_reference", None)  # proven, not just typed
        if not self.reasons or not all(isinstance(r, str) and r.strip() for r in self.reasons):
            raise ValueError(f"handoff payload: reasons must be non-empty: {self.reasons!r}")
        if isinstance(self.priority, bool) or self.priority not in PRIORITIES:
            raise ValueError(f"handoff payload: priority must be 1 to 4, not {self.priority!r}")

    def to_dict(self) -> dict[str, Any]:
        """The payload as JSON: the known fields over the extra context, all at one level
        (what the console shows as the escalation's context)."""
        data = dict(self.context)
        data.update(
            reasons=list(self.reasons),
            priority=self.priority,
            summary=self.summary,
            language=self.language,
            intent=self.intent,
            topic=self.topic,
            booking_reference=self.booking_reference,
            typed_reference=self.typed_reference,
            customer_id=self.customer_id,
            entities=[dict(e) for e in self.entities],
        )
        if self.attachments:
            data["attachments"] = [dict(a) for a in self.attachments]
        return data

    def to_custom(self) -> dict[str, Any]:
        """The custom response that carries this payload to the gateway."""
        return {HANDOFF_KEY: self.to_dict()}

    @classmethod
    def from_custom(cls, custom: Mapping[str, Any]) -> HandoffPayload:
        """The payload of a custom response (see `carries_handoff`), with safe defaults for
        whatever is missing or unusable."""
        if not carries_handoff(custom):
            raise ValueError(f"no {HANDOFF_KEY!r} in this custom response")
        return cls.from_dict(custom[HANDOFF_KEY])

    @classmethod
    def from_dict(cls, data: object) -> HandoffPayload:
        """The payload from its JSON form (`to_dict`); never fails. Unusable reasons become
        ["human_request"], a priority outside 1-4 becomes 3, a value that does not fit its
        field becomes None (a reference not in the brand's shape too), unknown keys go to
        `context`."""
        if not isinstance(data, Mapping):
            data = {}
        known = {
            "reasons",
            "priority",
            "summary",
            "language",
            "intent",
            "topic",
            "booking_reference",
            "typed_reference",
            "customer_id",
            "entities",
            "attachments",
        }
        return cls(
            reasons=_reasons(data.get("reasons")),
            priority=_priority(data.get("priority")),
            intent=_short_text(data.get("intent"), _MAX_INTENT),
            language=_short_text(data.get("language"), _MAX_LANGUAGE),
            summary=str(data.get("summary") or ""),
            topic=_short_text(data.get("topic")),
            booking_reference=_reference(data.get("booking_reference")),
            typed_reference=_reference(data.get("typed_reference")),
            customer_id=_integer(data.get("customer_id")),
            entities=_dicts(data.get("entities")),
            attachments=_dicts(data.get("attachments")),
            context={str(k): v for k, v in data.items() if k not in known},
        )


def carries_handoff(custom: object) -> TypeGuard[Mapping[str, Any]]:
    """True when a reply's custom part is a handoff (Rasa passes other custom JSON too)."""
    return isinstance(custom, Mapping) and HANDOFF_KEY in custom


def _reasons(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        return DEFAULT_REASONS
    reasons = tuple(str(r).strip() for r in value if r is not None and str(r).strip())
    return reasons or DEFAULT_REASONS


def _priority(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return DEFAULT_PRIORITY
    try:
        priority = int(value)
    except (TypeError, ValueError, OverflowError):
        return DEFAULT_PRIORITY
    return priority if priority in PRIORITIES else DEFAULT_PRIORITY


def _short_text(value: object, longest: int | None = None) -> str | None:
    if value is None or isinstance(value, (dict, list, tuple)):
        return None
    text = str(value).strip()
    if not text or (longest is not None and len(text) > longest):
        return None
    return text


def _reference(value: object) -> str | None:
    """A booking reference in the brand's shape (relais/core/codes.py), upper case; else None."""
    if not isinstance(value, str):
        return None
    reference = value.strip().upper()
    return reference if brand_codes().booking_reference.fullmatch(reference) else None


def _integer(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _dicts(value: object) -> tuple[dict[str, Any], ...]:
    if not isinstance(value, (list, tuple)):
        return ()
    return tuple(dict(item) for item in value if isinstance(item, Mapping))
