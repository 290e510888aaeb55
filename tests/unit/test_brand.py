"""brand.yml and relais.core.brand: loading, checking, support hours across weekends and time
zones."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from relais.core.brand import Brand, BrandConfigError, load_brand, parse_brand
from relais.core.config import settings

ROOT = Path(__file__).resolve().parents[2]
PARIS = ZoneInfo("Europe/Paris")
UTC = timezone.utc


@pytest.fixture
def brand() -> Brand:
    return load_brand(ROOT / "brand.yml")


@pytest.fixture
def brand_data() -> dict:
    return yaml.safe_load((ROOT / "brand.yml").read_text(encoding="utf-8"))


@pytest.fixture
def clean_settings() -> Iterator[None]:
    settings.cache_clear()
    yield
    settings.cache_clear()


def write(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_the_brand_file_describes_celeste_air(brand: Brand) -> None:
    assert brand.name == "Céleste Air"
    assert brand.code == "XY"
    assert brand.timezone == "Europe/Paris"
    assert brand.default_language == "en"
    assert set(brand.links) >= {
        "website",
        "manage_booking",
        "baggage_policy",
        "special_assistance",
        "travel_documents",
        "booking",
    }
    assert all(url.startswith("https://www.celeste-air.example/") for url in brand.links.values())
    assert dict(brand.first_response.by_channel) == {"x": 30, "telegram": 30, "web": 10}
    assert dict(brand.first_response.by_priority) == {1: 15, 2: 30, 3: 60, 4: 240}


def test_the_stricter_response_target_applies(brand: Brand) -> None:
    assert brand.first_response.minutes(channel="web", priority=4) == 10
    assert brand.first_response.minutes(channel="x", priority=1) == 15
    assert brand.first_response.minutes(priority=3) == 60


def test_hours_text_in_both_languages(brand: Brand) -> None:
    assert brand.hours_text("en") == "Mon–Fri 08:00–20:00, Sat–Sun 09:00–18:00 (Paris time)"
    assert brand.hours_text("fr") == "lun.–ven. 08h00–20h00, sam.–dim. 09h00–18h00 (heure de Paris)"
    with pytest.raises(ValueError):
        brand.hours_text("de")


def test_hours_text_groups_days_and_names_closed_ones(brand_data: dict) -> None:
    brand_data["timezone"] = "Europe/Amsterdam"
    brand_data["support_hours"].update(wed="10:00-16:00", sun="closed")
    brand = parse_brand(brand_data)
    assert brand.hours_text("en") == (
        "Mon–Tue 08:00–20:00, Wed 10:00–16:00, Thu–Fri 08:00–20:00, Sat 09:00–18:00, "
        "Sun closed (Amsterdam time)"
    )
    assert brand.hours_text("fr").endswith("sam. 09h00–18h00, dim. fermé (heure d'Amsterdam)")


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        # Weekdays: 08:00–20:00 Paris, i.e. 07:00–19:00 UTC in winter, 06:00–18:00 in summer.
        (datetime(2025, 1, 15, 7, 0, tzinfo=UTC), True),  # Wed 08:00 Paris: opening minute
        (datetime(2025, 1, 15, 6, 59, tzinfo=UTC), False),
        (datetime(2025, 1, 15, 18, 59, tzinfo=UTC), True),
        (datetime(2025, 1, 15, 19, 0, tzinfo=UTC), False),  # 20:00 Paris: closed
        (datetime(2025, 7, 16, 18, 30, tzinfo=UTC), False),  # 20:30 Paris in summer
        (datetime(2025, 7, 16, 17, 30, tzinfo=UTC), True),
        # Weekends: 09:00–18:00 Paris.
        (datetime(2025, 1, 18, 8, 30, tzinfo=PARIS), False),  # Sat 08:30
        (datetime(2025, 1, 18, 9, 0, tzinfo=PARIS), True),
        (datetime(2025, 1, 19, 17, 59, tzinfo=PARIS), True),  # Sun
        (datetime(2025, 1, 19, 18, 0, tzinfo=PARIS), False),
        # Another zone: 02:00 in New York on a Monday is 08:00 in Paris.
        (datetime(2025, 1, 20, 2, 0, tzinfo=ZoneInfo("America/New_York")), True),
        # Naive datetimes are UTC, like the records.
        (datetime(2025, 1, 15, 12, 0), True),
        (datetime(2025, 1, 15, 20, 0), False),
    ],
)
def test_is_open(brand: Brand, moment: datetime, expected: bool) -> None:
    assert brand.is_open(moment) is expected


@pytest.mark.parametrize(
    ("moment", "expected_paris"),
    [
        # Friday evening → Saturday 09:00.
        (datetime(2025, 1, 17, 20, 30, tzinfo=PARIS), datetime(2025, 1, 18, 9, 0)),
        # Sunday evening → Monday 08:00.
        (datetime(2025, 1, 19, 18, 0, tzinfo=PARIS), datetime(2025, 1, 20, 8, 0)),
        # Early on a weekday → the same morning.
        (datetime(2025, 1, 15, 5, 0, tzinfo=UTC), datetime(2025, 1, 15, 8, 0)),
        # Saturday night before the clocks go forward (30 March 2025) → Sunday 09:00 CEST.
        (datetime(2025, 3, 29, 17, 30, tzinfo=UTC), datetime(2025, 3, 30, 9, 0)),
        # Tuesday 23:00 in Montréal is already Wednesday 05:00 in Paris → Wednesday 08:00.
        (
            datetime(2025, 1, 14, 23, 0, tzinfo=ZoneInfo("America/Toronto")),
            datetime(2025, 1, 15, 8, 0),
        ),
    ],
)
def test_next_opening(brand: Brand, moment: datetime, expected_paris: datetime) -> None:
    opening = brand.next_opening(moment)
    assert opening.tzinfo == PARIS
    assert opening.replace(tzinfo=None) == expected_paris
    assert opening > moment
    assert brand.is_open(opening)


def test_next_opening_across_the_dst_change_is_the_right_instant(brand: Brand) -> None:
    opening = brand.next_opening(datetime(2025, 3, 29, 17, 30, tzinfo=UTC))
    assert opening.astimezone(UTC) == datetime(2025, 3, 30, 7, 0, tzinfo=UTC)


def test_next_opening_when_open_is_now(brand: Brand) -> None:
    moment = datetime(2025, 1, 15, 10, 0, tzinfo=UTC)
    assert brand.next_opening(moment) == moment
    assert brand.next_opening(moment).tzinfo == PARIS


def test_load_brand_defaults_to_the_settings_file(
    tmp_path: Path, brand_data: dict, monkeypatch: pytest.MonkeyPatch, clean_settings: None
) -> None:
    brand_data["name"] = "Other Air"
    monkeypatch.setenv("RELAIS_BRAND_FILE", str(write(tmp_path / "other.yml", brand_data)))
    assert load_brand().name == "Other Air"


def test_an_edited_brand_file_is_read_again(tmp_path: Path, brand_data: dict) -> None:
    path = write(tmp_path / "brand.yml", brand_data)
    assert load_brand(path).name == "Céleste Air"
    brand_data["name"] = "Céleste Air Régional"
    write(path, brand_data)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert load_brand(path).name == "Céleste Air Régional"


Change = Callable[[dict], None]


def _parent(data: dict, key: str) -> tuple[dict, str]:
    """The mapping that holds a dotted key, and the key's last part."""
    path, _, leaf = key.rpartition(".")
    for part in filter(None, path.split(".")):
        data = data[part]
    return data, leaf


def _drop(key: str) -> Change:
    def change(data: dict) -> None:
        parent, leaf = _parent(data, key)
        del parent[int(leaf) if leaf.isdigit() else leaf]

    return change


def _set(key: str, value: object) -> Change:
    def change(data: dict) -> None:
        parent, leaf = _parent(data, key)
        parent[int(leaf) if leaf.isdigit() else leaf] = value

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_drop("name"), "missing key(s): name"),
        (_drop("support_hours"), "missing key(s): support_hours"),
        (_drop("support_hours.sat"), "support_hours.sat: missing"),
        (_drop("links.booking"), "links.booking: missing"),
        (
            _drop("first_response_minutes.by_channel.web"),
            "first_response_minutes.by_channel.web: missing",
        ),
        (_set("support_hours.mon", "25:00-26:00"), "support_hours.mon: not a time of day"),
        (_set("support_hours.mon", "8h-20h"), 'support_hours.mon: expected "HH:MM-HH:MM"'),
        (_set("support_hours.tue", "20:00-08:00"), "support_hours.tue: closes before it opens"),
        (_set("support_hours.wed", 1200), "support_hours.wed: got the number 1200"),
        (_set("support_hours.funday", "08:00-20:00"), "unknown day(s) funday"),
        (_set("timezone", "Europe/Atlantis"), "timezone: unknown time zone 'Europe/Atlantis'"),
        (_set("timezone", "../etc/passwd"), "timezone: unknown time zone"),
        (_set("default_language", "de"), "default_language: expected one of en, fr"),
        (_set("code", "celeste"), "code: expected a two-character airline code"),
        (_set("links.website", "http://insecure.example"), "links.website: expected an https://"),
        (
            _set("first_response_minutes.by_priority.1", 0),
            "by_priority.1: expected a positive number",
        ),
        (_set("slogan", "Fly high"), "unknown key(s): slogan"),
    ],
)
def test_bad_brand_files_are_refused_with_the_key_named(
    tmp_path: Path, brand_data: dict, change: Change, message: str
) -> None:
    change(brand_data)
    path = write(tmp_path / "brand.yml", brand_data)
    with pytest.raises(BrandConfigError) as raised:
        load_brand(path)
    assert message in str(raised.value)
    assert str(path) in str(raised.value)


def test_every_day_closed_is_refused(brand_data: dict) -> None:
    brand_data["support_hours"] = {day: "closed" for day in brand_data["support_hours"]}
    with pytest.raises(BrandConfigError, match="closed every day"):
        parse_brand(brand_data)


@pytest.mark.parametrize(
    ("text", "message"),
    [("name: [unclosed", "not valid YAML"), ("- just\n- a list\n", "expected a mapping")],
)
def test_unreadable_brand_files_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "brand.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BrandConfigError, match=message):
        load_brand(path)


def test_a_missing_brand_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BrandConfigError, match="no such file"):
        load_brand(tmp_path / "nowhere.yml")
