"""The demo data files (relais/tools/demo/*.yml): they load, and a bad entry is named clearly."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from relais.core.errors import ConfigError
from relais.core.types import FareFamily, FlightStatus, Language, LoyaltyTier
from relais.tools.demo_data import DEMO_DIR, DemoDataError, load_demo
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
    assert list(demo.crowd["tiers"]) == list(LoyaltyTier)
    assert list(demo.crowd["customers"]) == [Language.FR, Language.EN]
    assert set(demo.airline["fares"]) == set(FareFamily)
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
            r"crowd\.yml: summaries: none for topic\(s\) complaint",
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
