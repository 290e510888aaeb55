"""What the human side says to customers itself: the wait estimate, in English and French."""
from __future__ import annotations

import math
from datetime import datetime

from handoff.queue import WaitEstimate
from relais.brand import Brand

_DAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
}


def duration(seconds: float, lang: str) -> str:
    """A wait as people say it: "2 minutes", "about 25 minutes", "about 1 hour 30"."""
    minutes = max(1, math.ceil(seconds / 60))
    fr = lang == "fr"
    if minutes <= 10:
        unit = "minute" if minutes == 1 else "minutes"
        return f"{minutes} {unit}"
    if minutes < 60:
        rounded = int(5 * math.ceil(minutes / 5))
        return f"environ {rounded} minutes" if fr else f"about {rounded} minutes"
    half_hours = math.ceil(minutes / 30)
    hours, half = divmod(half_hours, 2)
    if fr:
        return f"environ {hours} h 30" if half else f"environ {hours} h"
    word = "hour" if hours == 1 else "hours"
    return f"about {hours} {word} 30" if half else f"about {hours} {word}"


def _when(back_at: datetime, now_local: datetime, lang: str) -> str:
    clock = back_at.strftime("%H:%M")
    if back_at.date() == now_local.date():
        return f"aujourd'hui à {clock}" if lang == "fr" else f"today at {clock}"
    if (back_at.date() - now_local.date()).days == 1:
        return f"demain à {clock}" if lang == "fr" else f"tomorrow at {clock}"
    day = _DAYS[lang][back_at.weekday()]
    return f"{day} à {clock}" if lang == "fr" else f"on {day} at {clock}"


def wait_message(estimate: WaitEstimate, lang: str, brand: Brand, now: datetime) -> str:
    """The one message telling the customer when a person will answer."""
    lang = lang if lang in _DAYS else brand.default_language
    if estimate.seconds is None and estimate.back_at is not None:
        when = _when(estimate.back_at, brand.local(now), lang)
        zone = brand.timezone
        if lang == "fr":
            return (f"Notre équipe est absente pour le moment : elle revient {when} "
                    f"(heure de {brand.city}, {zone}). Votre message est déjà dans sa file, "
                    "vous n'avez rien à renvoyer.")
        return (f"Our team is away right now and back {when} ({brand.city} time, {zone}). "
                "Your message is already in their queue; there is no need to send it again.")
    wait = duration(estimate.seconds or 0, lang)
    if lang == "fr":
        place = "" if estimate.position <= 1 else f" ({estimate.position}e dans la file)"
        return f"Temps d'attente estimé avant la réponse d'un·e collègue : {wait}{place}."
    place = "" if estimate.position <= 1 else f" (you are number {estimate.position} in the queue)"
    return f"A colleague should reply in {wait}{place}."
