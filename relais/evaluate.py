"""`make eval`: scores `relais triage` on the public evaluation files in ../shared/data/eval/.

Those files are for measuring only: nothing in Relais is trained or tuned on them.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from relais.triage import Triage

#: Mapping from the evaluation sets' intents to ours (../shared/data/README.md).
INTENT_MAP = {
    "flight_status": "flight_status",
    "book_flight": "book_flight",
    "lost_luggage": "lost_baggage",
    "carry_on": "baggage_allowance",
    "international_visa": "travel_documents",
}
#: Predictions that mean "not answered as one of our own requests".
NOT_OURS = frozenset({"out_of_scope", "nlu_fallback"})


@dataclass(frozen=True)
class Target:
    """A figure the issue asks for, with its direction."""

    metric: str
    bound: float
    at_least: bool = True

    def met(self, value: float) -> bool:
        return value >= self.bound if self.at_least else value <= self.bound


TARGETS = (
    Target("en_mapped_intent_accuracy", 0.90),
    Target("fr_mapped_intent_accuracy", 0.85),
    Target("oos_recall", 0.80),
    Target("in_scope_called_oos_rate", 0.10, at_least=False),
)


def load_rows(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def called_out_of_scope(result: dict[str, Any]) -> bool:
    return result["intent"] in NOT_OURS or bool(result["handoff"])


def intent_scores(
    rows: list[dict[str, Any]],
    results: list[dict[str, Any]],
    is_oos: Callable[[dict[str, Any]], bool],
) -> dict[str, Any]:
    """Mapped-intent accuracy, out-of-scope recall and wrong-OOS rate, with a confusion table."""
    mapped = correct = wrong_oos = oos = oos_caught = 0
    confusion: Counter[str] = Counter()
    missed_oos: Counter[str] = Counter()
    for row, result in zip(rows, results):
        if row["intent"] in INTENT_MAP:
            expected = INTENT_MAP[row["intent"]]
            mapped += 1
            correct += result["intent"] == expected
            wrong_oos += called_out_of_scope(result)
            confusion[f"{expected} -> {result['intent']}"] += 1
        elif is_oos(row):
            oos += 1
            caught = called_out_of_scope(result)
            oos_caught += caught
            if not caught:
                missed_oos[f"out_of_scope -> {result['intent']}"] += 1
    return {
        "mapped": mapped,
        "mapped_intent_accuracy": _ratio(correct, mapped),
        "in_scope_called_oos": wrong_oos,
        "out_of_scope": oos,
        "oos_recall": _ratio(oos_caught, oos),
        "confusion": dict(sorted(confusion.items())),
        "out_of_scope_answered_as": dict(missed_oos.most_common(10)),
    }


def _ratio(a: int, b: int) -> float:
    return round(a / b, 4) if b else 0.0


def evaluate(data_dir: Path, triage: Triage) -> dict[str, Any]:
    """Runs every evaluation file through triage and returns the report."""
    en_rows = load_rows(data_dir / "intents_en_clinc.jsonl")
    fr_rows = load_rows(data_dir / "intents_fr_travel.jsonl")
    en = intent_scores(en_rows, [triage.triage(r["text"]) for r in en_rows],
                       lambda r: r.get("domain") != "travel")
    fr = intent_scores(fr_rows, [triage.triage(r["text"]) for r in fr_rows],
                       lambda r: r["intent"] == "out_of_scope")
    mapped = en["mapped"] + fr["mapped"]
    figures = {
        "en_mapped_intent_accuracy": en["mapped_intent_accuracy"],
        "fr_mapped_intent_accuracy": fr["mapped_intent_accuracy"],
        "oos_recall": en["oos_recall"],
        "fr_oos_recall": fr["oos_recall"],
        "in_scope_called_oos_rate": _ratio(
            en["in_scope_called_oos"] + fr["in_scope_called_oos"], mapped
        ),
    }
    return {
        "figures": figures,
        "targets": {
            t.metric: {"bound": t.bound, "at_least": t.at_least, "met": t.met(figures[t.metric])}
            for t in TARGETS
        },
        "intents_en_clinc": en,
        "intents_fr_travel": fr,
    }


def table(report: dict[str, Any]) -> str:
    """A plain-text table of the figures against their targets."""
    lines = [f"{'metric':32} {'value':>7}  target"]
    for metric, value in report["figures"].items():
        target = report["targets"].get(metric)
        mark = ""
        if target:
            sign = ">=" if target["at_least"] else "<="
            mark = f"{sign} {target['bound']:.2f}  {'ok' if target['met'] else 'MISSED'}"
        lines.append(f"{metric:32} {value:7.3f}  {mark}")
    for name in ("intents_en_clinc", "intents_fr_travel"):
        lines.append(f"\n{name}: expected -> predicted")
        for pair, count in report[name]["confusion"].items():
            lines.append(f"  {count:5d}  {pair}")
        lines.append(f"{name}: out of scope answered as one of ours (top 5)")
        for pair, count in list(report[name]["out_of_scope_answered_as"].items())[:5]:
            lines.append(f"  {count:5d}  {pair}")
    return "\n".join(lines)
