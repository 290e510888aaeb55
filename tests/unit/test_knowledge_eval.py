"""Scoring and tuning the knowledge retrieval on question files (relais/tools/knowledge_eval.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from relais.core.knowledge import load_knowledge
from relais.core.policy import Thresholds
from relais.tools.knowledge_eval import Question, load_questions, score, tune
from tests.unit.test_knowledge import SITE, article, write


def parse(found: str | None, score_: float, outside: float = 0.0) -> dict[str, Any]:
    articles = [{"article": found, "passage": "cabin", "score": score_}] if found else []
    return {"knowledge": {"articles": articles, "outside": outside}}


def knowledge_of(folder: Path) -> Any:
    for lang in ("en", "fr"):
        write(folder, lang, "pets", article("Pets", [("cabin", "Cats.")]))
        write(folder, lang, "meals", article("Meals", [("menu", "Soup.")]))
    return load_knowledge(folder, SITE)


def test_accuracy_per_language_and_outside_questions_answered(tmp_path: Path) -> None:
    knowledge = knowledge_of(tmp_path)
    questions = [
        Question("dog?", "en", "pets"),
        Question("soup?", "en", "meals"),
        Question("chat ?", "fr", "pets"),
        Question("weather?", "en", None),
        Question("météo ?", "fr", None),
    ]
    parses = [
        parse("pets", 0.7),  # right
        parse("pets", 0.7),  # the wrong article
        parse("pets", 0.3),  # under the bar: not said
        parse("meals", 0.6, outside=0.2),  # an outside question answered
        parse("meals", 0.6, outside=0.7),  # nearer what is out of scope: not answered
    ]
    t = Thresholds(knowledge_answer=0.5, knowledge_intent_bonus=0.0, knowledge_outside_margin=0.0)
    report = score(questions, parses, knowledge, t)
    assert report["figures"] == {
        "knowledge_en_accuracy": 0.5,
        "knowledge_fr_accuracy": 0.0,
        "knowledge_outside_answered_rate": 0.5,
    }
    assert report["questions"] == {"en": 2, "fr": 1, "outside": 2}
    assert report["confusions"] == {
        "meals -> pets": 1,
        "pets -> (none)": 1,
        "(none) -> meals": 1,
    }


def test_tuning_puts_first_the_best_setting_within_five_percent_outside(tmp_path: Path) -> None:
    knowledge = knowledge_of(tmp_path)
    # Answered questions score 0.45; outside ones 0.41, but nearer what is out of scope.
    questions = [Question(f"q{i}", "en", "pets") for i in range(10)]
    questions += [Question(f"o{i}", "en", None) for i in range(10)]
    parses = [parse("pets", 0.45) for _ in range(10)]
    parses += [parse("meals", 0.41, outside=0.38) for _ in range(10)]
    best, figures = tune(questions, parses, knowledge, Thresholds())[0]
    # A bar at or under 0.41 with a margin under 0.03 would answer every outside question.
    assert figures["knowledge_en_accuracy"] == 1.0
    assert figures["knowledge_outside_answered_rate"] == 0.0
    assert best.knowledge_answer > 0.41 or best.knowledge_outside_margin > 0.03
    assert best.knowledge_answer <= 0.45  # and the answered ones are still answered


def test_question_files_load_with_null_for_outside(tmp_path: Path) -> None:
    path = tmp_path / "q.yml"
    path.write_text(
        yaml.safe_dump(
            {
                "questions": [
                    {"text": "dog?", "lang": "en", "article": "pets"},
                    {"text": "weather?", "lang": "en", "article": None},
                ]
            }
        ),
        encoding="utf-8",
    )
    assert load_questions(path) == [
        Question("dog?", "en", "pets"),
        Question("weather?", "en", None),
    ]
