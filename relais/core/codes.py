"""The shapes of the airline's codes, built once from the brand's two-character code.

Every part of Relais that recognises a flight number, a booking reference or a baggage file
takes its pattern from here; `data/nlu/patterns.yml` writes the same shapes for Rasa, and a
test checks that the two agree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from relais.core.brand import load_brand


@dataclass(frozen=True)
class Codes:
    """The patterns for one airline code ("XY")."""

    airline: str
    #: A flight number as stored: the code and three digits ("XY123").
    flight_number: re.Pattern[str]
    #: A booking reference as stored: the code and four letters or digits, at least one a
    #: letter ("XY4K2P").
    booking_reference: re.Pattern[str]
    #: A baggage file: the reporting station, the code and five digits ("CDGXY10234").
    baggage_file: re.Pattern[str]
    #: A flight number inside a message, in any case, "XY 123" too.
    flight_in_text: re.Pattern[str]
    #: A booking reference inside a message, in any case.
    reference_in_text: re.Pattern[str]


@lru_cache(maxsize=8)
def codes_for(airline: str) -> Codes:
    """The patterns for the airline code `airline`."""
    code = re.escape(airline.upper())
    reference = rf"{code}(?=[0-9A-Z]{{0,3}}[A-Z])[0-9A-Z]{{4}}"
    return Codes(
        airline=airline.upper(),
        flight_number=re.compile(rf"{code}\d{{3}}"),
        booking_reference=re.compile(reference),
        baggage_file=re.compile(rf"[A-Z]{{3}}{code}\d{{5}}"),
        flight_in_text=re.compile(rf"\b{code} ?\d{{3}}\b", re.IGNORECASE),
        reference_in_text=re.compile(rf"\b{reference}\b", re.IGNORECASE),
    )


def brand_codes() -> Codes:
    """The patterns for the brand's own code (brand.yml)."""
    return codes_for(load_brand().code)


def without_codes(text: str) -> str:
    """`text` without the brand's flight numbers and booking references, spaces tidied: what a
    message asks, whichever booking it is about."""
    codes = brand_codes()
    text = codes.reference_in_text.sub(" ", codes.flight_in_text.sub(" ", text))
    return " ".join(text.split())
