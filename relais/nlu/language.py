"""Detects whether a message is English or French, trained by `rasa train` on our own NLU examples.

Every example block in `data/nlu/` carries `metadata: {lang: en|fr}`; this component learns a
character n-gram model from them and adds `language` and `language_confidence` to each parse.
"""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import METADATA, METADATA_INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from relais.core import timings
from relais.core.language import OTHER, cue_language
from relais.ml import tfidf
from relais.nlu.stored import StoredModelComponent

logger = logging.getLogger(__name__)

LANGUAGE = "language"
LANGUAGE_CONFIDENCE = "language_confidence"
# Booking references and flight numbers say nothing about the language: drop them first.
_CODES = re.compile(r"\bxy ?[0-9a-z]{3,4}\b", re.IGNORECASE)


def _clean(text: str) -> str:
    return _CODES.sub(" ", text.lower())


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER], is_trainable=True)
class LanguageDetector(StoredModelComponent):
    """Adds `language` (en/fr/other) and `language_confidence` (0–1) to every message."""

    model_file = "language_model.pkl"

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"min_ngram": 1, "max_ngram": 4, "default_language": "en"}

    def train(self, training_data: TrainingData) -> Resource:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        texts: list[str] = []
        labels: list[str] = []
        for example in training_data.intent_examples:
            lang = _example_language(example)
            if lang:
                texts.append(_clean(example.get(TEXT)))
                labels.append(lang)
        if len(set(labels)) < 2:
            logger.warning(
                "Language detector needs examples tagged `metadata: {lang: ..}` in "
                "both languages; found %s. It will rely on cue words only.",
                sorted(set(labels)),
            )
            return self._resource
        pipeline = make_pipeline(
            TfidfVectorizer(
                analyzer="char_wb",
                ngram_range=(self._config["min_ngram"], self._config["max_ngram"]),
                sublinear_tf=True,
            ),
            LogisticRegression(C=10.0, max_iter=2000),
        )
        pipeline.fit(texts, labels)
        return self._save(pipeline)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            started = time.perf_counter()
            lang, confidence = self.detect(message.get(TEXT) or "")
            timings.record("language", started)
            message.set(LANGUAGE, lang, add_to_output=True)
            message.set(LANGUAGE_CONFIDENCE, round(confidence, 3), add_to_output=True)
        return messages

    def detect(self, text: str) -> tuple[str, float]:
        """Returns (language, confidence); confidence is low for texts with little evidence."""
        cleaned = _clean(text)
        cue = cue_language(cleaned)
        if cue == OTHER:
            return OTHER, 0.8
        letters = sum(ch.isalpha() for ch in cleaned)
        if letters == 0 or self._model is None:
            if cue:
                return cue, 0.7
            return self._config["default_language"], 0.0
        vectorizer, classifier = self._model.steps[0][1], self._model.steps[-1][1]
        probabilities = classifier.predict_proba(tfidf.transform_any(vectorizer, [cleaned]))[0]
        best = int(probabilities.argmax())
        lang = str(classifier.classes_[best])
        confidence = float(probabilities[best])
        # Two letters ("ok", "no") are not evidence of anything: scale by length.
        confidence = 0.5 + (confidence - 0.5) * min(1.0, letters / 12)
        return lang, confidence


def _example_language(example: Message) -> str | None:
    metadata = example.get(METADATA) or {}
    intent_metadata = metadata.get(METADATA_INTENT) or {}
    lang = intent_metadata.get("lang") if isinstance(intent_metadata, dict) else None
    return lang if lang in ("en", "fr") else None
