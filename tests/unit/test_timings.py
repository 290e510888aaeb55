"""Per-message timings are kept only while a tool collects them (no list grows in a server)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from relais.core import timings


@pytest.fixture(autouse=True)
def not_collecting() -> Iterator[None]:
    timings.stop()
    yield
    timings.stop()


def test_nothing_is_kept_unless_someone_collects() -> None:
    for _ in range(1000):
        timings.record("anger", time.perf_counter())
    assert timings.collect() == {}


def test_collecting_keeps_one_figure_per_call_by_stage() -> None:
    stages = timings.collect()
    timings.record("anger", time.perf_counter())
    timings.record("anger", time.perf_counter())
    timings.record("language", time.perf_counter())
    assert [len(stages["anger"]), len(stages["language"])] == [2, 1]
    assert all(ms >= 0 for ms in stages["anger"])


def test_stop_drops_what_was_kept() -> None:
    timings.collect()
    timings.record("parts", time.perf_counter())
    timings.stop()
    timings.record("parts", time.perf_counter())
    assert timings.collect() == {}
