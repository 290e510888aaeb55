"""Bursts: a customer who sends many lines in a few seconds gets one answer, not one per line.

Pure functions over what the router read from the database (bot/router.py does the reading
and the writing): whether the customer is in the middle of a burst, so the router waits a
moment, and which pending lines join the first one into a single message for Rasa. Every
line stays in the transcript either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

#: At most this much text goes to Rasa from one burst (the lines and the line breaks
#: between them).
MAX_BURST_TEXT = 4000
#: A burst: this many customer messages within BURST_WINDOW_S seconds, with more pending.
BURST_MESSAGES = 4
BURST_WINDOW_S = 5.0
#: How long the router waits for the customer to finish a burst before answering.
BURST_PAUSE_S = 1.0


class Line(NamedTuple):
    """A pending customer message, as far as joining it is concerned."""

    text: str
    has_attachments: bool = False


class Burst(NamedTuple):
    """What `join_burst` made of the pending lines."""

    joined: int  #: how many lines after the first join it (0: the first goes alone)
    text: str  #: what goes to Rasa: the first line and those joined, one per line


def is_burst(recent_customer_times: Sequence[datetime], pending: int, now: datetime) -> bool:
    """True when the customer is sending many lines at once and several are still pending.

    `recent_customer_times`: when the conversation's latest customer messages were stored
    (the last BURST_MESSAGES are enough); `pending`: how many wait for the router.
    """
    if pending < 2:
        return False
    since = now - timedelta(seconds=BURST_WINDOW_S)
    return sum(1 for at in recent_customer_times if at >= since) >= BURST_MESSAGES


def join_burst(lines: Sequence[Line], limit: int = MAX_BURST_TEXT) -> Burst:
    """How many of the pending lines after the first join it, and the joined text.

    `lines` are the pending messages, oldest first, the first included. Joining stops at a
    line with attachments (it is handled on its own, see bot/rasa_turn.py), at a blank
    line, and before the text would pass `limit`. A first line with attachments joins nothing.
    """
    if not lines:
        return Burst(0, "")
    first = lines[0]
    texts = [first.text]
    if first.has_attachments:
        return Burst(0, first.text)
    size = len(first.text)
    for line in lines[1:]:
        if line.has_attachments or not line.text.strip():
            break
        if size + 1 + len(line.text) > limit:  # + 1: the line break before it
            break
        texts.append(line.text)
        size += 1 + len(line.text)
    return Burst(len(texts) - 1, "\n".join(texts))
