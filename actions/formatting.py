"""Dates, times, money and routes written the way each language writes them."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

_DAYS = {
    "en": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
    "fr": ["lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."],
}
_MONTHS = {
    "en": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
    "fr": [
        "janv.",
        "févr.",
        "mars",
        "avr.",
        "mai",
        "juin",
        "juil.",
        "août",
        "sept.",
        "oct.",
        "nov.",
        "déc.",
    ],
}


def local(moment_utc: datetime, tz: str) -> datetime:
    """A naive UTC datetime from the database, in the time zone `tz`."""
    if moment_utc.tzinfo is None:
        moment_utc = moment_utc.replace(tzinfo=timezone.utc)
    return moment_utc.astimezone(ZoneInfo(tz))


def day(moment: date, lang: str) -> str:
    """'Tue 24 Nov' / 'mar. 24 nov.'"""
    return f"{_DAYS[lang][moment.weekday()]} {moment.day} {_MONTHS[lang][moment.month - 1]}"


def time(moment: datetime, lang: str) -> str:
    """'14:25' / '14h25'"""
    return moment.strftime("%H:%M") if lang == "en" else moment.strftime("%Hh%M")


def day_time(moment: datetime, lang: str) -> str:
    """'Tue 24 Nov 14:25' / 'mar. 24 nov. à 14h25'"""
    joiner = " " if lang == "en" else " à "
    return f"{day(moment, lang)}{joiner}{time(moment, lang)}"


def money(amount: Decimal | float, currency: str, lang: str) -> str:
    """'€182.40' / '182,40 €'"""
    symbol = {"EUR": "€", "USD": "$", "CAD": "CA$", "GBP": "£"}.get(currency, currency + " ")
    text = f"{Decimal(amount):,.2f}"
    if lang == "fr":
        text = text.replace(",", "\u202f").replace(".", ",")
        return f"{text} {symbol}"
    return f"{symbol}{text}"


def number(value: int, lang: str) -> str:
    """'48,210' / '48 210'"""
    text = f"{value:,}"
    return text.replace(",", "\u202f") if lang == "fr" else text


def minutes(value: int, lang: str) -> str:
    """'45 min' / '1 h 30' / '1h30'"""
    if value < 60:
        return f"{value} min"
    hours, rest = divmod(value, 60)
    if lang == "fr":
        return f"{hours}h{rest:02d}" if rest else f"{hours}h"
    return f"{hours} h {rest} min" if rest else f"{hours} h"
