"""A rate limit shared by every worker: the times of the latest requests to one platform
endpoint, kept in `channel_state`, and taking a slot under the limits in one transaction.

X counts requests per account, whatever process makes them: two Relais workers sending for
one brand share its 15 DMs per 15 minutes. The row is updated only if it still holds what
was read (compare and set), so two workers never both take the last slot.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from relais.core.pacing import Limit, keep_recent, wait_for_slot
from relais.storage.conversations import ChannelState


@dataclass
class PaceState:
    """What a pace row holds: when the latest requests went, and until when the platform
    said to send nothing more (epoch seconds)."""

    times: list[float] = field(default_factory=list)
    hold_until: float = 0.0

    @classmethod
    def parse(cls, value: str | None) -> PaceState:
        if not value:
            return cls()
        try:
            data = json.loads(value)
            return cls([float(t) for t in data.get("times") or []], float(data.get("hold") or 0))
        except (ValueError, TypeError, AttributeError):
            return cls()  # unreadable: start afresh rather than stop sending for good

    def dump(self) -> str:
        return json.dumps({"times": [round(t, 3) for t in self.times], "hold": self.hold_until})


def read_pace(session: Session, channel: str, key: str) -> PaceState:
    row = session.get(ChannelState, (channel, key))
    return PaceState.parse(row.value if row else None)


def _write(session: Session, channel: str, key: str, old: str | None, new: str) -> bool:
    """Writes `new` if the row still holds `old` (None: no row yet); False if it changed."""
    if old is None:
        try:
            with session.begin_nested():
                session.add(ChannelState(channel=channel, key=key, value=new))
            return True
        except IntegrityError:
            return False
    changed = session.execute(
        update(ChannelState)
        .where(ChannelState.channel == channel, ChannelState.key == key, ChannelState.value == old)
        .values(value=new)
        .execution_options(synchronize_session=False)
    ).rowcount
    return bool(changed)


def take_slot(
    session: Session, channel: str, key: str, limits: Sequence[Limit], now: float
) -> float:
    """Takes a slot for a request made now and returns 0; or takes nothing and returns the
    seconds until a slot is free. Raises RuntimeError if other workers keep changing the row
    (the caller's transaction is retried, or the request waits for the next round)."""
    for _ in range(5):
        row = session.get(ChannelState, (channel, key), populate_existing=True)
        old = row.value if row else None
        state = PaceState.parse(old)
        wait = wait_for_slot(state.times, limits, now, state.hold_until)
        if wait > 0:
            return wait
        state.times = keep_recent([*state.times, round(now, 3)], limits, now)
        if _write(session, channel, key, old, state.dump()):
            return 0.0
    raise RuntimeError(f"the pace {channel}:{key} kept changing under this worker")


def settle_slot(session: Session, channel: str, key: str, taken: float, done: float) -> None:
    """The request whose slot was taken at `taken` got its answer at `done`: the slot counts
    from then on. The platform counted the request when it arrived, somewhere between the
    two; counting from the answer, the next window never starts before the platform's."""
    for _ in range(5):
        row = session.get(ChannelState, (channel, key), populate_existing=True)
        if row is None:
            return
        old = row.value
        state = PaceState.parse(old)
        if taken not in state.times:
            return
        state.times = sorted(done if t == taken else t for t in state.times)
        if _write(session, channel, key, old, state.dump()):
            return
    raise RuntimeError(f"the pace {channel}:{key} kept changing under this worker")


def hold(session: Session, channel: str, key: str, until: float) -> None:
    """The platform said no more requests before `until`: nobody takes a slot until then."""
    for _ in range(5):
        row = session.get(ChannelState, (channel, key), populate_existing=True)
        old = row.value if row else None
        state = PaceState.parse(old)
        if state.hold_until >= until:
            return
        state.hold_until = until
        if _write(session, channel, key, old, state.dump()):
            return
    raise RuntimeError(f"the pace {channel}:{key} kept changing under this worker")
