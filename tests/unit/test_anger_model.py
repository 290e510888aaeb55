"""The anger model's fast scoring gives what scikit-learn's predict_proba gives."""

from __future__ import annotations

import numpy as np
import pytest

import relais.ml.anger_model as anger_model
from relais.ml.anger_model import AngerModel


def fake_embed(texts):
    """A small stand-in for the sentence encoder: 8 numbers from the characters."""
    rows = np.zeros((len(texts), 8), dtype=np.float32)
    for i, text in enumerate(texts):
        for j, ch in enumerate(text.lower()):
            rows[i, (ord(ch) + j) % 8] += 1.0
        norm = np.linalg.norm(rows[i])
        rows[i] /= norm or 1.0
    return rows


@pytest.fixture()
def model(monkeypatch):
    monkeypatch.setattr(anger_model, "embed", fake_embed)
    angry = [
        "this is a disgrace, I'm furious",
        "worst airline ever!!! 😡",
        "c'est scandaleux, j'en ai marre",
        "you lost my bag AGAIN, pathetic",
        "honte à vous, bande d'incapables",
        "absolutely useless service",
    ]
    calm = [
        "is my flight on time?",
        "thanks for the help",
        "merci beaucoup",
        "can I change my seat",
        "quelle est la franchise bagage",
        "have a nice day",
        "bonjour, une question",
        "where is gate B12",
    ]
    texts = angry + calm
    return AngerModel(dict(anger_model.DEFAULTS, long_examples=0.0)).fit(
        texts, [1] * len(angry) + [0] * len(calm), [1.0] * len(texts)
    )


def test_fast_scores_equal_predict_proba(model) -> None:
    texts = ["I'm furious, you lost my bag", "merci pour votre aide", "is XY123 late?"]
    expected = model.classifier.predict_proba(model.features(texts))[:, 1]
    assert np.allclose(model.scores(texts), expected, atol=1e-9)
    assert model.score("I'm furious, you lost my bag") > 0.5 > model.score("merci pour votre aide")


def test_empty_texts_score_zero(model) -> None:
    assert list(model.scores(["", "   "])) == [0.0, 0.0]


def test_a_lexicon_edited_after_training_does_not_change_the_scores(
    model, monkeypatch, tmp_path
) -> None:
    import relais.core.lexicon as lexicon

    texts = ["I'm furious, you lost my bag", "merci pour votre aide", "this is outrageous"]
    before = model.scores(texts)
    edited = tmp_path / "emotions_xx.txt"
    edited.write_text("joy\tfurious\t3\ngratitude\toutrageous\t3\n", encoding="utf-8")
    monkeypatch.setattr(lexicon, "FILES", (edited,))
    for cached in (lexicon.default_lexicon, lexicon.files_digest, lexicon._shipped_totals):
        cached.cache_clear()
    try:
        assert np.allclose(model.scores(texts), before, atol=1e-12)
        # The edit is real: the shipped files now say something else about these words.
        assert lexicon.feelings("furious")[lexicon.CATEGORIES.index("joy")] > 0
        assert lexicon.feelings("furious", model.lexicon)[lexicon.CATEGORIES.index("joy")] == 0
    finally:
        monkeypatch.undo()
        for cached in (lexicon.default_lexicon, lexicon.files_digest, lexicon._shipped_totals):
            cached.cache_clear()
