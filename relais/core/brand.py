"""The brand the assistant speaks for: name, support hours, links, response targets (brand.yml).

`load_brand()` checks the whole file, so a mistake stops start-up with a message naming the key.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from relais.core.config import settings
from relais.core.errors import ConfigError
from relais.core.texts import say

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LANGUAGES = ("en", "fr")
#: Links the replies point to; every one must be in brand.yml.
REQUIRED_LINKS = (
    "website",
    "manage_booking",
    "baggage_policy",
    "special_assistance",
    "travel_documents",
    "booking",
)
#: Channels and priorities that must each have a first-response target.
CHANNELS = ("x", "telegram", "web")
PRIORITIES = (1, 2, 3, 4)
_TOP_LEVEL = (
    "name",
    "code",
    "timezone",
    "default_language",
    "support_hours",
    "links",
    "first_response_minutes",
)
#: Optional keys, with their defaults.
_OPTIONAL = {"knowledge": "knowledge"}
_RANGE = re.compile(r"\s*(\d{1,2}):(\d{2})\s*[-–]\s*(\d{1,2}):(\d{2})\s*")


class BrandConfigError(ConfigError):
    """brand.yml is missing a setting or holds a value that cannot be used."""


#: Builds the error for one key of the file: fail("links.booking", "missing").
_Fail = Callable[[str, str], BrandConfigError]


@dataclass(frozen=True)
class OpeningHours:
    """When people answer on one weekday, in the brand's local time."""

    opens: time
    closes: time

    def __contains__(self, moment: time) -> bool:
        return self.opens <= moment < self.closes


@dataclass(frozen=True)
class ResponseTargets:
    """How soon, in minutes, a person should first answer a conversation handed over."""

    by_channel: Mapping[str, int]
    by_priority: Mapping[int, int]

    def minutes(self, *, channel: str | None = None, priority: int | None = None) -> int:
        """The stricter (smaller) of the targets for `channel` and `priority`."""
        targets = []
        if channel is not None:
            targets.append(self.by_channel[channel])
        if priority is not None:
            targets.append(self.by_priority[priority])
        if not targets:
            raise ValueError("give a channel, a priority or both")
        return min(targets)


@dataclass(frozen=True)
class Brand:
    """Everything brand-specific the assistant says or decides."""

    name: str
    code: str
    timezone: str
    default_language: str
    #: Support hours per weekday, Monday first; None on a closed day.
    hours: tuple[OpeningHours | None, ...]
    links: Mapping[str, str]
    first_response: ResponseTargets
    #: The folder of the brand's knowledge articles (relais/core/knowledge.py).
    knowledge_dir: Path = Path("knowledge")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def city(self) -> str:
        """The city that names the time zone ("Paris" for Europe/Paris)."""
        return self.timezone.rsplit("/", 1)[-1].replace("_", " ")

    def local(self, at: datetime) -> datetime:
        """`at` in the brand's time zone; a naive `at` is taken as UTC, like the records."""
        if at.tzinfo is None:
            at = at.replace(tzinfo=timezone.utc)
        return at.astimezone(self.tz)

    def is_open(self, at: datetime) -> bool:
        """Whether people answer at the moment `at`."""
        local = self.local(at)
        hours = self.hours[local.weekday()]
        return hours is not None and local.time().replace(tzinfo=None) in hours

    def next_opening(self, at: datetime) -> datetime:
        """When people next answer, in the brand's time zone: `at` itself if open then."""
        local = self.local(at)
        if self.is_open(local):
            return local
        for days_ahead in range(8):
            day = local.date() + timedelta(days=days_ahead)
            hours = self.hours[day.weekday()]
            if hours is None:
                continue
            opening = datetime.combine(day, hours.opens, tzinfo=self.tz)
            if opening > local:
                return opening
        # parse_brand refuses a week without any opening, so this is unreachable.
        raise BrandConfigError("support is closed every day")

    def hours_text(self, lang: str) -> str:
        """The support hours in a sentence fragment, e.g. "Mon–Fri 08:00–20:00, … (Paris time)"."""
        if lang not in LANGUAGES:
            raise ValueError(f"no support-hours wording for language {lang!r}")
        days = [say(f"day.short.{day}", lang) for day in range(7)]
        parts = []
        for first, last, hours in _runs(self.hours):
            span = days[first] if first == last else f"{days[first]}–{days[last]}"
            parts.append(f"{span} {_hours_wording(hours, lang)}")
        # French elides "de" before a vowel or a mute h: "heure d'Amsterdam".
        elided = self.city[:1].lower() in "aeiouyéh"
        return say(
            "hours.local_time_elided" if elided else "hours.local_time",
            lang,
            hours=", ".join(parts),
            city=self.city,
        )


def _runs(hours: tuple[OpeningHours | None, ...]) -> list[tuple[int, int, OpeningHours | None]]:
    """Consecutive weekdays with the same hours, as (first, last, hours)."""
    runs: list[tuple[int, int, OpeningHours | None]] = []
    for index, day_hours in enumerate(hours):
        if runs and runs[-1][2] == day_hours:
            runs[-1] = (runs[-1][0], index, day_hours)
        else:
            runs.append((index, index, day_hours))
    return runs


def _hours_wording(hours: OpeningHours | None, lang: str) -> str:
    if hours is None:
        return say("hours.closed", lang)
    # A clock format, not words: each language writes the time its own way.
    pattern = "%Hh%M" if lang == "fr" else "%H:%M"
    return f"{hours.opens.strftime(pattern)}–{hours.closes.strftime(pattern)}"


def load_brand(path: Path | None = None) -> Brand:
    """The checked brand from `path` (default: `settings().brand_file`); re-read when edited."""
    path = Path(path or settings().brand_file)
    try:
        modified = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise BrandConfigError(f"{path}: no such file") from None
    return _load(path, modified)


@lru_cache(maxsize=8)
def _load(path: Path, _modified: int) -> Brand:
    # Keyed on the modification time too, so an edited brand.yml is picked up without a restart.
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise BrandConfigError(f"{path}: not valid YAML: {error}") from error
    return parse_brand(data, source=str(path), base=path.parent)


# The parsed YAML and its parts are `object`, not Any, here and below: mypy then insists that
# each is checked (isinstance) before it is used.
def parse_brand(data: object, *, source: str = "brand.yml", base: Path | None = None) -> Brand:
    """A Brand from the parsed YAML, or BrandConfigError naming the first problem found.

    Relative paths in it (the knowledge folder) are taken from `base`, the brand file's folder.
    """

    def fail(key: str, problem: str) -> BrandConfigError:
        return BrandConfigError(f"{source}: {key}: {problem}")

    if not isinstance(data, dict):
        raise BrandConfigError(
            f"{source}: expected a mapping of settings, got {type(data).__name__}"
        )
    missing = [key for key in _TOP_LEVEL if key not in data]
    if missing:
        raise BrandConfigError(f"{source}: missing key(s): {', '.join(missing)}")
    unknown = sorted(str(key) for key in data if key not in _TOP_LEVEL and key not in _OPTIONAL)
    if unknown:
        raise BrandConfigError(f"{source}: unknown key(s): {', '.join(unknown)}")

    name = _text(data["name"], "name", fail)
    code = _text(data["code"], "code", fail)
    if not re.fullmatch(r"[A-Z0-9]{2}", code):
        raise fail("code", f"expected a two-character airline code like XY, got {code!r}")

    zone = _text(data["timezone"], "timezone", fail)
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise fail(
            "timezone", f"unknown time zone {zone!r} (use an IANA name like Europe/Paris)"
        ) from None

    language = data["default_language"]
    if language not in LANGUAGES:
        raise fail("default_language", f"expected one of {', '.join(LANGUAGES)}, got {language!r}")

    return Brand(
        name=name,
        code=code,
        timezone=zone,
        default_language=language,
        hours=_support_hours(data["support_hours"], fail),
        links=_links(data["links"], fail),
        first_response=_targets(data["first_response_minutes"], fail),
        knowledge_dir=(base or Path("."))
        / _text(data.get("knowledge", _OPTIONAL["knowledge"]), "knowledge", fail),
    )


def _text(value: object, key: str, fail: _Fail) -> str:
    if not isinstance(value, str) or not value.strip():
        raise fail(key, f"expected some text, got {value!r}")
    return value.strip()


def _mapping(value: object, key: str, fail: _Fail) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise fail(key, f"expected a mapping, got {value!r}")
    return value


def _support_hours(value: object, fail: _Fail) -> tuple[OpeningHours | None, ...]:
    days = _mapping(value, "support_hours", fail)
    unknown = sorted(str(day) for day in days if day not in WEEKDAYS)
    if unknown:
        raise fail(
            "support_hours", f"unknown day(s) {', '.join(unknown)} (use {', '.join(WEEKDAYS)})"
        )
    hours = []
    for day in WEEKDAYS:
        key = f"support_hours.{day}"
        if day not in days:
            raise fail(key, 'missing (give "HH:MM-HH:MM" or "closed")')
        hours.append(_opening_hours(days[day], key, fail))
    if all(day_hours is None for day_hours in hours):
        raise fail("support_hours", "closed every day")
    return tuple(hours)


def _opening_hours(value: object, key: str, fail: _Fail) -> OpeningHours | None:
    if value is None or value == "closed":
        return None
    if isinstance(value, int):
        # YAML 1.1 reads an unquoted 20:00 as the base-60 number 1200.
        raise fail(key, f'got the number {value}: write the hours in quotes, like "08:00-20:00"')
    match = _RANGE.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise fail(key, f'expected "HH:MM-HH:MM" or "closed", got {value!r}')
    try:
        opens = time(int(match[1]), int(match[2]))
        closes = time(int(match[3]), int(match[4]))
    except ValueError:
        raise fail(key, f"not a time of day: {value!r}") from None
    if closes <= opens:
        raise fail(key, f"closes before it opens: {value!r} (overnight hours are not supported)")
    return OpeningHours(opens, closes)


def _links(value: object, fail: _Fail) -> Mapping[str, str]:
    links = _mapping(value, "links", fail)
    for name in REQUIRED_LINKS:
        if name not in links:
            raise fail(f"links.{name}", "missing")
    for name, url in links.items():
        if not isinstance(url, str) or not url.startswith("https://"):
            raise fail(f"links.{name}", f"expected an https:// address, got {url!r}")
    return MappingProxyType({str(name): url for name, url in links.items()})


def _targets(value: object, fail: _Fail) -> ResponseTargets:
    targets = _mapping(value, "first_response_minutes", fail)
    by_channel = _minutes(
        targets.get("by_channel"), "first_response_minutes.by_channel", CHANNELS, fail
    )
    by_priority = _minutes(
        targets.get("by_priority"), "first_response_minutes.by_priority", PRIORITIES, fail
    )
    unknown = sorted(str(key) for key in targets if key not in ("by_channel", "by_priority"))
    if unknown:
        raise fail("first_response_minutes", f"unknown key(s): {', '.join(unknown)}")
    return ResponseTargets(MappingProxyType(by_channel), MappingProxyType(by_priority))


def _minutes(value: object, key: str, required: tuple[object, ...], fail: _Fail) -> dict[Any, int]:
    minutes = _mapping(value, key, fail)
    for name in required:
        if name not in minutes:
            raise fail(f"{key}.{name}", "missing")
    for name, amount in minutes.items():
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise fail(f"{key}.{name}", f"expected a positive number of minutes, got {amount!r}")
    return dict(minutes)
