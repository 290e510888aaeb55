"""The demo data files (relais/tools/demo/*.yml): they load, and a bad entry is named clearly."""

from __future__ import annotations

import re
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from relais.core.errors import ConfigError
from relais.core.types import FareFamily, FlightStatus, Language, LoyaltyTier
from relais.tools.demo_data import DEMO_DIR, DemoDataError, load_demo
from relais.tools.demo_rows import Draws, by_age
from relais.tools.seed import (
    fixed_flight_numbers,
    fixed_references,
)


def test_the_shipped_files_load() -> None:
    demo = load_demo()

    assert len(demo.airports) == 34
    lyon = demo.airports["LYS"]
    assert (lyon.city, lyon.country, lyon.tz, lyon.label) == (
        "Lyon",
        "FR",
        "Europe/Paris",
        "Lyon (LYS)",
    )
    assert all(isinstance(t, str) for a in demo.airports.values() for t in a.terminals)
    # Read in the files' order: the generator draws from them in that order.
    assert list(demo.airline["routes"]) == ["CDG", "ORY", "LYS", "NCE"]
    assert list(demo.crowd["customers"]["tiers"]) == list(LoyaltyTier)
    assert list(demo.crowd["customers"]["count"]) == [Language.FR, Language.EN]
    assert list(demo.crowd["flights"]["status"]) == [
        FlightStatus.CANCELLED,
        FlightStatus.DELAYED,
        FlightStatus.ON_TIME,
    ]
    assert set(demo.airline["fares"]) == set(FareFamily)
    assert demo.crowd["refunds"]["taxes_share"] == Decimal("0.18")
    # The names the tests, docs and end-to-end stories rely on.
    assert (
        fixed_references()
        == demo.references
        == ("XY4K2P", "XY9QW1", "XY7T2M", "XY3LB8", "XY5CX2", "XY8RT4", "XY2HN6")
    )
    assert fixed_flight_numbers() == ("XY007", "XY123", "XY221", "XY311", "XY330", "XY456", "XY602")
    delayed = next(f for f in demo.fixed["flights"] if f["number"] == "XY123")
    assert (delayed["status"], delayed["delay"], delayed["departs"].isoformat()) == (
        FlightStatus.DELAYED,
        45,
        "13:40:00",
    )
    assert [c["web"] for c in demo.fixed["customers"]] == [
        "demo-camille",
        "demo-james",
        "demo-sophie",
        "demo-liam",
        "demo-nadia",
        "demo-olivia",
    ]


@pytest.fixture
def demo_copy(tmp_path: Path) -> Path:
    """A copy of the shipped files, to break."""
    directory = tmp_path / "demo"
    shutil.copytree(DEMO_DIR, directory)
    return directory


def edit(directory: Path, name: str, old: str, new: str) -> None:
    path = directory / name
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} should be in {name} once"
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_a_missing_field_names_the_file_and_the_entry(demo_copy: Path) -> None:
    edit(
        demo_copy,
        "airports.yml",
        "LYS: {city: Lyon, country: FR, tz: Europe/Paris, ",
        "LYS: {city: Lyon, country: FR, ",
    )

    with pytest.raises(DemoDataError) as raised:
        load_demo(demo_copy)

    assert isinstance(raised.value, ConfigError)
    assert not isinstance(raised.value, KeyError)
    assert str(raised.value) == f"{demo_copy / 'airports.yml'}: LYS: missing field(s): tz"


@pytest.mark.parametrize(
    ("name", "old", "new", "message"),
    [
        # YAML reads an unquoted 13:40 as the number 820.
        (
            "fixed.yml",
            'departs: "13:40"',
            "departs: 13:40",
            r"fixed\.yml: flights\[2\] \(XY123\): departs: expected a time in quotes, "
            r'like "07:40", got 820',
        ),
        (
            "fixed.yml",
            "fare: standard\n        flights: [XY123]",
            "fare: business\n        flights: [XY123]",
            r"fixed\.yml: customers\[1\] \(James Miller\): bookings\[0\] \(XY7T2M\): "
            r"fare: expected one of light, standard, flex, got 'business'",
        ),
        (
            "fixed.yml",
            "flights: [XY330]",
            "flights: [XY999]",
            r"customers\[5\] \(Olivia Chen\): bookings\[1\] \(XY2HN6\): flights\[0\]: "
            r"expected a flight number of the flights above, got 'XY999'",
        ),
        (
            "fixed.yml",
            'seats: ["27C"]',
            'seats: ["27C", "28C"]',
            r"bookings\[0\] \(XY7T2M\): passengers\[0\]: seats: one per flight \(1\)",
        ),
        (
            "fixed.yml",
            "reference: XY2HN6",
            "reference: XY8RT4",
            r"bookings\[1\] \(XY8RT4\): reference: XY8RT4 is listed twice",
        ),
        (
            "airports.yml",
            "tz: Europe/Rome",
            "tz: Europe/Roma",
            r"airports\.yml: FCO: tz: expected an IANA time zone",
        ),
        (
            "airline.yml",
            "  NCE: [JFK,",
            "  NCE: [JFX,",
            r"airline\.yml: routes: NCE\[0\]: expected an airport code of airports\.yml, got 'JFX'",
        ),
        (
            "crowd.yml",
            "  complaint: ",
            "  grievance: ",
            r"crowd\.yml: contacts: summaries: none for topic\(s\) complaint",
        ),
        (
            "crowd.yml",
            "delayed: 0.20,",
            "delayed: 0.25,",
            r"crowd\.yml: flights: status: the shares add up to 1\.05, not 1",
        ),
        (
            "crowd.yml",
            "{up_to_days: 8, statuses:",
            "{up_to_days: 2, statuses:",
            r"crowd\.yml: baggage_reports: status: delayed: expected up_to_days on every line but "
            r"the last, each above the one before",
        ),
        (
            "crowd.yml",
            "again_chance: 0.5",
            "again_chance: 5",
            r"crowd\.yml: contacts: repeat: again_chance: expected a chance from 0 to 1, like "
            r"0\.25, got 5",
        ),
        (
            "crowd.yml",
            "fares: {light: 4, standard: 4, flex: 2}",
            "fares: {light: 0, standard: 0, flex: 0}",
            r"crowd\.yml: bookings: fares: expected a weight above 0",
        ),
        (
            "crowd.yml",
            "booked_hours: [6, 22]",
            "booked_hours: [6, 24]",
            r"crowd\.yml: bookings: booked_hours: expected \[earliest, latest\], hours 0 to 23",
        ),
        (
            "crowd.yml",
            "shares: {rejected: 0.15, processing: 0.85}",
            "shares: {rejected: 0.15, paid: 0.85}",
            r"crowd\.yml: refunds: status\[1\]: shares: paid: requests 4 day\(s\) old are too "
            r"young to have been paid 5 days after them",
        ),
        (
            "crowd.yml",
            "booked_days_before: [2, 100]",
            "booked_days_before: [1, 100]",
            r"crowd\.yml: refunds: requested_days_ago: starts at 1, so bookings: "
            r"booked_days_before must start above it, not at 1",
        ),
        (
            "airline.yml",
            "fare_factor: {light: 0.85, standard: 1.0, flex: 1.45}",
            "fare_factor: {light: 0.85, standard: 1.0}",
            r"airline\.yml: prices: fare_factor: missing field\(s\): flex",
        ),
        ("crowd.yml", "seed: 3621", "seed: [3621", r"crowd\.yml: not valid YAML"),
    ],
)
def test_a_malformed_entry_is_named(
    demo_copy: Path, name: str, old: str, new: str, message: str
) -> None:
    edit(demo_copy, name, old, new)

    with pytest.raises(DemoDataError, match=message):
        load_demo(demo_copy)


def test_a_missing_file_is_named(demo_copy: Path) -> None:
    (demo_copy / "crowd.yml").unlink()

    with pytest.raises(DemoDataError, match=re.escape(f"{demo_copy / 'crowd.yml'}: no such file")):
        load_demo(demo_copy)


def test_draws_read_the_tables_as_the_files_describe() -> None:
    draw = Draws(1)
    # Shares in order: the first whose running total is above the draw, the last for the rest.
    shares = {"a": 0.25, "b": 0.5, "c": 0.25}
    drawn = [draw.by_share(shares) for _ in range(2000)]
    assert set(drawn) == {"a", "b", "c"}
    assert 800 < drawn.count("b") < 1200
    # A single option uses no draw: a table may list one without moving every later row.
    before = draw.getstate()
    assert draw.one_of(["only"]) == "only"
    assert draw.getstate() == before
    assert draw.fixed_or_between(4) == 4
    assert draw.getstate() == before
    assert 1 <= draw.fixed_or_between((1, 3)) <= 3


def test_a_table_by_age_takes_the_first_line_that_fits() -> None:
    lines: list[dict[str, Any]] = [
        {"up_to_days": 3, "x": "young"},
        {"up_to_days": 9, "x": "middle"},
        {"x": "old"},
    ]

    assert [by_age(lines, age)["x"] for age in (0, 3, 4, 9, 10, 400)] == [
        "young",
        "young",
        "middle",
        "middle",
        "old",
        "old",
    ]
