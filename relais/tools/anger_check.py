"""`relais anger-check`: the anger model scored on a held-out 20 % of our own tagged examples.

This is where the anger model's settings are chosen (never on ../shared/data). The split is
stratified by file, language and label, with a fixed seed, so two runs compare settings on
the same examples. Each file family (anger_*, general_*, tweets_*) is reported apart: the
general-life posts show how the model copes with text unlike the airline's.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from relais.ml.anger_model import DEFAULTS, AngerModel, joined_examples


@dataclass(frozen=True)
class Example:
    text: str
    label: int | None  #: None: untagged (a routine request, counted as calm with a small weight)
    lang: str
    group: str  #: the file family, e.g. "general_fr"
    intent: str


def load_examples(nlu_dir: Path) -> list[Example]:
    from relais.nlu.runtime import anger_examples

    return [
        Example(e.text, e.label, e.lang, path.stem, e.intent)
        for path in sorted(nlu_dir.glob("*.yml"))
        for e in anger_examples(path)
    ]


def split(
    examples: list[Example], test_share: float = 0.2, seed: int = 7
) -> tuple[list[Example], list[Example]]:
    """Tagged examples split per (file, language, label); untagged ones all go to training."""
    strata: dict[tuple[str, str, int], list[Example]] = defaultdict(list)
    train: list[Example] = []
    for example in examples:
        if example.label is None:
            train.append(example)
        else:
            strata[(example.group, example.lang, example.label)].append(example)
    test: list[Example] = []
    rng = random.Random(seed)
    for key in sorted(strata):
        items = strata[key][:]
        rng.shuffle(items)
        cut = round(len(items) * test_share)
        test.extend(items[:cut])
        train.extend(items[cut:])
    return train, test


def prf(truth: list[int], predicted: list[int]) -> dict[str, float]:
    tp = sum(t and p for t, p in zip(truth, predicted, strict=True))
    fp = sum((not t) and p for t, p in zip(truth, predicted, strict=True))
    fn = sum(t and not p for t, p in zip(truth, predicted, strict=True))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": round(precision, 3),
        "recall": round(recall, 3),
        "f1": round(f1, 3),
        "n": len(truth),
        "angry": sum(truth),
    }


def check(
    nlu_dir: Path, overrides: dict[str, float] | None = None, seed: int = 7
) -> dict[str, Any]:
    settings = {**DEFAULTS, **(overrides or {})}
    train, test = split(load_examples(nlu_dir), seed=seed)
    weights = [1.0 if e.label is not None else settings["untagged_weight"] for e in train]
    model = AngerModel(settings).fit(
        [e.text for e in train], [e.label or 0 for e in train], weights
    )
    scores = model.scores([e.text for e in test])
    predicted = [int(s >= 0.5) for s in scores]
    report: dict[str, Any] = {"settings": settings, "train": len(train), "test": len(test)}
    groups: dict[str, list[int]] = defaultdict(list)
    for i, example in enumerate(test):
        family = example.group.split("_")[0]
        for key in ("all", example.lang, f"{family}_{example.lang}"):
            groups[key].append(i)
    for key in sorted(groups):
        idx = groups[key]
        report[key] = prf([test[i].label for i in idx], [predicted[i] for i in idx])
    report["brier"] = round(
        float(np.mean([(s - e.label) ** 2 for s, e in zip(scores, test, strict=True)])), 4
    )
    # Longer messages: held-out examples of one language joined 2-3 at a time (angry if any
    # part is). A model that drifts with length fails here even if it does well above.
    for lang in ("en", "fr"):
        chosen = [e for e in test if e.lang == lang]
        long_texts, long_labels = joined_examples(
            [e.text for e in chosen],
            [int(e.label or 0) for e in chosen],
            len(chosen),
            seed=seed + 1,
        )
        if long_texts:
            long_scores = model.scores(long_texts)
            report[f"joined_{lang}"] = prf(long_labels, [int(s >= 0.5) for s in long_scores])
        calm = [e.text for e in chosen if e.label == 0]
        calm_texts, _ = joined_examples(calm, [0] * len(calm), len(calm), seed=seed + 2)
        if calm_texts:
            report[f"joined_calm_{lang}_flagged"] = round(
                float(np.mean(model.scores(calm_texts) >= 0.5)), 3
            )
    return report


def table(report: dict[str, Any]) -> str:
    lines = [
        f"train {report['train']}  held out {report['test']}  settings {report['settings']}",
        f"{'group':<16}{'n':>6}{'angry':>7}{'P':>8}{'R':>8}{'F1':>8}",
    ]
    for key, value in report.items():
        if isinstance(value, dict) and "f1" in value:
            lines.append(
                f"{key:<16}{value['n']:>6}{value['angry']:>7}{value['precision']:>8.3f}"
                f"{value['recall']:>8.3f}{value['f1']:>8.3f}"
            )
    for key, value in report.items():
        if key.startswith("joined_calm_"):
            lines.append(f"{key}: {value} (calm examples joined 2-3 at a time, flagged as angry)")
    lines.append(f"Brier score (lower is better): {report['brier']}")
    return "\n".join(lines)
