"""Numbered choices: on channels without buttons, "2" picks the second option offered.

X shows the bot's buttons as a numbered list (bot/channels/x.py), and a customer may answer
any channel's buttons that way: "2" then stands for the second button's payload. Pure
functions: the router reads the bot's latest buttons and sends the payload to Rasa instead
of the text.
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
