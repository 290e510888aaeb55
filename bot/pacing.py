"""Keeping a channel's requests under its platform's rate limits (relais/core/pacing.py).

`SharedPace` is one limit for every worker of a database (X counts per account: its row is in
`channel_state`, relais/storage/pacing.py). `LocalPace` keeps limits per key in this process
(Telegram's "one message per second in a chat": a chat's deliveries are leased to one worker
at a time, so a shared row would buy nothing).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from sqlalchemy.engine import Engine

from relais.core.pacing import Limit, binding, describe, keep_recent, wait_for_slot
from relais.storage.db import run_atomic
from relais.storage.pacing import hold, read_pace, settle_slot, take_slot

#: `LocalPace` looks for chats it can forget once it keeps this many (or twice as many as
#: after its last look): often enough to stay small, seldom enough to cost nothing per send.
FORGET_FROM = 1000
#: A chat is kept this long after its requests left the limits' windows: a send still
#: waiting for the platform's answer keeps its slot for `settle`.
FORGET_AFTER_S = 60.0


class SharedPace:
    """A platform's limits on one endpoint for one account, shared by every worker."""

    def __init__(
        self,
        engine: Engine,
        channel: str,
        key: str,
        limits: Sequence[Limit],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.channel = channel
        self.key = key
        #: As documented (shown by /healthz); `binding` is what is enforced.
        self.limits = tuple(limits)
        self.binding = binding(self.limits)
        self.clock = clock
        #: When this process's latest slot was taken (`settle` moves it to the answer's time;
        #: one loop uses a pace: the outbox's sends, or the poller's reads).
        self._taken: float | None = None

    def __str__(self) -> str:
        return describe(self.limits)

    async def take(self) -> float:
        """0 when a request may go now (its slot is taken), else the seconds to wait."""
        if not self.binding:
            return 0.0
        now = round(self.clock(), 3)
        try:
            wait = await asyncio.to_thread(
                run_atomic,
                self.engine,
                lambda s: take_slot(s, self.channel, self.key, self.binding, now),
            )
        except RuntimeError:  # other workers took the slots meanwhile: try again shortly
            return 1.0
        self._taken = now if wait == 0 else None
        return wait

    async def settle(self) -> None:
        """The request of the latest slot taken was answered now: its slot counts from now
        (the platform counted it on arrival, after the slot was taken)."""
        taken, self._taken = self._taken, None
        if taken is None:
            return
        done = round(self.clock(), 3)
        await asyncio.to_thread(
            run_atomic,
            self.engine,
            lambda s: settle_slot(s, self.channel, self.key, taken, done),
        )

    async def hold(self, until: float) -> None:
        """The platform refused (HTTP 429) until `until` (epoch seconds)."""
        await asyncio.to_thread(
            run_atomic, self.engine, lambda s: hold(s, self.channel, self.key, until)
        )

    async def wait(self) -> float:
        """Seconds until a request may go, taking nothing (for /healthz)."""
        state = await asyncio.to_thread(
            run_atomic, self.engine, lambda s: read_pace(s, self.channel, self.key)
        )
        return wait_for_slot(state.times, self.binding, self.clock(), state.hold_until)


class LocalPace:
    """Limits per key (a chat, say) and over all keys, in this process only."""

    def __init__(
        self,
        per_key: Sequence[Limit],
        overall: Sequence[Limit] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_key = binding(per_key)
        self.overall = binding(overall)
        self.clock = clock
        self._times: dict[str, list[float]] = {}
        self._all: list[float] = []
        self._hold: dict[str, float] = {}
        self._forget_at = FORGET_FROM

    def take(self, key: str) -> float:
        """0 when a request for `key` may go now (it is counted), else the seconds to wait."""
        now = self.clock()
        times = self._times.get(key, [])
        wait = max(
            wait_for_slot(times, self.per_key, now, self._hold.get(key, 0.0)),
            wait_for_slot(self._all, self.overall, now),
        )
        if wait > 0:
            return wait
        self._times[key] = keep_recent([*times, now], self.per_key, now)
        self._all = keep_recent([*self._all, now], self.overall, now)
        if len(self._times) + len(self._hold) >= self._forget_at:
            self._forget(now)
        return 0.0

    def _forget(self, now: float) -> None:
        """Drops the chats whose requests have all left the limits' windows and whose hold
        is over: what is kept follows the chats served lately, not every chat ever served."""
        longest = max((limit.window_s for limit in self.per_key), default=0.0)
        since = now - longest - FORGET_AFTER_S
        self._times = {k: t for k, t in self._times.items() if t and t[-1] > since}
        self._hold = {k: until for k, until in self._hold.items() if until > now}
        self._forget_at = max(FORGET_FROM, 2 * (len(self._times) + len(self._hold)))

    def __len__(self) -> int:
        """How many chats are kept (for the tests of flat memory)."""
        return len(self._times.keys() | self._hold.keys())

    def settle(self, key: str) -> None:
        """The latest request for `key` was answered now: it counts from now (the platform
        counted it on arrival, after its slot was taken), so the next one never arrives
        sooner than the limit allows, whatever the network's delays."""
        times = self._times.get(key)
        if not times:
            return
        taken, now = times[-1], self.clock()
        times[-1] = max(taken, now)
        if taken in self._all:
            self._all[self._all.index(taken)] = max(taken, now)
            self._all.sort()

    def hold(self, key: str, seconds: float) -> None:
        """The platform asked to wait `seconds` before the next request for `key`."""
        self._hold[key] = max(self._hold.get(key, 0.0), self.clock() + seconds)


class MemoryPace:
    """`SharedPace`'s interface over this process's memory: for a channel used without a
    database (a script that only sends, a test)."""

    def __init__(self, limits: Sequence[Limit], clock: Callable[[], float] = time.time) -> None:
        self.limits = tuple(limits)
        self.binding = binding(self.limits)
        self.clock = clock
        self._times: list[float] = []
        self._hold = 0.0

    def __str__(self) -> str:
        return describe(self.limits)

    async def take(self) -> float:
        now = self.clock()
        wait = wait_for_slot(self._times, self.binding, now, self._hold)
        if wait == 0:
            self._times = keep_recent([*self._times, now], self.binding, now)
        return wait

    async def settle(self) -> None:
        """As `SharedPace.settle`: the latest slot counts from now."""
        if self._times:
            self._times[-1] = max(self._times[-1], self.clock())

    async def hold(self, until: float) -> None:
        self._hold = max(self._hold, until)

    async def wait(self) -> float:
        return wait_for_slot(self._times, self.binding, self.clock(), self._hold)
