"""Per-message stage timings, kept only while a tool asks for them.

The NLU components report how long each stage took; nothing is kept unless `relais triage`
or a benchmark has called `collect()`, so a long-running Rasa server holds no growing list.
"""

from __future__ import annotations

import time

_stages: dict[str, list[float]] | None = None


def record(stage: str, started: float) -> None:
    """Records the milliseconds since `started` (a `time.perf_counter()` value) for `stage`,
    if someone is collecting."""
    stages = _stages
    if stages is not None:
        stages.setdefault(stage, []).append((time.perf_counter() - started) * 1000)


def collect() -> dict[str, list[float]]:
    """Starts collecting (or keeps collecting); returns the lists, by stage, that grow."""
    global _stages
    if _stages is None:
        _stages = {}
    return _stages


def stop() -> None:
    """Stops collecting and drops what was kept."""
    global _stages
    _stages = None
