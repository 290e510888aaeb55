"""The bot's texts, in English and French, from relais/core/texts.yml."""

from __future__ import annotations

import re
import string
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from relais.core.errors import RelaisError

TEXTS_FILE = Path(__file__).with_name("texts.yml")
LANGUAGES = ("en", "fr")


class MissingText(RelaisError, KeyError):
    """A text key or language is missing from relais/core/texts.yml."""


@lru_cache(maxsize=1)
def catalog() -> dict[str, dict[str, str]]:
    """All texts, keyed by name then language (read once per process)."""
    data = yaml.safe_load(TEXTS_FILE.read_text(encoding="utf-8"))
    return {
        str(key): {str(k): str(v).strip() for k, v in value.items()} for key, value in data.items()
    }


def say(key: str, lang: str, **values: Any) -> str:
    """The text `key` in `lang`, with its {placeholders} filled."""
    try:
        template = catalog()[key][lang]
    except KeyError as error:
        raise MissingText(f"no text {key!r} in {lang!r} in {TEXTS_FILE.name}") from error
    return _tidy(template.format(**values), lang)


def _tidy(text: str, lang: str) -> str:
    """Closes the gap an empty value leaves ("Bye , have…" or "You're welcome !" when the name
    is unknown). French keeps its space before ! and ? ("Avec plaisir !")."""
    text = re.sub(r" +,", ",", text)
    text = re.sub(r",\s*([.!?])", r"\1", text)
    if lang != "fr":
        text = re.sub(r" +([.!?])", r"\1", text)
    return re.sub(r" {2,}", " ", text)


def has_text(key: str) -> bool:
    return key in catalog()


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}
