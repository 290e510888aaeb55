"""Scores how angry a message is (0–1; 0.5 and above means angry), English and French.

Trained by `rasa train` on our own examples tagged `metadata: {anger: 1}` or `{anger: 0}`
(data/nlu/anger_*.yml); untagged examples of routine requests count as calm. Features: the
multilingual sentence embedding, word n-grams, and surface cues (shouting, swearing,
!!!, angry emoji). A balanced logistic regression, so its probability is the score.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Dict, List, Optional, Text

import numpy as np
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import INTENT, METADATA, METADATA_INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from relais.cues import anger_cues
from relais.nlu.encoder import MAX_CHARS, embed
from relais.nlu.intent import normalise
from relais.nlu.stored import StoredModelComponent

logger = logging.getLogger(__name__)

ANGER = "anger"
#: Intents whose untagged examples are not evidence either way (complaints are often angry).
_UNLABELLED_INTENTS = frozenset({"complaint", "out_of_scope"})
#: Milliseconds spent scoring each message in this process (read by `make eval`).
TIMINGS_MS: list[float] = []


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class AngerDetector(StoredModelComponent):
    """Adds `anger` (0–1) to every parsed message."""

    model_file = "anger_model.pkl"

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        # Chosen on a held-out 20 % of our own tagged examples (never on evaluation data).
        return {"C": 3.0, "cue_weight": 2.0, "embedding_weight": 0.5, "untagged_weight": 0.3}

    def train(self, training_data: TrainingData) -> Resource:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        texts: List[str] = []
        labels: List[int] = []
        weights: List[float] = []
        for example in training_data.intent_examples:
            text = example.get(TEXT)
            label = _anger_label(example)
            if not text:
                continue
            if label is not None:
                texts.append(text)
                labels.append(label)
                weights.append(1.0)
            elif example.get(INTENT) not in _UNLABELLED_INTENTS:
                texts.append(text)
                labels.append(0)
                weights.append(self._config["untagged_weight"])
        if sum(labels) == 0:
            logger.warning("No examples tagged `anger: 1`: the anger detector is not trained.")
            return self._resource
        words = TfidfVectorizer(preprocessor=normalise, ngram_range=(1, 2), sublinear_tf=True,
                                min_df=2)
        words.fit(texts)
        model = {"words": words, "classifier": None}
        features = self._features(model, texts)
        # Balance the two classes by weight, so that 0.5 is the natural line for "angry".
        labels_array = np.array(labels)
        weights_array = np.array(weights)
        for value in (0, 1):
            mask = labels_array == value
            weights_array[mask] *= len(labels_array) / (2 * weights_array[mask].sum())
        classifier = LogisticRegression(C=self._config["C"], max_iter=5000)
        classifier.fit(features, labels_array, sample_weight=weights_array)
        model["classifier"] = classifier
        return self._save(model)

    def _features(self, model: Dict[str, Any], texts: List[str]) -> Any:
        from scipy.sparse import csr_matrix, hstack

        cues = np.array([anger_cues(t[:MAX_CHARS]) for t in texts]) * self._config["cue_weight"]
        dense = embed(texts) * self._config["embedding_weight"]
        return hstack([model["words"].transform(texts), csr_matrix(dense), csr_matrix(cues)]).tocsr()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            started = time.perf_counter()
            score = self.score(message.get(TEXT) or "")
            message.set(ANGER, round(score, 4), add_to_output=True)
            TIMINGS_MS.append((time.perf_counter() - started) * 1000)
        return messages

    def score(self, text: str) -> float:
        if self._model is None or self._model.get("classifier") is None or not text.strip():
            return 0.0
        return float(self._model["classifier"].predict_proba(self._features(self._model, [text]))[0, 1])


def _anger_label(example: Message) -> Optional[int]:
    metadata = example.get(METADATA) or {}
    intent_metadata = metadata.get(METADATA_INTENT) or {}
    if not isinstance(intent_metadata, dict) or "anger" not in intent_metadata:
        return None
    return 1 if int(intent_metadata["anger"]) else 0
