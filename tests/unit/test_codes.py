"""The brand's code shapes (relais/core/codes.py)."""

from __future__ import annotations

import pytest

from relais.core.codes import without_codes


@pytest.mark.parametrize(
    "text, left",
    [
        ("XY7T2M Jones", "Jones"),
        ("xy7t2m", ""),
        ("can I pick a seat on XY 123 for booking XY4K2P?", "can I pick a seat on for booking ?"),
        ("mon vol XY311 est-il à l'heure", "mon vol est-il à l'heure"),
        # Not the brand's shapes: kept (another airline's flight, a word, a longer code).
        ("AF1234 and XYLOPHONE and XY12345", "AF1234 and XYLOPHONE and XY12345"),
        ("XY1234 has no letter: not a reference", "XY1234 has no letter: not a reference"),
    ],
)
def test_flight_numbers_and_references_are_taken_out(text: str, left: str) -> None:
    assert without_codes(text) == left
