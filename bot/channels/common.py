"""What the channels share: splitting long replies, and their persisted bookkeeping."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from relais.storage.conversations import ChannelState

_BREAKS = ("\n\n", "\n", ". ", "! ", "? ", "; ", ", ", " ")


def split_text(text: str, limit: int) -> list[str]:
    """`text` in pieces of at most `limit` characters, cut at the best boundary available:
    a paragraph, a line, a sentence, a clause, a word — a word is never cut unless it alone
    is longer than the limit."""
    if limit < 1:
        raise ValueError("limit must be positive")
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = -1
        for mark in _BREAKS:
            at = window.rfind(mark)
            if at >= limit // 3:
                cut = at + len(mark.rstrip(" ")) if mark.strip() else at
                break
        if cut <= 0:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def numbered_options(text: str, buttons: list[dict[str, Any]]) -> str:
    """Buttons as a numbered list under the text, for channels without buttons."""
    if not buttons:
        return text
    lines = [f"{i}. {b.get('title', '')}" for i, b in enumerate(buttons, start=1)]
    return text + "\n\n" + "\n".join(lines)


def get_state(session: Session, channel: str, key: str) -> str | None:
    found = session.get(ChannelState, (channel, key))
    return found.value if found else None


def set_state(session: Session, channel: str, key: str, value: str) -> None:
    found = session.get(ChannelState, (channel, key))
    if found is None:
        session.add(ChannelState(channel=channel, key=key, value=value))
    else:
        found.value = value
