"""The honest wait: how long until a person answers, and how the customer is told.

With free slots for everyone ahead, the wait is the usual pickup time; otherwise each
conversation ahead beyond the free slots waits for a slot to free up.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from handoff.queue import held_by, position
from handoff.settings import HandoffSettings
from relais.core.brand import Brand
from relais.core.texts import LANGUAGES, say
from relais.core.types import Role
from relais.storage.escalations import Agent, Escalation


@dataclass(frozen=True)
class WaitEstimate:
    """What the customer is told. `seconds` is None outside support hours (see `back_at`)."""

    seconds: float | None
    position: int
    agents_online: int
    free_slots: int
    handling_minutes: float  #: the median handling time it used (or the default)
    measured: bool  #: True when handling and pickup times come from recent conversations
    back_at: datetime | None = None  #: when agents are back (brand's time zone), if closed


@dataclass(frozen=True)
class Staffing:
    """Who can take conversations now, and how long they take lately: the same for every
    place in the queue at one moment (the waiting news loop estimates the whole queue)."""

    agents_online: int
    slots: int  #: the online agents' capacities, together
    free_slots: int
    handling_minutes: float
    pickup_minutes: float
    measured: bool


def estimate_wait(
    session: Session, escalation: Escalation, now: datetime, brand: Brand, settings: HandoffSettings
) -> WaitEstimate:
    """How long until a person answers, from the queue as it is and recent handling times."""
    return estimate_at(position(session, escalation), staffing(session, now, settings), now, brand)


def staffing(session: Session, now: datetime, settings: HandoffSettings) -> Staffing:
    """The online agents' slots (console used within `online_minutes`), how many are free,
    and the recent median handling and pickup times."""
    online_since = now - timedelta(minutes=settings.online_minutes)
    agents = list(
        session.execute(
            select(Agent).where(
                Agent.active.is_(True),
                Agent.last_seen_at >= online_since,
                Agent.role != Role.DESIGNER,  # designers take no conversations
            )
        ).scalars()
    )
    slots = sum(a.capacity for a in agents)
    busy = sum(held_by(session, a.id) for a in agents)
    handling, pickup, measured = _recent_times(session, settings)
    return Staffing(len(agents), slots, max(0, slots - busy), handling, pickup, measured)


def estimate_at(place: int, staff: Staffing, now: datetime, brand: Brand) -> WaitEstimate:
    """The wait at `place` in the queue (1: next).

    With free slots for everyone ahead, the wait is the usual pickup time. Otherwise each
    conversation ahead beyond the free slots must wait for a slot to free up: with S slots
    across online agents and a median handling time H, a slot frees every H / S.
    """
    online, free, handling = staff.agents_online, staff.free_slots, staff.handling_minutes
    if not brand.is_open(now):
        return WaitEstimate(
            None, place, online, free, handling, staff.measured, back_at=brand.next_opening(now)
        )
    if free >= place:
        minutes = staff.pickup_minutes
    else:
        # Nobody online yet during support hours: count one agent's worth of slots.
        capacity = staff.slots or 3
        minutes = staff.pickup_minutes + math.ceil((place - free) * handling / capacity)
    return WaitEstimate(minutes * 60, place, online, free, handling, staff.measured)


def _recent_times(session: Session, settings: HandoffSettings) -> tuple[float, float, bool]:
    """Median handling (claim → close) and pickup (arrival → claim) minutes, recent first."""
    rows = session.execute(
        select(Escalation.created_at, Escalation.claimed_at, Escalation.closed_at)
        .where(Escalation.closed_at.is_not(None), Escalation.claimed_at.is_not(None))
        .order_by(Escalation.closed_at.desc())
        .limit(settings.estimate_window)
    ).all()
    if len(rows) < 5:
        return settings.default_handling_minutes, settings.default_pickup_minutes, False
    handling = statistics.median((r.closed_at - r.claimed_at).total_seconds() / 60 for r in rows)
    pickup = statistics.median((r.claimed_at - r.created_at).total_seconds() / 60 for r in rows)
    return max(handling, 1.0), max(pickup, 0.5), True


def duration(seconds: float, lang: str) -> str:
    """A wait as people say it: "2 minutes", "about 25 minutes", "about 1 hour 30"."""
    minutes = max(1, math.ceil(seconds / 60))
    if minutes <= 10:
        return say("duration.minute" if minutes == 1 else "duration.minutes", lang, minutes=minutes)
    if minutes < 60:
        # Past ten minutes a precise figure would promise more than the estimate knows.
        return say("duration.about_minutes", lang, minutes=int(5 * math.ceil(minutes / 5)))
    half_hours = math.ceil(minutes / 30)
    hours, half = divmod(half_hours, 2)
    key = "duration.about_hour" if hours == 1 else "duration.about_hours"
    return say(key + "_half" if half else key, lang, hours=hours)


def _when(back_at: datetime, now_local: datetime, lang: str) -> str:
    clock = back_at.strftime("%H:%M")
    if back_at.date() == now_local.date():
        return say("wait.today_at", lang, clock=clock)
    if (back_at.date() - now_local.date()).days == 1:
        return say("wait.tomorrow_at", lang, clock=clock)
    return say("wait.day_at", lang, day=say(f"day.{back_at.weekday()}", lang), clock=clock)


def wait_message(estimate: WaitEstimate, lang: str, brand: Brand, now: datetime) -> str:
    """The one message telling the customer when a person will answer."""
    lang = lang if lang in LANGUAGES else brand.default_language
    if estimate.seconds is None and estimate.back_at is not None:
        return say(
            "wait.away",
            lang,
            when=_when(estimate.back_at, brand.local(now), lang),
            city=brand.city,
            zone=brand.timezone,
        )
    wait = duration(estimate.seconds or 0, lang)
    if estimate.position <= 1:
        return say("wait.estimate", lang, wait=wait)
    return say("wait.estimate_in_line", lang, wait=wait, position=estimate.position)
