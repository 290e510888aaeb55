"""A terminal chat with the running bot over Rasa's REST channel (`relais chat`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import requests


def send(url: str, sender: str, text: str, timeout: float = 30.0) -> list[dict]:
    """One message to the REST channel; the bot's replies."""
    response = requests.post(
        f"{url.rstrip('/')}/webhooks/rest/webhook",
        json={"sender": sender, "message": text},
        timeout=timeout,
    )
    response.raise_for_status()
    return list(response.json())


def show(reply: dict) -> str:
    """How one reply is printed: its text, its buttons, or the handoff payload."""
    if "text" in reply:
        lines = [f"bot> {reply['text']}"]
        lines += [
            f"      [{b.get('title')}] → {b.get('payload')}" for b in reply.get("buttons", [])
        ]
        return "\n".join(lines)
    if "custom" in reply:
        return "bot> (handoff) " + json.dumps(reply["custom"], ensure_ascii=False)
    return "bot> " + json.dumps(reply, ensure_ascii=False)


def _lines() -> Iterator[str]:
    """Typed lines (with a prompt) or piped ones, until an empty line or end of input."""
    if not sys.stdin.isatty():
        yield from sys.stdin
        return
    while True:
        try:
            yield input("you> ")
        except (EOFError, KeyboardInterrupt):
            return


def chat(url: str, sender: str) -> int:
    print(f"Talking to {url} as {sender!r}. Empty line or Ctrl-D to quit.")
    for line in _lines():
        text = line.strip()
        if not text:
            break
        try:
            replies = send(url, sender, text)
        except requests.RequestException as error:
            print(f"cannot reach the bot at {url}: {error}", file=sys.stderr)
            return 1
        for reply in replies:
            print(show(reply))
        if not replies:
            print("bot> (no reply: the conversation is paused for a colleague)")
    return 0
