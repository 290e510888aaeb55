"""TF-IDF of a few texts at a time, fast: what scikit-learn computes, without its overhead.

At prediction time Relais turns one message at a time into TF-IDF features, three or four
times per message (intent words and characters, anger words, language characters).
`make profile` showed scikit-learn's `TfidfVectorizer.transform` taking a sixth of the Rasa
server's time, mostly in per-call work that does not depend on the text: rebuilding the
IDF vector from its diagonal matrix (over the whole vocabulary), checks, and a sparse
matrix product. Here the IDF vector is taken once per vectorizer and applied to the counts
directly. The result is the same matrix (tests/unit/test_tfidf.py compares them).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix, hstack

_idf: weakref.WeakKeyDictionary[Any, np.ndarray] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _idf_of(vectorizer: Any) -> np.ndarray:
    with _lock:
        found = _idf.get(vectorizer)
        if found is None:
            found = _idf[vectorizer] = np.asarray(vectorizer.idf_, dtype=np.float64)
        return found


def transform(vectorizer: Any, texts: Sequence[str]) -> csr_matrix:
    """`vectorizer.transform(texts)` for a fitted TfidfVectorizer (any norm, tf, idf)."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.preprocessing import normalize

    counts = CountVectorizer.transform(vectorizer, texts).astype(np.float64)
    if vectorizer.sublinear_tf:
        np.log(counts.data, counts.data)
        counts.data += 1
    if vectorizer.use_idf:
        counts.data *= _idf_of(vectorizer)[counts.indices]
    if vectorizer.norm:
        counts = normalize(counts, norm=vectorizer.norm, copy=False)
    return counts


def transform_any(model: Any, texts: Sequence[str]) -> csr_matrix:
    """`transform` for a TfidfVectorizer, or a FeatureUnion of them; anything else as is."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import FeatureUnion

    if isinstance(model, TfidfVectorizer):
        return transform(model, texts)
    if isinstance(model, FeatureUnion) and all(
        isinstance(part, TfidfVectorizer) and not model.transformer_weights
        for _, part in model.transformer_list
    ):
        return hstack([transform(part, texts) for _, part in model.transformer_list]).tocsr()
    return model.transform(texts)
