"""Relais's intent classifier: word and character n-grams plus multilingual sentence embeddings.

A logistic regression over TF-IDF n-grams (the customer's exact words, typos, codes) joined
with the sentence encoder's vector (meaning, across English and French). Trained by
`rasa train` in seconds; a message is classified in a few milliseconds.
"""

from __future__ import annotations

import re
import time
from typing import Any

import numpy as np
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    METADATA,
    METADATA_INTENT,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from relais.core import timings
from relais.ml import tfidf
from relais.ml.encoder import MAX_CHARS, embed
from relais.ml.text import normalise
from relais.nlu.stored import StoredModelComponent

RANKING_LENGTH = 10
#: Where a message splits into parts that may each be a request: sentence ends, new lines,
#: semicolons, and the words that join a second request in English and French.
_PART_BREAK = re.compile(
    r"(?<=[.?!])\s+|\n+|\s*;\s*|\b(?:and also|also|as well as|plus|another thing|and|"
    r"et aussi|aussi|également|autre chose|en plus|et)\b",
    re.IGNORECASE,
)
#: Shorter pieces ("and me", "et voilà") are not a request of their own.
MIN_PART_WORDS = 3
MAX_PARTS = 4
PARTS = "parts"


def anger_only(example: Message) -> bool:
    """True for training examples tagged `metadata: {use: anger}`."""
    metadata = (example.get(METADATA) or {}).get(METADATA_INTENT) or {}
    return isinstance(metadata, dict) and metadata.get("use") == "anger"


def split_parts(text: str) -> list[str]:
    """The parts of a message long enough to be a request of their own (at most four)."""
    pieces = (p.strip(" ,") for p in _PART_BREAK.split(text[:MAX_CHARS]) if p)
    return [p for p in pieces if len(p.split()) >= MIN_PART_WORDS][:MAX_PARTS]


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class IntentClassifier(StoredModelComponent):
    """Sets `intent` and `intent_ranking` on every message."""

    model_file = "intent_model.pkl"

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # Chosen on a held-out 20 % of our own examples (make nlu-eval), never on evaluation
            # data.
            "C": 30.0,
            "embedding_weight": 2.0,
            "char_min_df": 2,
            # out_of_scope has many more examples than any request; without balancing, the
            # prior pushes real requests into it (4.1 % vs 2.5 % of held-out requests).
            "class_weight": "balanced",
            # Parts of a message are classified only when the whole message's second-best
            # intent reaches this confidence (a second request shows up in the ranking).
            "parts_min_second": 0.05,
        }

    def train(self, training_data: TrainingData) -> Resource:
        from scipy.sparse import csr_matrix, hstack
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_union

        # Blocks tagged `use: anger` (everyday-life texts for the anger detector) are not
        # requests to the airline: as out_of_scope examples they would outweigh the real ones.
        examples = [m for m in training_data.intent_examples if m.get(TEXT) and not anger_only(m)]
        texts = [m.get(TEXT) for m in examples]
        labels = [m.get(INTENT) for m in examples]
        ngrams = make_union(
            TfidfVectorizer(preprocessor=normalise, ngram_range=(1, 2), sublinear_tf=True),
            TfidfVectorizer(
                preprocessor=normalise,
                analyzer="char_wb",
                ngram_range=(2, 5),
                sublinear_tf=True,
                min_df=self._config["char_min_df"],
            ),
        )
        sparse = ngrams.fit_transform(texts)
        dense = csr_matrix(embed(texts) * self._config["embedding_weight"])
        classifier = LogisticRegression(
            C=self._config["C"], max_iter=5000, class_weight=self._config["class_weight"]
        )
        classifier.fit(hstack([sparse, dense]).tocsr(), labels)
        return self._save({"ngrams": ngrams, "classifier": classifier})

    def process(self, messages: list[Message]) -> list[Message]:
        if self._model is None or not messages:
            return messages
        probabilities = self.predict_proba([m.get(TEXT) or "" for m in messages])
        classes = self._model["classifier"].classes_
        for message, row in zip(messages, probabilities, strict=True):
            order = np.argsort(row)[::-1][:RANKING_LENGTH]
            ranking = [
                {INTENT_NAME_KEY: str(classes[i]), "confidence": float(row[i])} for i in order
            ]
            message.set(INTENT, ranking[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
        for message, row in zip(messages, probabilities, strict=True):
            started = time.perf_counter()
            # A message whose second-best intent is implausible holds one request: its parts
            # need no classifying (this skips the extra embedding for most messages).
            second = float(np.sort(row)[-2]) if len(row) > 1 else 0.0
            parts = (
                self.classify_parts(message.get(TEXT) or "")
                if second >= self._config["parts_min_second"]
                else []
            )
            message.set(PARTS, parts, add_to_output=True)
            timings.record("parts", started)
        return messages

    def classify_parts(self, text: str) -> list[dict[str, Any]]:
        """The best intent of each part of a message with several parts ([] for one part).

        The escalation policy reads it to tell "several requests in one message" from a
        single request whose ranking merely hesitates.
        """
        pieces = split_parts(text)
        if len(pieces) < 2:
            return []
        classes = self._model["classifier"].classes_
        rows = self.predict_proba(pieces)
        return [
            {
                "text": piece,
                INTENT_NAME_KEY: str(classes[row.argmax()]),
                "confidence": round(float(row.max()), 4),
            }
            for piece, row in zip(pieces, rows, strict=True)
        ]

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        from scipy.sparse import csr_matrix, hstack

        sparse = tfidf.transform_any(self._model["ngrams"], texts)
        dense = csr_matrix(embed(texts) * self._config["embedding_weight"])
        return self._model["classifier"].predict_proba(hstack([sparse, dense]).tocsr())
