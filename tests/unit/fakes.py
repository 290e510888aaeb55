"""Stand-ins for the unit tier: a Rasa server in memory, so the router runs without a model.

`FakeRasa` has the methods of `bot.rasa_client.RasaClient` that the gateway calls. Like the
real server, it keeps a tracker per conversation (a user event with the message's metadata,
the bot's events, then `action_listen`, or `pause` after a handoff), which is what the
router's crash recovery reads. A test scripts the replies, makes Rasa unreachable, makes one
message fail, or makes the gateway "die" right after Rasa got a message.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from relais.core.errors import RasaUnavailable
from relais.core.handoff import carries_handoff


class ProcessDied(BaseException):
    """The gateway's process was killed. Not an Exception, so that nothing in the router
    catches it: whatever was committed before stays, nothing after happens."""


@dataclass
class Sent:
    """A message Rasa's REST channel received."""

    sender: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


class FakeRasa:
    """Rasa in memory, recording every call (see the module's docstring)."""

    def __init__(self) -> None:
        #: Every call, in order: ("send", sender, text), ("tracker", sender)…
        self.calls: list[tuple[Any, ...]] = []
        #: What the REST channel received, in order.
        self.sent: list[Sent] = []
        #: Each conversation's tracker events, as Rasa would store them.
        self.trackers: dict[str, list[dict[str, Any]]] = defaultdict(list)
        #: True: every call raises RasaUnavailable, as when the server is down.
        self.unavailable = False
        #: What /model/parse answers (the text is added).
        self.parse_result: dict[str, Any] = {
            "intent": {"name": "greet", "confidence": 0.99},
            "entities": [],
            "anger": 0.0,
        }
        #: Awaited when a message arrives, before it is answered: a test may act meanwhile
        #: (the customer writes again, another worker wakes up).
        self.on_send: Callable[[str], Awaitable[None]] | None = None
        #: The most messages Rasa was answering at the same time.
        self.max_in_flight = 0
        self.closed = False
        self._in_flight = 0
        self._scripts: dict[str, list[dict[str, Any]]] = {}
        self._failures: dict[str, Exception] = {}
        self._die: str | None = None  # None, "answered" or "unfinished"

    # --- scripting ------------------------------------------------------------------------

    def script(self, text: str, *replies: dict[str, Any]) -> None:
        """The bot answers `text` with `replies` (REST channel messages: text, buttons, custom).
        Without a script it answers {"text": "echo: <text>"}."""
        self._scripts[text] = list(replies)

    def fail_on(self, text: str, error: Exception) -> None:
        """`send(text)` raises `error` after Rasa received the message."""
        self._failures[text] = error

    def die_after_next_message(self, finished: bool = True) -> None:
        """The next `send` reaches Rasa, which records the turn in the tracker (finished, or
        still running), and then the gateway's process dies (ProcessDied) before it hears
        the answer."""
        self._die = "answered" if finished else "unfinished"

    def finish_turn(self, sender: str) -> None:
        """A turn left running (`die_after_next_message(finished=False)`) ends now."""
        self.trackers[sender].append({"event": "action", "name": "action_listen"})

    def replies_to(self, text: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self._scripts.get(text, [{"text": f"echo: {text}"}])]

    # --- RasaClient's methods ----------------------------------------------------------------

    async def send(
        self, sender: str, text: str, metadata: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        self.calls.append(("send", sender, text))
        self._check_up()
        self.sent.append(Sent(sender, text, dict(metadata or {})))
        self._in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if self.on_send is not None:
                await self.on_send(text)
            if text in self._failures:
                raise self._failures[text]
            replies = self.replies_to(text)
            die, self._die = self._die, None
            self._record_turn(sender, text, metadata or {}, replies, finished=die != "unfinished")
            if die is not None:
                raise ProcessDied(f"killed after Rasa got {text!r}")
            return replies
        finally:
            self._in_flight -= 1

    async def parse(self, text: str) -> dict[str, Any]:
        self.calls.append(("parse", text))
        self._check_up()
        return {**self.parse_result, "text": text}

    async def append_events(self, conversation_id: str, events: list[dict[str, Any]]) -> None:
        self.calls.append(("append_events", conversation_id, events))
        self._check_up()
        self.trackers[conversation_id].extend(events)

    async def trigger_intent(
        self, conversation_id: str, intent: str, entities: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        self.calls.append(("trigger_intent", conversation_id, intent, entities or {}))
        self._check_up()
        replies = self.replies_to(f"/{intent}")
        self.trackers[conversation_id].extend(_bot_events(replies))
        return replies

    async def tracker(self, conversation_id: str) -> dict[str, Any]:
        self.calls.append(("tracker", conversation_id))
        self._check_up()
        return {"sender_id": conversation_id, "events": list(self.trackers[conversation_id])}

    async def healthy(self) -> bool:
        return not self.unavailable

    async def close(self) -> None:
        self.closed = True

    # --- inside ---------------------------------------------------------------------------

    def called(self, method: str) -> list[tuple[Any, ...]]:
        """The calls of one method, in order."""
        return [call for call in self.calls if call[0] == method]

    def _check_up(self) -> None:
        if self.unavailable:
            raise RasaUnavailable("connection refused (FakeRasa is down)")

    def _record_turn(
        self,
        sender: str,
        text: str,
        metadata: dict[str, Any],
        replies: list[dict[str, Any]],
        finished: bool,
    ) -> None:
        events = self.trackers[sender]
        events.append(
            {
                "event": "user",
                "text": text,
                "metadata": dict(metadata),
                "parse_data": {**self.parse_result, "text": text},
            }
        )
        events.extend(_bot_events(replies))
        if finished:
            handed_over = any(carries_handoff(r.get("custom")) for r in replies)
            events.append(
                {"event": "pause"} if handed_over else {"event": "action", "name": "action_listen"}
            )


def _bot_events(replies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tracker's record of the bot's messages (Rasa keeps buttons and custom in `data`)."""
    return [
        {
            "event": "bot",
            "text": r.get("text"),
            "data": {"buttons": r.get("buttons"), "custom": r.get("custom")},
        }
        for r in replies
    ]
