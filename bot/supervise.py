"""Keeping the app's long-running work alive, and saying how it is (`GET /healthz`).

The background jobs (routing what waits, delivering the outbox, syncing trackers, requeueing)
and the channels' polling loops each run as a task of their own: one that raises is logged,
waits (1, 2, 4… seconds, at most a minute) and runs again, and never stops the others.
`Health` records what is down and why, for `/healthz` (bot/web.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from relais.core.untrusted import for_log

logger = logging.getLogger(__name__)

#: Backoff after a failure: the first wait, and the longest.
FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 60.0
#: A restarted loop counts as up again once it has run this long without failing.
HEALTHY_AFTER_S = 10.0


def backoff(failures: int, first: float = FIRST_BACKOFF_S, longest: float = MAX_BACKOFF_S) -> float:
    """How long to wait after `failures` failures in a row (1 or more): doubling, capped."""
    return min(longest, first * 2.0 ** max(0, failures - 1))


def describe(error: BaseException) -> str:
    """An exception as one short line (for /healthz and the logs)."""
    return for_log(f"{type(error).__name__}: {error}", limit=200)


@dataclass
class Health:
    """What is down, by name ("telegram", "drain"…): None (up) or why it is down.

    A channel may also say it is in trouble while its loop runs on (`trouble`: an API that
    keeps failing); its loop crashing (`down`) says more and is shown first."""

    channels: dict[str, str | None] = field(default_factory=dict)
    tasks: dict[str, str | None] = field(default_factory=dict)
    #: A channel's own report of trouble, read when /healthz asks.
    troubles: dict[str, Callable[[], str | None]] = field(default_factory=dict)

    def report(self) -> dict[str, object]:
        """{"status": "ok" | "degraded", "channels": {name: "ok" | "down: …"}, "tasks": …}."""
        channels = {}
        for name, down in self.channels.items():
            trouble = self.troubles[name]() if name in self.troubles else None
            problem = down or trouble
            channels[name] = "ok" if problem is None else f"down: {problem}"
        tasks = {
            name: "ok" if down is None else f"failing: {down}" for name, down in self.tasks.items()
        }
        degraded = any(v != "ok" for v in [*channels.values(), *tasks.values()])
        return {"status": "degraded" if degraded else "ok", "channels": channels, "tasks": tasks}


async def keep_polling(
    name: str,
    poll: Callable[[asyncio.Event], Coroutine[Any, Any, None]],
    stop: asyncio.Event,
    health: Health,
    healthy_after: float = HEALTHY_AFTER_S,
    first_backoff: float = FIRST_BACKOFF_S,
) -> None:
    """Runs a channel's `poll(stop)` until `stop` is set, starting it again after it raises
    (or returns early), with backoff. While it is down, `health` says why; once a restart has
    run `healthy_after` seconds without failing, it is up again.

    `poll` runs in this task, not in one of its own: aiohttp waits at shutdown for the tasks
    made after start-up, and a polling task ends only when `stop` is set, after that wait."""
    health.channels.setdefault(name, None)
    loop = asyncio.get_running_loop()
    failures = 0
    while not stop.is_set():
        started = loop.time()
        # A timer rather than a task, for the same reason.
        up_again = loop.call_later(healthy_after, health.channels.__setitem__, name, None)
        try:
            await poll(stop)
        except Exception as error:  # noqa: BLE001 - a polling loop must not end for good
            reason = describe(error)
            logger.exception("%s polling stopped: %s", name, reason)
        else:
            if stop.is_set():
                return
            reason = "the polling loop ended by itself"
            logger.error("%s: %s", name, reason)
        finally:
            up_again.cancel()
        if loop.time() - started >= healthy_after:
            failures = 0  # it had worked for a while: start again quickly
        failures += 1
        wait = backoff(failures, first_backoff)
        health.channels[name] = f"{reason} (restart {failures} in {wait:.0f}s)"
        await _pause(stop, wait)


async def _pause(stop: asyncio.Event, seconds: float, step: float = 0.25) -> None:
    """Waits `seconds`, or until `stop` is set. Short sleeps, not `wait_for(stop.wait())`,
    which would make a task that aiohttp's shutdown waits for (up to a minute here)."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while not stop.is_set() and (left := until - loop.time()) > 0:
        await asyncio.sleep(min(step, left))


async def repeat(
    name: str,
    work: Callable[[], Awaitable[object]],
    every: float,
    health: Health,
    wake: asyncio.Event | None = None,
    first_backoff: float = FIRST_BACKOFF_S,
) -> None:
    """Runs `work` every `every` seconds (sooner when `wake` is set, which it clears) until
    cancelled. A failure is logged and recorded in `health`, and the next run waits longer
    (backoff) so that a broken dependency is not hammered; a success clears it."""
    health.tasks.setdefault(name, None)
    failures = 0
    while True:
        try:
            await work()
        except Exception as error:  # noqa: BLE001 - the job runs again after the backoff
            failures += 1
            health.tasks[name] = describe(error)
            logger.exception("background %s failed (%d in a row)", name, failures)
        else:
            failures = 0
            health.tasks[name] = None
        wait = max(every, backoff(failures, first_backoff)) if failures else every
        if wake is None or failures:
            await asyncio.sleep(wait)
            continue
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(wake.wait(), wait)
        wake.clear()
