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


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


def _is_range(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(type(n) is int for n in value)
        and value[0] <= value[1]
    )


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
_RANGE = _is(_is_range, "[lowest, highest], two whole numbers", tuple)
_HOURS = _is(
    lambda v: _is_range(v) and v[0] >= 0 and v[1] <= 23, "[earliest, latest], hours 0 to 23", tuple
)
_FIXED_OR_RANGE = _is(
    lambda v: type(v) is int or _is_range(v),
    "a whole number, or [lowest, highest]",
    lambda v: v if type(v) is int else tuple(v),
)
_NUMBER = _is(lambda v: _is_number(v) and v >= 0, "a number, 0 or more", float)
_CHANCE = _is(lambda v: _is_number(v) and 0 <= v <= 1, "a chance from 0 to 1, like 0.25", float)
_SHARES_RANGE = _is(
    lambda v: (
        isinstance(v, list)
        and len(v) == 2
        and all(_is_number(n) and 0 <= n <= 1 for n in v)
        and v[0] <= v[1]
    ),
    "[lowest, highest], two numbers from 0 to 1",
    lambda v: (float(v[0]), float(v[1])),
)
_FRACTION = _is(_matches(r"0\.\d+"), 'a share in quotes, like "0.18"', Decimal)
_CENTS = _is(_matches(r"\d\d"), 'two digits in quotes, like "50"')
_MINUTE_STEP = _is(lambda v: type(v) is int and 1 <= v <= 60, "a whole number from 1 to 60")
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


def _shares(kind: Any) -> Check:
    """Values of the enum `kind` with their shares of the draws, adding up to 1."""

    def read(value: Any, where: str) -> dict[Any, float]:
        shares = _walk({_enum(kind): _CHANCE}, value, where)
        if abs(sum(shares.values()) - 1) > 1e-9:
            raise DemoDataError(f"{where}: the shares add up to {sum(shares.values()):g}, not 1")
        return shares

    return read


def _weighted(spec: Any, weight: Callable[[Any], int] = lambda value: value) -> Check:
    """A mapping of what may be drawn (checked by `spec`) whose weights are not all 0."""

    def read(value: Any, where: str) -> dict[Any, Any]:
        entries = _walk(spec, value, where)
        if not any(weight(entry) for entry in entries.values()):
            raise DemoDataError(f"{where}: expected a weight above 0")
        return entries

    return read


def _by_age(field: str, spec: Any) -> Check:
    """Lines by age in days, the first that fits applying: each but the last ends at its
    `up_to_days`, above the line before; the last takes any older age."""

    def read(value: Any, where: str) -> list[dict[str, Any]]:
        lines = _walk([{"up_to_days?": _COUNT, field: spec}], value, where)
        *bounded, last = [line.get("up_to_days") for line in lines]
        if last is not None or None in bounded or bounded != sorted(set(bounded)):
            raise DemoDataError(
                f"{where}: expected up_to_days on every line but the last, each above the one "
                "before"
            )
        return lines

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


def _topics_fit(contacts: dict[str, Any], where: str) -> None:
    topics = dict.fromkeys(topic for kind in contacts["topics"].values() for topic in kind)
    if missing := [topic for topic in topics if topic not in contacts["summaries"]]:
        raise DemoDataError(f"{where}: summaries: none for topic(s) {', '.join(missing)}")


def _paid_fits(refunds: dict[str, Any], where: str) -> None:
    # A refund is paid some days after its request and before the anchor: a line whose requests
    # may be younger than that cannot hold paid ones.
    after = refunds["paid"]["days_after_request"]
    youngest = refunds["requested_days_ago"][0]
    for i, line in enumerate(refunds["status"]):
        if RefundStatus.PAID in line["shares"] and youngest <= after:
            raise DemoDataError(
                f"{where}: status[{i}]: shares: paid: requests {youngest} day(s) old are too "
                f"young to have been paid {after} days after them (paid: days_after_request)"
            )
        youngest = line.get("up_to_days", 0) + 1


def _crowd_fits(crowd: dict[str, Any], where: str) -> None:
    # A refund is requested after its booking was made: the youngest bookings come first.
    booked = crowd["bookings"]["booked_days_before"][0]
    requested = crowd["refunds"]["requested_days_ago"][0]
    if booked <= requested:
        raise DemoDataError(
            f"{where}: refunds: requested_days_ago: starts at {requested}, so bookings: "
            f"booked_days_before must start above it, not at {booked}"
        )


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
_AIRLINE = {
    "days": _RANGE,
    "block_time": {
        "taxi_climb_descent_minutes": _COUNT,
        "cruise_kmh": _POSITIVE,
        "round_to": _MINUTE_STEP,
    },
    "long_haul_km": _POSITIVE,
    "flight_numbers": {kind: _ODD for kind in ("long_haul", "europe", "africa", "france")},
    "cabins": {"long_haul": _CABIN, "other": _CABIN},
    "currency": _is(_matches(r"[A-Z]{3}"), "a three-letter currency code like EUR"),
    "fares": _per(FareFamily, _FARE),
    "prices": {"per_flight": _NUMBER, "per_km": _NUMBER, "fare_factor": _per(FareFamily, _NUMBER)},
    "email_domain": _is(_matches(r"[a-z0-9-]+(\.[a-z0-9-]+)+"), "a domain like example.com"),
}
_ACCOUNT = {"chance": _CHANCE, "first_id": _POSITIVE}
_WHEN = {"day": _FIXED_OR_RANGE, "hour": _FIXED_OR_RANGE}
_CROWD = {
    "seed": _INT,
    "names": _per(Language, {"first": [_TEXT], "last": [_TEXT]}),
    "customers": {
        "count": _per(Language, _COUNT),
        "tiers": _weighted(
            _per(LoyaltyTier, {"points": _RANGE, "weight": _COUNT}), lambda tier: tier["weight"]
        ),
        "joined_days_ago": _RANGE,
        "web_chat_prefix": _TEXT,
        "telegram": _ACCOUNT,
        "x": _ACCOUNT,
    },
    "flights": {
        "days_per_route": [_POSITIVE],
        "departure_hours": {"outbound": _HOURS, "return": _HOURS},
        "minute_step": _MINUTE_STEP,
        "return_chance": _CHANCE,
        "stay_days": _RANGE,
        "status": _shares(FlightStatus),
        "delays": [_POSITIVE],
        "gates": {
            "known_within_days": _INT,
            "later_chance": _CHANCE,
            "letters": _LETTERS,
            "numbers": _RANGE,
        },
    },
    "bookings": {
        "per_customer": [_COUNT],
        "return_chance": _CHANCE,
        "fares": _weighted(_per(FareFamily, _COUNT)),
        "party_sizes": _weighted({_POSITIVE: _COUNT}),
        "customer_travels": _CHANCE,
        "same_last_name": _CHANCE,
        "seats_chosen": _per(FareFamily, _CHANCE),
        "assistance_chance": _CHANCE,
        "assistance": [_ASSISTANCE],
        "booked_days_before": _RANGE,
        "booked_hours": _HOURS,
        "cancelled_chance": {"flight_cancelled": _CHANCE, "otherwise": _CHANCE},
        "reference_characters": _is(_matches("[A-Z0-9]+"), "capital letters and digits"),
    },
    "baggage_reports": {
        "count": _COUNT,
        "landed_days_ago": _COUNT,
        "damaged_chance": _CHANCE,
        "reported_minutes_after_landing": _RANGE,
        "updated_share": _SHARES_RANGE,
        "status": _per(BaggageKind, _by_age("statuses", [_enum(BaggageStatus)])),
        "expected": {"located": _WHEN, "on_its_way": _WHEN},
        "delivered_days_after_report": _RANGE,
        "descriptions": _per(Language, [_TEXT]),
    },
    "refunds": {
        "count": _COUNT,
        "cancelled_booking": {
            "flight_cancelled": _TEXT,
            "refundable_fare": _TEXT,
            "taxes_only": _TEXT,
        },
        "taxes_share": _FRACTION,
        "confirmed_booking": [{"reason": _TEXT, "amount": _RANGE}],
        "cents": [_CENTS],
        "requested_days_ago": _RANGE,
        "requested_hours": _HOURS,
        "status": _by_age("shares", _shares(RefundStatus)),
        "expected_in_days": {"requested": _RANGE, "processing": _RANGE, "approved": _RANGE},
        "paid": {"days_after_request": _COUNT, "hours": _HOURS},
        _WHOLE: _paid_fits,
    },
    "contacts": {
        "customers": _COUNT,
        "repeat": {
            "customers": _COUNT,
            "recent_days_ago": _RANGE,
            "again_chance": _CHANCE,
            "earlier_days_ago": _RANGE,
        },
        "others": [_COUNT],
        "about_booking_chance": _CHANCE,
        "days_ago": _RANGE,
        "hours": _HOURS,
        "channels": [_enum(Channel)],
        "bot_chance": {_enum(Channel): _CHANCE},
        "topics": {
            "booking": [_TEXT],
            "with_refund": [_TEXT],
            "with_bag_report": [_TEXT],
            "general": [_TEXT],
        },
        "summaries": {_TEXT: _summary},
        _WHOLE: _topics_fit,
    },
    _WHOLE: _crowd_fits,
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
    airline = _load(directory, "airline", {"routes": {airport: [airport]}, **_AIRLINE})
    crowd = _load(directory, "crowd", _CROWD)
    fixed = _load(directory, "fixed", _fixed_spec(airport, crowd["contacts"]["summaries"]))
    return DemoData(airports, airline, fixed, crowd)
