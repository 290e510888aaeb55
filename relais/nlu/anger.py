"""Scores how angry a message is (0–1; 0.5 and above means angry), English and French.

Trained by `rasa train` on our own examples tagged `metadata: {anger: 1}` or `{anger: 0}`
(data/nlu/anger_*.yml, general_*.yml, tweets_*.yml); untagged examples of routine requests
count as calm. The model and its features are in `relais.ml.anger_model`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import INTENT, METADATA, METADATA_INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from relais.core import timings
from relais.ml.anger_model import DEFAULTS, AngerModel
from relais.nlu.stored import StoredModelComponent

logger = logging.getLogger(__name__)

ANGER = "anger"
#: Intents whose untagged examples are not evidence either way (complaints are often angry).
UNLABELLED_INTENTS = frozenset({"complaint", "out_of_scope"})


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class AngerDetector(StoredModelComponent):
    """Adds `anger` (0–1) to every parsed message."""

    model_file = "anger_model.pkl"

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # Chosen with `relais anger-check` on a held-out 20 % of our own tagged examples
        # (never on evaluation data).
        return dict(DEFAULTS)

    def train(self, training_data: TrainingData) -> Resource:
        texts, labels, weights = anger_training_set(
            training_data.intent_examples, self._config["untagged_weight"]
        )
        if sum(labels) == 0:
            logger.warning("No examples tagged `anger: 1`: the anger detector is not trained.")
            return self._resource
        settings = {k: float(self._config[k]) for k in DEFAULTS}
        return self._save(AngerModel(settings).fit(texts, labels, weights))

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            started = time.perf_counter()
            score = self._model.score(message.get(TEXT) or "") if self._model else 0.0
            message.set(ANGER, round(score, 4), add_to_output=True)
            timings.record("anger", started)
        return messages


def anger_training_set(
    examples: Iterable[Message], untagged_weight: float
) -> tuple[list[str], list[int], list[float]]:
    """Texts, 0/1 labels and weights: tagged examples count fully, calm routine ones a little."""
    texts: list[str] = []
    labels: list[int] = []
    weights: list[float] = []
    for example in examples:
        text = example.get(TEXT)
        if not text:
            continue
        label = anger_label(example)
        if label is not None:
            texts.append(text)
            labels.append(label)
            weights.append(1.0)
        elif example.get(INTENT) not in UNLABELLED_INTENTS:
            texts.append(text)
            labels.append(0)
            weights.append(untagged_weight)
    return texts, labels, weights


def anger_label(example: Message) -> int | None:
    metadata = example.get(METADATA) or {}
    intent_metadata = metadata.get(METADATA_INTENT) or {}
    if not isinstance(intent_metadata, dict) or "anger" not in intent_metadata:
        return None
    return 1 if int(intent_metadata["anger"]) else 0
