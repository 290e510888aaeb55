"""Ranks the brand's knowledge passages for every message (relais/core/knowledge.py).

Each passage is known by examples: the questions its article lists for it, in every
language, and its own words under the article's title. A message scores against each example
with the multilingual sentence encoder the intent classifier already ran (its vector comes
from the encoder's cache, so meaning costs a dot product) and with character n-grams (the
exact words: "ESTA", "skis", "poussette"). An article scores the mean of its best few
examples, and offers its best-scoring passage. The top articles go into the parse as
`knowledge`; the action server decides whether the best is good enough to say
(relais/core/knowledge.py `choose`, thresholds in escalation.yml) and says it from the files.

Flight numbers and booking references are taken out of the message and of the examples
before either is scored: a code says which booking, never which article, and an article whose
examples quote references would otherwise match every message that carries one
("XY7T2M Jones" is a reference and a surname, not a question about seats). A message with
a code is therefore embedded once more, without it: the one case where retrieval runs the
encoder itself.

The index is built by `rasa train` from the knowledge folder brand.yml names; editing an
article means `make validate`, `make train` and a restart.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

import numpy as np
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from relais.core import timings
from relais.core.brand import load_brand
from relais.core.codes import without_codes
from relais.core.knowledge import KNOWLEDGE, Knowledge, load_knowledge
from relais.core.policy import OUT_OF_SCOPE_INTENT
from relais.ml import tfidf
from relais.ml.encoder import embed
from relais.ml.text import normalise
from relais.nlu.intent import anger_only
from relais.nlu.stored import StoredModelComponent

logger = logging.getLogger(__name__)


def brand_knowledge() -> Knowledge:
    brand = load_brand()
    return load_knowledge(brand.knowledge_dir, brand.links["website"])


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class KnowledgeRetriever(StoredModelComponent):
    """Adds `knowledge`: the best-scoring articles, each with its best passage, and how close
    the message is to what is out of scope: {"articles": [{article, passage, score}, …],
    "outside": score}."""

    model_file = "knowledge_index.pkl"

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # Chosen on tests/eval/knowledge_dev.yml (never on the held-out questions).
        return {
            # The share of the sentence encoder in an example's score; the rest is
            # character n-grams.
            "dense_weight": 0.7,
            # An article scores the mean of its best this-many examples: one lucky example
            # does not make an article, several close ones do.
            "best_examples": 3,
            # How many articles the parse carries.
            "top": 5,
        }

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str:
        # The articles are training input Rasa does not know of: edited, they retrain.
        try:
            digest = brand_knowledge().digest
        except Exception as error:  # a broken folder fails at train time, with its message
            digest = hashlib.sha256(str(error).encode()).hexdigest()
        return f"{super().fingerprint_addon(config)}:{digest}"

    def train(self, training_data: TrainingData) -> Resource:
        from sklearn.feature_extraction.text import TfidfVectorizer

        knowledge = brand_knowledge()
        examples = sorted(knowledge.examples())  # grouped by article, then passage
        # What the bot knows is outside its job (our own out_of_scope examples, and the
        # knowledge's outside.yml): a message closer to those than to any article is not
        # answered from the knowledge.
        outside = [
            m.get(TEXT)
            for m in training_data.intent_examples
            if m.get(INTENT) == OUT_OF_SCOPE_INTENT and m.get(TEXT) and not anger_only(m)
        ] + list(knowledge.outside)
        if not examples:
            logger.warning("The knowledge folder has no articles: nothing will be retrieved.")
            return self._resource
        passages = sorted({(article, passage) for article, passage, _ in examples})
        articles = sorted({article for article, _ in passages})
        texts = [without_codes(text) for _, _, text in examples] + [
            without_codes(text) for text in outside
        ]
        ngrams = TfidfVectorizer(
            preprocessor=normalise, analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True
        )
        sparse = ngrams.fit(texts[: len(examples)]).transform(texts).tocsr()
        weight = float(self._config["dense_weight"])
        owner = [passages.index((a, p)) for a, p, _ in examples]
        by_article = [[i for i, e in enumerate(examples) if e[0] == a] for a in articles]
        longest = max(len(rows) for rows in by_article)
        return self._save(
            {
                "articles": articles,
                "passages": passages,
                "examples": len(examples),
                # Every example, then every outside one, one row each, already weighted: a
                # message's scores are one product with each matrix.
                "dense": (embed(texts) * weight).astype(np.float32),
                "sparse": (sparse * (1 - weight)).tocsr(),
                "ngrams": ngrams,
                # Examples are sorted by passage: where each passage's rows start.
                "passage_starts": np.array(
                    [owner.index(i) for i in range(len(passages))], dtype=np.int64
                ),
                # Each article's example rows, padded with -1 (a score of -1 never counts).
                "article_rows": np.array(
                    [rows + [-1] * (longest - len(rows)) for rows in by_article], dtype=np.int64
                ),
                # Each article's passages ("" is the article as a whole, not a passage).
                "article_passages": [
                    np.array([j for j, (a, p) in enumerate(passages) if a == article and p])
                    for article in articles
                ],
                "digest": knowledge.digest,
            }
        )

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            started = time.perf_counter()
            text = without_codes(message.get(TEXT) or "")
            found: dict[str, Any] = {"articles": [], "outside": 0.0}
            if self._model is not None and text:
                found = self.rank(text)
            message.set(KNOWLEDGE, found, add_to_output=True)
            timings.record("knowledge", started)
        return messages

    def rank(self, text: str) -> dict[str, Any]:
        """The `top` articles for `text` (its codes already taken out), best first: each with
        its score (0–1) and the passage of it that matches `text` best; and `outside`, the
        score of the out-of-scope examples closest to `text`, counted the same way."""
        model = self._model
        k = int(self._config["best_examples"])
        query = tfidf.transform(model["ngrams"], [text]).toarray().ravel()
        scores = model["dense"] @ embed([text])[0] + model["sparse"] @ query
        examples = model["examples"]
        passage_scores = np.maximum.reduceat(scores[:examples], model["passage_starts"])
        padded = np.append(scores[:examples], -1.0)[model["article_rows"]]
        article_scores = np.partition(padded, -k, axis=1)[:, -k:].mean(axis=1)
        found = []
        for i in np.argsort(-article_scores)[: int(self._config["top"])]:
            own = model["article_passages"][i]
            passage = own[np.argmax(passage_scores[own])]
            found.append(
                {
                    "article": model["articles"][i],
                    "passage": model["passages"][passage][1],
                    "score": round(float(article_scores[i]), 4),
                }
            )
        outside = scores[examples:]
        closest = np.partition(outside, -k)[-k:].mean() if len(outside) >= k else 0.0
        return {"articles": found, "outside": round(float(closest), 4)}
