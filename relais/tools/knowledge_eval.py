"""Scores the knowledge base: for questions the team wrote, does the bot pick the right article?

The questions are in tests/eval: `knowledge_heldout.yml` and `knowledge_heldout2.yml` (`make
eval` reports their figures; never used to build or tune anything) and the development sets
`knowledge_dev.yml`, `knowledge_fresh.yml` and `knowledge_paraphrased.yml` (for choosing
thresholds, with `relais knowledge tune`). Each has an article id, or none for a question the
knowledge does not answer. The article scored is the one the bot would answer a visitor it
cannot identify from (`relais.core.knowledge.article_for`, the same code the action server
runs).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from relais.core.knowledge import Knowledge, article_for
from relais.core.policy import Thresholds

Parse = Callable[[str], dict[str, Any]]


@dataclass(frozen=True)
class Question:
    text: str
    lang: str
    article: str | None  #: None: the knowledge does not answer it


def load_questions(path: Path) -> list[Question]:
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    found = []
    for item in data.get("questions") or []:
        found.append(Question(str(item["text"]), str(item["lang"]), item.get("article")))
    return found


def predicted(parse: dict[str, Any], knowledge: Knowledge, t: Thresholds) -> str | None:
    return article_for(
        parse,
        knowledge,
        answer_at=t.knowledge_answer,
        intent_bonus=t.knowledge_intent_bonus,
        outside_margin=t.knowledge_outside_margin,
    )


def score(
    questions: list[Question],
    parses: list[dict[str, Any]],
    knowledge: Knowledge,
    t: Thresholds,
) -> dict[str, Any]:
    """Accuracy per language on questions the knowledge answers, and the share of the others
    that got an article anyway; with the confusions, for reading."""
    right: Counter[str] = Counter()
    asked: Counter[str] = Counter()
    outside = outside_answered = 0
    confusions: Counter[str] = Counter()
    for question, parse in zip(questions, parses, strict=True):
        got = predicted(parse, knowledge, t)
        if question.article is None:
            outside += 1
            if got is not None:
                outside_answered += 1
                confusions[f"(none) -> {got}"] += 1
            continue
        asked[question.lang] += 1
        if got == question.article:
            right[question.lang] += 1
        else:
            confusions[f"{question.article} -> {got or '(none)'}"] += 1
    figures = {
        f"knowledge_{lang}_accuracy": round(right[lang] / asked[lang], 3) if asked[lang] else 0.0
        for lang in sorted(asked)
    }
    figures["knowledge_outside_answered_rate"] = (
        round(outside_answered / outside, 3) if outside else 0.0
    )
    return {
        "figures": figures,
        "questions": {**{lang: asked[lang] for lang in sorted(asked)}, "outside": outside},
        "confusions": dict(confusions.most_common()),
    }


def tune(
    questions: list[Question],
    parses: list[dict[str, Any]],
    knowledge: Knowledge,
    base: Thresholds,
) -> list[tuple[Thresholds, dict[str, float]]]:
    """The figures for a grid of the three knowledge thresholds (answer bar, intent bonus,
    outside margin), best first: by the worse language's accuracy, among the settings that
    answer at most 5 % of the questions outside the knowledge."""
    rows = []
    answers = [round(0.30 + 0.02 * i, 3) for i in range(16)]
    bonuses = [0.0, 0.03, 0.05, 0.1, 0.2]
    margins = [0.0, 0.02, 0.04, 0.05, 0.06, 0.07, 0.08, 0.1]
    for answer_at, bonus, margin in itertools.product(answers, bonuses, margins):
        t = Thresholds(
            **{
                **base.__dict__,
                "knowledge_answer": answer_at,
                "knowledge_intent_bonus": bonus,
                "knowledge_outside_margin": margin,
            }
        )
        rows.append((t, score(questions, parses, knowledge, t)["figures"]))

    def key(row: tuple[Thresholds, dict[str, float]]) -> tuple[bool, float, float]:
        figures = row[1]
        worst = min(v for k, v in figures.items() if k.endswith("_accuracy"))
        # Ties: the higher bar, which guesses less on questions no set holds.
        return (figures["knowledge_outside_answered_rate"] <= 0.05, worst, row[0].knowledge_answer)

    return sorted(rows, key=key, reverse=True)
