"""The demo airline's files (`relais/tools/demo/*.yml`), read and checked.

Each file is checked against a short description of its fields when it is read; a mistake
raises DemoDataError naming the file, the entry and the field.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from relais.core.errors import ConfigError
from relais.core.types import (
    SPECIAL_ASSISTANCE_CODES,
    BaggageKind,
    BaggageStatus,
    BookingStatus,
    Channel,
    FareFamily,
    FlightStatus,
    HandledBy,
    Language,
    LoyaltyTier,
    RefundStatus,
)

#: The demo data files, shipped as package data.
DEMO_DIR = Path(__file__).with_name("demo")


class DemoDataError(ConfigError):
    """A demo data file is missing, is not valid YAML or has an entry that cannot be used."""


@dataclass(frozen=True)
class Airport:
    code: str
    city: str
    country: str
    tz: str
    latitude: float
    longitude: float
    terminals: tuple[str, ...]

    @property
    def label(self) -> str:
        """How a bag tag scan names it: "Lyon (LYS)"."""
        return f"{self.city} ({self.code})"


@dataclass(frozen=True)
class DemoData:
    """The checked files: airports as Airport, the others as mappings shaped like the files
    (enum values read as enums, times as `time`, amounts as Decimal; see the specs below)."""

    airports: dict[str, Airport]
    airline: dict[str, Any]
    fixed: dict[str, Any]
    crowd: dict[str, Any]

    @property
    def references(self) -> tuple[str, ...]:
        """The fixed bookings' references, in the file's order."""
        return tuple(b["reference"] for c in self.fixed["customers"] for b in c.get("bookings", ()))


# -- reading and checking the files ------------------------------------------------------------
#
# Each file is checked against a spec that also says what the generator gets:
#   a Check, a function of (value, where it is): one value, checked and converted;
#   [spec]: a list of one or more items, each checked against spec;
#   {"field": spec, "other?": spec}: a mapping with these fields, "?" marking one that may be
#       left out (then absent from the result); its _WHOLE key, if any, checks the entry whole;
#   {Check: spec}: a mapping whose keys pass the Check and values the spec.
# An error names the file, the entry and the field: "fixed.yml: customers[2] (Sophie Martin):
# bookings[0] (XY3LB8): fare: expected one of light, standard, flex, got 'flexible'".

Check = Callable[[Any, str], Any]
_WHOLE = "*"


def _is(
    test: Callable[[Any], Any], wanted: str, convert: Callable[[Any], Any] = lambda value: value
) -> Check:
    def check(value: Any, where: str) -> Any:
        if not test(value):
            raise DemoDataError(f"{where}: expected {wanted}, got {value!r}")
        return convert(value)

    return check


def _matches(pattern: str) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, str) and re.fullmatch(pattern, value) is not None


def _zone_exists(name: Any) -> bool:
    try:
        return isinstance(name, str) and ZoneInfo(name) is not None
    except (LookupError, ValueError):  # ZoneInfoNotFoundError is a LookupError
        return False


def _enum(kind: Any) -> Check:
    values = [member.value for member in kind]
    return _is(lambda value: value in values, f"one of {', '.join(values)}", kind)


def _among(known: Any, what: str) -> Check:
    return _is(lambda value: isinstance(value, str) and value in known, what)


def _new(seen: set[str], check: Check) -> Check:
    """`check`, and a value listed only once."""

    def new(value: Any, where: str) -> Any:
        value = check(value, where)
        if value in seen:
            raise DemoDataError(f"{where}: {value} is listed twice")
        seen.add(value)
        return value

    return new


# Quotes are asked for where YAML would read the text as something else: 13:40 is a number.
_TEXT = _is(lambda v: isinstance(v, str) and v.strip(), "some text")
_INT = _is(lambda v: type(v) is int, "a whole number")
_COUNT = _is(lambda v: type(v) is int and v >= 0, "a whole number, 0 or more")
_POSITIVE = _is(lambda v: type(v) is int and v > 0, "a whole number, 1 or more")
_BOOL = _is(lambda v: type(v) is bool, "true or false")
_DEGREES = _is(lambda v: type(v) in (int, float) and -180 <= v <= 180, "degrees", float)
_RANGE = _is(
    lambda v: (
        isinstance(v, list) and len(v) == 2 and all(type(n) is int for n in v) and v[0] <= v[1]
    ),
    "[lowest, highest], two whole numbers",
    tuple,
)
_MONEY = _is(_matches(r"\d+\.\d\d"), 'an amount in quotes, like "12.50"', Decimal)
_CLOCK = _is(
    _matches(r"([01]\d|2[0-3]):[0-5]\d"),
    'a time in quotes, like "07:40"',
    lambda v: time(int(v[:2]), int(v[3:])),
)
_IATA = _is(_matches(r"[A-Z]{3}"), "a three-letter IATA airport code")
_COUNTRY = _is(_matches(r"[A-Z]{2}"), 'a two-letter country code in quotes, like "FR"')
_ZONE = _is(_zone_exists, "an IANA time zone, like Europe/Paris")
_LETTERS = _is(_matches(r"[A-Z]+"), "capital letters")
_ODD = _is(lambda v: type(v) is int and 0 < v < 998 and v % 2, "an odd number below 998")
_FLIGHT_NUMBER = _is(_matches(r"XY\d{3}"), "a flight number like XY123")
_REFERENCE = _is(_matches(r"XY[A-Z0-9]{4}"), "a booking reference like XY4K2P")
_FILE = _is(_matches(r"[A-Z]{3}XY\d{5}"), "a baggage file reference like CDGXY10234")
_SEAT = _is(lambda v: v is None or _matches(r"\d{1,2}[A-K]")(v), 'a seat like "12A", or null')
_ASSISTANCE = _is(
    lambda v: v in SPECIAL_ASSISTANCE_CODES, f"one of {', '.join(SPECIAL_ASSISTANCE_CODES)}"
)


def _summary(value: Any, where: str) -> str:
    text = _TEXT(value, where)
    try:
        text.format(ref="XY0000")
    except (LookupError, ValueError):
        raise DemoDataError(f"{where}: only {{ref}} may stand in braces, got {text!r}") from None
    return text


def _walk(spec: Any, value: Any, where: str) -> Any:
    """`value` checked against `spec` (see above) and converted, or DemoDataError."""
    if callable(spec):
        return spec(value, where)
    if isinstance(spec, list):
        items = _is(lambda v: isinstance(v, list) and v, "a list of one or more items")(
            value, where
        )
        return [
            _walk(spec[0], item, _labelled(f"{where}[{i}]", item)) for i, item in enumerate(items)
        ]
    if len(spec) == 1 and callable(key_check := next(iter(spec))):
        mapping = _is(lambda v: isinstance(v, dict) and v, "a mapping")(value, where)
        return {
            key_check(key, f"{where}: {key}"): _walk(spec[key_check], item, f"{where}: {key}")
            for key, item in mapping.items()
        }
    fields = {key.rstrip("?"): key for key in spec if key != _WHOLE}
    if not isinstance(value, dict):
        raise DemoDataError(f"{where}: expected a mapping of {', '.join(fields)}, got {value!r}")
    if missing := [name for name, key in fields.items() if name not in value and key == name]:
        raise DemoDataError(f"{where}: missing field(s): {', '.join(missing)}")
    if unknown := [str(name) for name in value if name not in fields]:
        raise DemoDataError(
            f"{where}: unknown field(s): {', '.join(unknown)} (expected {', '.join(fields)})"
        )
    # In the spec's order, so that a Check may rely on the fields before it having been read.
    entry = {
        name: _walk(spec[key], value[name], f"{where}: {name}")
        for name, key in fields.items()
        if key == name or value.get(name) is not None
    }
    if _WHOLE in spec:
        spec[_WHOLE](entry, where)
    return entry


def _labelled(where: str, item: Any) -> str:
    """ "customers[2] (Sophie Martin)": an item of a list with its first field, when it is text."""
    first = next(iter(item.values()), None) if isinstance(item, dict) else None
    return f"{where} ({first})" if isinstance(first, str) else where


def _per(kind: Any, spec: Any) -> Check:
    """A mapping with an entry for each value of the enum `kind`, in the file's order."""

    def read(value: Any, where: str) -> dict[Any, Any]:
        entry = _walk({member.value: spec for member in kind}, value, where)
        return {kind(name): entry[name] for name in value}

    return read


def _delay_fits(flight: dict[str, Any], where: str) -> None:
    if (flight.get("status") is FlightStatus.DELAYED) != (flight.get("delay", 0) > 0):
        raise DemoDataError(f"{where}: a delay (minutes) goes with status delayed, and only there")


def _booking_fits(booking: dict[str, Any], where: str) -> None:
    for i, passenger in enumerate(booking["passengers"]):
        if len(passenger["seats"]) != len(booking["flights"]):
            raise DemoDataError(
                f"{where}: passengers[{i}]: seats: one per flight "
                f"({len(booking['flights'])}), null when not chosen"
            )
    for i, report in enumerate(booking.get("baggage_reports", ())):
        if report["flight"] not in booking["flights"]:
            raise DemoDataError(f"{where}: baggage_reports[{i}]: flight: not one of the booking's")


def _topics_fit(crowd: dict[str, Any], where: str) -> None:
    # refund_status and lost_baggage: the generator adds them for bookings with a refund or a bag.
    topics = [
        *crowd["topics"]["booking"],
        *crowd["topics"]["general"],
        "refund_status",
        "lost_baggage",
    ]
    if missing := [topic for topic in topics if topic not in crowd["summaries"]]:
        raise DemoDataError(f"{where}: summaries: none for topic(s) {', '.join(missing)}")


_AIRPORT = {
    "city": _TEXT,
    "country": _COUNTRY,
    "tz": _ZONE,
    "latitude": _DEGREES,
    "longitude": _DEGREES,
    "terminals": [_TEXT],
}
_FARE = {
    "changeable": _BOOL,
    "change_fee": _MONEY,
    "long_haul_change_fee?": _MONEY,
    "refundable": _BOOL,
    "cancellation_fee": _MONEY,
    "checked_bags_included": _COUNT,
    "cabin_bag_kg": _COUNT,
}
_CABIN = {"rows": _POSITIVE, "letters": _LETTERS}
_CROWD = {
    "seed": _INT,
    "customers": _per(Language, _COUNT),
    "tiers": _per(LoyaltyTier, {"points": _RANGE, "weight": _COUNT}),
    "names": _per(Language, {"first": [_TEXT], "last": [_TEXT]}),
    "bags": _per(Language, [_TEXT]),
    "delays": [_POSITIVE],
    "gate_letters": _LETTERS,
    "assistance": [_ASSISTANCE],
    "extra_refunds": [{"reason": _TEXT, "amount": _RANGE}],
    "reference_characters": _is(_matches("[A-Z0-9]+"), "capital letters and digits"),
    "topics": {"booking": [_TEXT], "general": [_TEXT]},
    "summaries": {_TEXT: _summary},
    _WHOLE: _topics_fit,
}


def _fixed_spec(airport: Check, topics: Any) -> dict[Any, Any]:
    """fixed.yml's spec: flight numbers and references once each, bookings on listed flights."""
    numbers: set[str] = set()
    moment = {"day": _INT, "at": _CLOCK}
    flight = {
        "number": _new(numbers, _FLIGHT_NUMBER),
        "origin": airport,
        "destination": airport,
        "day": _INT,
        "departs": _CLOCK,
        "status?": _enum(FlightStatus),
        "delay?": _COUNT,
        "gate?": _TEXT,
        "terminal?": _TEXT,
        _WHOLE: _delay_fits,
    }
    listed = _among(numbers, "a flight number of the flights above")
    booking = {
        "reference": _new(set(), _REFERENCE),
        "fare": _enum(FareFamily),
        "flights": [listed],
        "passengers": [{"name": _TEXT, "seats": [_SEAT], "assistance?": _ASSISTANCE}],
        "total": _MONEY,
        "booked": moment,
        "status?": _enum(BookingStatus),
        "refunds?": [
            {
                "amount": _MONEY,
                "status": _enum(RefundStatus),
                "reason": _TEXT,
                "requested": moment,
                "expected_in_days?": _INT,
            }
        ],
        "contacts?": [
            {
                "channel": _enum(Channel),
                "topic": _among(topics, "a topic of crowd.yml"),
                "handled_by": _enum(HandledBy),
                "when": moment,
            }
        ],
        "baggage_reports?": [
            {
                "file_reference": _FILE,
                "flight": listed,
                "kind": _enum(BaggageKind),
                "status": _enum(BaggageStatus),
                "description": _TEXT,
                "last_seen": airport,
                "minutes_after_arrival": _COUNT,
                "updated_hours_later": _COUNT,
            }
        ],
        _WHOLE: _booking_fits,
    }
    customer = {
        "full_name": _TEXT,
        "language": _enum(Language),
        "tier": _enum(LoyaltyTier),
        "points": _COUNT,
        "web": _TEXT,
        "telegram?": _TEXT,
        "x?": _TEXT,
        "since": _INT,
        "bookings?": [booking],
    }
    return {"flights": [flight], "customers": [customer]}


def _load(directory: Path, name: str, spec: Any) -> Any:
    path = directory / f"{name}.yml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DemoDataError(f"{path}: no such file") from None
    except yaml.YAMLError as error:
        raise DemoDataError(f"{path}: not valid YAML: {error}") from error
    return _walk(spec, data, str(path))


def load_demo(directory: Path = DEMO_DIR) -> DemoData:
    """The demo files of `directory`, checked; DemoDataError names the first problem found."""
    airports = {
        code: Airport(code, **{**entry, "terminals": tuple(entry["terminals"])})
        for code, entry in _load(directory, "airports", {_IATA: _AIRPORT}).items()
    }
    airport = _among(airports, "an airport code of airports.yml")
    airline = _load(
        directory,
        "airline",
        {
            "routes": {airport: [airport]},
            "days": _RANGE,
            "flight_numbers": {kind: _ODD for kind in ("long_haul", "europe", "africa", "france")},
            "cabins": {"long_haul": _CABIN, "other": _CABIN},
            "fares": _per(FareFamily, _FARE),
        },
    )
    crowd = _load(directory, "crowd", _CROWD)
    fixed = _load(directory, "fixed", _fixed_spec(airport, crowd["summaries"]))
    return DemoData(airports, airline, fixed, crowd)
