"""The anger model itself, in plain Python: features, training and scoring.

`relais.nlu.anger.AngerDetector` wraps it for Rasa; `relais anger-check` trains it on 80 % of
our own tagged examples and scores the other 20 %, which is how its settings are chosen.

Features, each block scaled by a weight from the settings:
- word 1–2-grams (TF-IDF) of the lower-cased text, codes replaced by their kind;
- the multilingual sentence embedding (meaning, across English and French);
- surface cues a reader hears as anger (shouting, !!!, swearing, angry emoji);
- valence from the VADER lexicon (MIT, PyPI `vaderSentiment`): how negative and how
  positive the words are. Negativity alone is not anger (sadness and worry are negative
  too), so it is one signal among the others, not the score;
- feelings from our own English and French lexicons (`relais.core.lexicon`): how much anger,
  annoyance, sadness, fear, joy and gratitude the words carry, and whether they report a
  service failure. They tell anger from the other negative feelings in words our examples
  never used;
- emotions from NADE, a model of social-media messages pretrained by others and shipped in
  its PyPI package (`relais.ml.social_emotions`): anger, disgust and sadness, read from the
  emojis a message would likely carry. It has read far more informal anger than our
  examples hold (English only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from relais.core.cues import anger_cues
from relais.core.lexicon import default_lexicon, feelings, files_digest
from relais.ml import tfidf
from relais.ml.encoder import MAX_CHARS, embed
from relais.ml.social_emotions import social_emotions
from relais.ml.text import normalise

DEFAULTS: dict[str, float] = {
    "C": 3.0,
    "cue_weight": 2.0,
    "embedding_weight": 1.0,
    "valence_weight": 1.0,
    "lexicon_weight": 1.0,
    "social_weight": 1.0,
    "untagged_weight": 0.3,
    # Longer messages made of 2-3 tagged examples joined (angry if any part is): the tagged
    # examples are short, and without these the score drifts up with length alone.
    "long_examples": 1.0,  # how many, per tagged example
    "long_weight": 0.5,
}


def joined_examples(
    texts: Sequence[str], labels: Sequence[int], count: int, seed: int = 13
) -> tuple[list[str], list[int]]:
    """`count` longer texts of 2-3 of `texts` joined, half calm only (0), half with one
    angry part among calm ones (1): length alone then says nothing about anger."""
    import random

    rng = random.Random(seed)
    calm = [t for t, y in zip(texts, labels, strict=True) if not y]
    angry = [t for t, y in zip(texts, labels, strict=True) if y]
    out_texts: list[str] = []
    out_labels: list[int] = []
    if len(calm) < 3:
        return out_texts, out_labels
    for n in range(count):
        size = rng.choice((2, 3))
        if n % 2 == 0 or not angry:
            parts = rng.sample(calm, size)
            label = 0
        else:
            parts = [rng.choice(angry), *rng.sample(calm, size - 1)]
            rng.shuffle(parts)
            label = 1
        out_texts.append(" ".join(p.strip() for p in parts))
        out_labels.append(label)
    return out_texts, out_labels


@lru_cache(maxsize=1)
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def valence(text: str) -> list[float]:
    """[negative share, positive share, compound] of the text, from VADER's lexicon."""
    scores = _vader().polarity_scores(text[:MAX_CHARS])
    return [scores["neg"], scores["pos"], scores["compound"]]


@dataclass
class AngerModel:
    """A logistic regression whose probability is the anger score; 0.5 means angry."""

    settings: dict[str, float] = field(default_factory=lambda: dict(DEFAULTS))
    words: Any = None
    classifier: Any = None
    #: The lexicon the model was trained with, and the fingerprint of its files: a lexicon
    #: edited after training (or a model copied to a machine with other files) must not
    #: change the inputs the regression's weights were learned on.
    lexicon: Any = None
    lexicon_digest: str = ""

    def features(self, texts: Sequence[str]) -> Any:
        """One sparse row per text: word n-grams, then the dense blocks (what `fit` reads)."""
        from scipy.sparse import csr_matrix, hstack

        return hstack(
            [tfidf.transform_any(self.words, texts), csr_matrix(self._dense(texts))]
        ).tocsr()

    def _dense(self, texts: Sequence[str]) -> np.ndarray:
        """The embedding, cues, valence, lexicon and social-emotion blocks, each scaled by its
        weight (a block of weight 0 is left out, not computed)."""
        s = self.settings
        cues = np.array([anger_cues(t[:MAX_CHARS]) for t in texts]) * s["cue_weight"]
        moods = np.array([valence(t) for t in texts]) * s.get("valence_weight", 0.0)
        own = self._own_lexicon()
        lexicon = np.array([feelings(t[:MAX_CHARS], own) for t in texts]) * s.get(
            "lexicon_weight", 0.0
        )
        dense = embed(list(texts)) * s["embedding_weight"]
        blocks = [dense, cues, moods, lexicon]
        if s.get("social_weight", 0.0):
            blocks.append(social_emotions([t[:MAX_CHARS] for t in texts]) * s["social_weight"])
        return np.hstack(blocks)

    def _own_lexicon(self) -> Any:
        """None (the shipped files, whose matches are shared with the policy) while they are
        the files the model was trained on; else the copy kept in the model."""
        if self.lexicon is None or self.lexicon_digest == files_digest():
            return None
        return self.lexicon

    def fit(
        self, texts: Sequence[str], labels: Sequence[int], weights: Sequence[float]
    ) -> AngerModel:
        """Trains on `texts`; the two classes get equal total weight, so 0.5 is the line."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        texts, labels, weights = list(texts), list(labels), list(weights)
        self.lexicon, self.lexicon_digest = default_lexicon(), files_digest()
        tagged = [i for i, w in enumerate(weights) if w >= 1.0]  # weight 1: tagged examples
        extra_texts, extra_labels = joined_examples(
            [texts[i] for i in tagged],
            [labels[i] for i in tagged],
            int(len(tagged) * self.settings.get("long_examples", 0.0)),
        )
        texts += extra_texts
        labels += extra_labels
        weights += [self.settings.get("long_weight", 0.5)] * len(extra_texts)
        self.words = TfidfVectorizer(
            preprocessor=normalise, ngram_range=(1, 2), sublinear_tf=True, min_df=2
        )
        self.words.fit(texts)
        y = np.asarray(labels)
        w = np.asarray(weights, dtype=float)
        for value in (0, 1):
            mask = y == value
            w[mask] *= len(y) / (2 * w[mask].sum())
        self.classifier = LogisticRegression(C=self.settings["C"], max_iter=5000)
        self.classifier.fit(self.features(texts), y, sample_weight=w)
        return self

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        result = np.zeros(len(texts))
        keep = [i for i, t in enumerate(texts) if t.strip()]
        if self.classifier is None or not keep:
            return result
        chosen = [texts[i] for i in keep]
        # The regression's own sum, block by block: building the joined sparse matrix for
        # predict_proba cost more than the rest of the scoring together.
        coef = self.classifier.coef_[0]
        dense = self._dense(chosen)
        split = len(coef) - dense.shape[1]
        z = (
            tfidf.transform_any(self.words, chosen) @ coef[:split]
            + dense @ coef[split:]
            + self.classifier.intercept_[0]
        )
        result[keep] = 1.0 / (1.0 + np.exp(-np.asarray(z).ravel()))
        return result

    def score(self, text: str) -> float:
        return float(self.scores([text])[0])
