"""What an action knows about the current turn: the message, the customer, the language."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from relais.core.brand import Brand
from relais.core.codes import Codes, brand_codes, codes_for
from relais.core.language import OTHER, SUPPORTED
from relais.core.texts import say
from relais.core.types import utcnow
from relais.storage.queries import BookingView, CustomerView, RecordReader

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
#: Below this, the detected language of a message is not trusted over the conversation's.
LANGUAGE_CONFIDENCE = 0.65


@dataclass
class Turn:
    """The latest customer message as parsed by Rasa."""

    text: str
    intent: str
    confidence: float
    detected_language: str | None
    language_confidence: float
    entities: list[dict[str, Any]]
    ranking: list[dict[str, Any]]
    #: The client's address as the gateway saw it (the web chat's visitor), from the
    #: message's metadata; None on channels whose platform is the client.
    client_address: str | None = None
    #: The shapes of the brand's codes (flight numbers, booking references).
    codes: Codes = field(default_factory=brand_codes, repr=False, compare=False)

    @classmethod
    def from_tracker(cls, tracker: Tracker, codes: Codes | None = None) -> Turn:
        latest = tracker.latest_message or {}
        intent = latest.get("intent") or {}
        return cls(
            text=_CONTROL.sub(" ", latest.get("text") or "").strip(),
            intent=intent.get("name") or "",
            confidence=float(intent.get("confidence") or 0.0),
            detected_language=latest.get("language"),
            language_confidence=float(latest.get("language_confidence") or 0.0),
            entities=list(latest.get("entities") or []),
            ranking=list(latest.get("intent_ranking") or []),
            client_address=_address((latest.get("metadata") or {}).get("client_address")),
            codes=codes or brand_codes(),
        )

    def references(self) -> list[str]:
        """Booking references in the message: the extractor's, then any the regex sees."""
        return list(self._references)

    def flight_numbers(self) -> list[str]:
        return list(self._flight_numbers)

    # Worked out once per turn: the actions ask for them many times.
    @cached_property
    def _references(self) -> tuple[str, ...]:
        found = [
            str(e["value"]).upper()
            for e in self.entities
            if e.get("entity") == "booking_reference" and e.get("value")
        ]
        codes = self.codes
        found += [m.group(0).upper() for m in codes.reference_in_text.finditer(self.text)]
        return tuple(dict.fromkeys(r for r in found if codes.booking_reference.fullmatch(r)))

    @cached_property
    def _flight_numbers(self) -> tuple[str, ...]:
        found = [
            m.group(0).replace(" ", "").upper()
            for m in self.codes.flight_in_text.finditer(self.text)
        ]
        return tuple(dict.fromkeys(found))

    @property
    def has_letters(self) -> bool:
        return any(ch.isalpha() for ch in self.text)


@dataclass
class Context:
    """One action's view of the conversation; collects the replies and the slot changes."""

    tracker: Tracker
    dispatcher: CollectingDispatcher
    #: The customer records, read on this request's connection (each row once).
    records: RecordReader
    brand: Brand
    turn: Turn
    customer: CustomerView | None
    lang: str
    now: datetime
    events: list[Any] = field(default_factory=list)
    #: References proven with a surname in this turn: reference → proven by the holder.
    proofs: dict[str, bool] = field(default_factory=dict)
    #: The booking this turn answered about (a contact is recorded on it).
    booking: BookingView | None = None
    #: The knowledge article this turn answered from, if any.
    topic_article: str | None = None
    #: This turn asked the customer for a booking reference.
    asked_reference: bool = False
    #: What this request works out once and reads several times (the knowledge passage
    #: chosen, the proofs found in the database, whether the session is new), by what it is.
    cache: dict[object, Any] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        tracker: Tracker,
        dispatcher: CollectingDispatcher,
        records: RecordReader,
        brand: Brand,
    ) -> Context:
        turn = Turn.from_tracker(tracker, codes_for(brand.code))
        customer = records.customer_for_sender(tracker.sender_id)
        return cls(
            tracker=tracker,
            dispatcher=dispatcher,
            records=records,
            brand=brand,
            turn=turn,
            customer=customer,
            lang=choose_language(turn, tracker.get_slot("language"), customer, brand),
            now=utcnow(),
        )

    def say(self, key: str, buttons: list[dict[str, str]] | None = None, **values: Any) -> str:
        """Sends the text `key` in the conversation's language, filled with `values`."""
        text = say(key, self.lang, **values)
        self.dispatcher.utter_message(text=text, buttons=buttons or [])
        return text

    def say_text(self, key: str, **values: Any) -> str:
        """The text `key` in the conversation's language, without sending it."""
        return say(key, self.lang, **values)

    def set(self, slot: str, value: Any) -> None:
        self.events.append(SlotSet(slot, value))

    def slot(self, name: str) -> Any:
        for event in reversed(self.events):
            if (
                isinstance(event, dict)
                and event.get("event") == "slot"
                and event.get("name") == name
            ):
                return event.get("value")
        return self.tracker.get_slot(name)

    def conversation_slot(self, name: str, default: Any) -> Any:
        """A slot that counts within one conversation. Rasa carries slots over into a new
        session (domain.yml), so on a session's first message this reads `default`."""
        if any(
            isinstance(e, dict) and e.get("event") == "slot" and e.get("name") == name
            for e in self.events
        ):
            return self.slot(name)
        if self.new_session():
            return default
        value = self.tracker.get_slot(name)
        return default if value is None else value

    def new_session(self) -> bool:
        """Whether this message is the first of its session (a new conversation)."""
        if "new_session" not in self.cache:
            self.cache["new_session"] = _first_of_session(self.tracker.events)
        return bool(self.cache["new_session"])

    def asked(self) -> bool:
        """Whether this turn ended on a question the request waits on (reference, surname,
        which trip): the request is not answered yet."""
        return any(
            isinstance(event, dict)
            and event.get("event") == "slot"
            and event.get("name") == "pending_intent"
            and event.get("value")
            for event in self.events
        )

    @property
    def first_name(self) -> str:
        return self.customer.full_name.split()[0] if self.customer else ""


def _first_of_session(events: list[dict[str, Any]]) -> bool:
    users = 0
    for event in reversed(events):
        if event.get("event") == "user":
            users += 1
        elif event.get("event") == "session_started":
            return users <= 1
    return False


def _address(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def choose_language(
    turn: Turn, previous: str | None, customer: CustomerView | None, brand: Brand
) -> str:
    """The message's language when clear; else the conversation's, the customer's, the brand's."""
    detected = turn.detected_language
    if detected in SUPPORTED and turn.language_confidence >= LANGUAGE_CONFIDENCE:
        return str(detected)
    if previous in SUPPORTED:
        return str(previous)
    if customer is not None and customer.preferred_language in SUPPORTED:
        return str(customer.preferred_language)
    if detected in SUPPORTED and detected != OTHER and turn.language_confidence > 0.5:
        return str(detected)
    return brand.default_language


def fold(text: str) -> str:
    """Lower case without accents, to match 'montreal' with 'Montréal'."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def booking_city(booking: BookingView) -> str:
    """The destination of a booking's first segment (where the trip goes)."""
    return booking.segments[0].flight.destination_city if booking.segments else ""
