"""Numbered choices: on channels without buttons, "2" picks the second option offered.

X shows the bot's buttons as a numbered list (bot/channels/x.py), and a customer may answer
any channel's buttons that way: "2" then stands for the second button's payload. Pure
functions: the router reads the bot's latest buttons and sends the payload to Rasa instead
of the text.

The same buttons decide what may reach Rasa as an intent ("/flight_status"): their payloads
only. A customer who types "/human_request" is read as words (`text_for_rasa`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

# ASCII digits only: str.isdigit() also accepts "²" or "٣", which int() then refuses or
# reads as a number the customer never typed. Three digits cover any list of options.
_NUMBER = re.compile(r"[0-9]{1,3}")


def choice_number(text: str) -> int | None:
    """The option number a message stands for ("2", " 2 "), or None if it is not one."""
    found = _NUMBER.fullmatch(text.strip())
    return int(found.group()) if found else None


def chosen_payload(text: str, buttons: Sequence[Mapping[str, Any]]) -> str | None:
    """The payload of the button the customer chose by its number; None when the message is
    not a number, or no such option was offered (it then goes to Rasa as plain text)."""
    number = choice_number(text)
    if number is None or not 1 <= number <= len(buttons):
        return None
    return str(buttons[number - 1].get("payload") or "") or None


# Rasa's REST channel reads a message whose text (stripped of whitespace) starts with "/" as
# an intent with entities ("/human_request", '/inform{"x": 1}'), skipping its NLU. That is
# how buttons work, so only the payloads the bot offered may reach it so; anything else a
# customer types goes as words.
INTENT_PREFIX = "/"
# What Rasa strips (str.strip: every Unicode space) and the prefix itself, repeated: "/ /x"
# must not become "/x" once Rasa has stripped the first part.
_LEADING = re.compile(r"^[\s/]+")


def reads_as_intent(text: str) -> bool:
    """True when Rasa would take `text` for an intent rather than read it."""
    return text.strip().startswith(INTENT_PREFIX)


def text_for_rasa(text: str, offered: Sequence[Mapping[str, Any]]) -> str:
    """What is sent to Rasa for a customer's `text`: the text itself; a payload of one of
    the buttons `offered` with the bot's latest message (a press, or the payload typed); or,
    for any other text Rasa would read as an intent, the words without the leading slashes,
    which its NLU then classifies like any other message."""
    if not reads_as_intent(text):
        return text
    stripped = text.strip()
    if any(stripped == str(b.get("payload") or "").strip() for b in offered):
        return stripped
    return _LEADING.sub("", text)
