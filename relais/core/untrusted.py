"""What comes from outside (customers, platforms) is cleaned before it is stored or logged.

A control character in a sender id or a text does nothing useful for a customer and a lot
for an attacker: NUL makes PostgreSQL refuse the row (the message would fail over and over),
a carriage return or an escape sequence forges or hides lines in a log or a terminal, and a
lone surrogate (valid in JSON as "\\ud800", not in UTF-8) makes any encoder raise. Pure
functions: relais/storage/messages.py applies them to every inbound message, whatever the
channel, and the channels to what they log.
"""

from __future__ import annotations

import hashlib
import unicodedata

#: Unicode categories never kept in an id: controls, format characters (zero-width, bidi
#: overrides: an id must read as what it is), surrogates, private use, line and paragraph
#: separators, unassigned code points.
_NOT_IN_IDS = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp", "Cn"})
#: Kept in a text: what a customer types on purpose (a line break, a tab). Format
#: characters stay too: emoji sequences and right-to-left scripts need them.
_KEPT_CONTROLS = frozenset("\n\t")


def clean_text(text: str) -> str:
    """`text` without control characters (line breaks and tabs kept; "\\r\\n" and a lone
    "\\r" become "\\n") and without lone surrogates."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(
        c for c in text if c in _KEPT_CONTROLS or unicodedata.category(c) not in ("Cc", "Cs")
    )


def clean_id(value: str) -> str:
    """An identifier from outside (a sender, a platform's message id) as one clean line:
    every control, format or separator character removed, and no surrounding blanks."""
    return "".join(c for c in value if unicodedata.category(c) not in _NOT_IN_IDS).strip()


def bounded_id(value: str, limit: int) -> str:
    """`value` if it fits in `limit` characters, else its start and a digest of all of it:
    as stable as the value (the same delivery maps to the same id, so it is still stored
    once) and as distinct (two ids differing only after the cut stay two ids)."""
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    keep = max(0, limit - len(digest) - 1)
    return f"{value[:keep]}~{digest}"[:limit]


def for_log(value: object, limit: int = 200) -> str:
    """`value` as one short line for a log: controls escaped, cut at `limit` characters."""
    text = str(value)
    shown = "".join(
        c if unicodedata.category(c) not in _NOT_IN_IDS else f"\\u{ord(c):04x}" for c in text
    )
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"
