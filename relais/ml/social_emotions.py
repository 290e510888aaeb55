"""A pretrained model of the emotions in social-media messages (English), read from its PyPI
package.

The model is NADE ("natural affect detection", MIT licence, PyPI `nade`). It was trained by
its authors, not by us, in two stages that ship inside the wheel:

1. a fastText classifier that predicts, for a message, how likely each of 151 emojis is to
   accompany it (learned from a quarter of a million social-media posts and the emojis their
   writers chose);
2. one gradient-boosted regression per basic emotion (Plutchik's eight) from those 151
   likelihoods to a 0-1 intensity; Relais reads three of them (`EMOTIONS`).

Why it is here: it has read far more informal, angry writing than our own examples hold, so
it knows anger in words and turns of phrase we never wrote. It feeds the anger model as one
more block of features (`relais.ml.anger_model`); it is not the score itself. It reads English;
on French its outputs are weak, and the other blocks carry French.

Only the package's data files are used: its own Python wrapper needs NumPy 2, which Rasa 3.6
does not allow, so the Makefile installs `nade` without its dependencies, and this module
loads the two stages with `fasttext` and `lightgbm` directly. Nothing is downloaded.
"""

from __future__ import annotations

import ctypes
import importlib.util
import re
import threading
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from relais.core.errors import ModelError

#: The emotions read, in the order of the features. NADE ships Plutchik's eight; trained on
#: all eight, the anger model leaned on these three (weights 3.4, 1.6 and -1.3; the other five
#: under 0.9), and the eight regressions together cost about 1.7 ms a message in the running
#: bot (their trees are no longer in the CPU's cache by the next message); these three hold
#: 2,722 of the 7,093 trees.
EMOTIONS = ("anger", "disgust", "sadness")
#: The model inside the package (it ships one, for English social media).
MODEL = "socialmedia_en"
#: Longer texts are cut: the model was trained on posts, not letters.
MAX_CHARS = 1000

_SPACES = re.compile(r"\s+")
_lock = threading.Lock()


class SocialEmotionsError(ModelError):
    """NADE's model files could not be found or read."""


def model_dir() -> Path:
    """The folder of NADE's model files in the installed package (the package is not imported:
    its own wrapper needs libraries Relais does not install)."""
    spec = importlib.util.find_spec("nade")
    if spec is None or not spec.submodule_search_locations:
        raise SocialEmotionsError("the `nade` package is not installed: run `make install`")
    folder = Path(list(spec.submodule_search_locations)[0]) / "data" / MODEL
    if not (folder / "nade_250k_hp.ftz").is_file():
        raise SocialEmotionsError(f"NADE's emoji model is missing from {folder}")
    return folder


def prepare(text: str) -> str:
    """The text as NADE's models read it: runs of punctuation set apart by spaces, spaces
    collapsed, lower case (fastText splits on spaces only, so "awful!!" must become
    "awful !!")."""
    out: list[str] = []
    in_punct = False
    for char in text[:MAX_CHARS]:
        is_punct = unicodedata.category(char).startswith("P")
        if is_punct != in_punct:
            out.append(" ")
        out.append(char)
        in_punct = is_punct
    return _SPACES.sub(" ", "".join(out)).lower().strip()


class SocialEmotions:
    """The two stages, loaded once: text -> 151 emoji likelihoods -> the intensities of
    `EMOTIONS`."""

    def __init__(self, folder: Path | None = None) -> None:
        import fasttext
        import lightgbm

        folder = folder or model_dir()
        # fastText prints a warning on load about a deprecated API; it says nothing about us.
        fasttext.FastText.eprint = lambda *_: None
        self._emojis: Any = fasttext.load_model(str(folder / "nade_250k_hp.ftz"))
        # The regressions read the emoji likelihoods ordered by the emojis' label numbers.
        numbers = sorted(
            int(label.removeprefix("__label__")) for label in self._emojis.get_labels()
        )
        self._column = {f"__label__{n}": i for i, n in enumerate(numbers)}
        self._regressions = [
            lightgbm.Booster(model_str=_read_text(folder / f"reg_{name}.txt")) for name in EMOTIONS
        ]
        self._one_row = _OneRow(self._regressions, len(self._column))

    def emoji_likelihoods(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text: the likelihood of each emoji, in the order of the emojis' label
        numbers (the order the regressions read)."""
        rows = np.zeros((len(texts), len(self._column)), dtype=np.float64)
        prepared = [prepare(t) for t in texts]
        labels, probabilities = self._emojis.predict(prepared, k=len(self._column))
        for i, (names, values) in enumerate(zip(labels, probabilities, strict=True)):
            rows[i, [self._column[name] for name in names]] = values
        return rows

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """One row per text: the emotions of `EMOTIONS`, each 0-1. Blank texts get zeros."""
        result = np.zeros((len(texts), len(EMOTIONS)))
        keep = [i for i, t in enumerate(texts) if t.strip()]
        if not keep:
            return result
        likelihoods = self.emoji_likelihoods([texts[i] for i in keep])
        if len(keep) == 1:
            result[keep[0]] = self._one_row.predict(likelihoods[0])
        else:
            for column, regression in enumerate(self._regressions):
                result[keep, column] = regression.predict(likelihoods)
        return np.clip(result, 0.0, 1.0)


class _OneRow:
    """The regressions for one message at a time, through LightGBM's single-row C API.

    `Booster.predict` checks and converts its input and sets up a predictor on every call;
    for one row that is about as much work as walking the trees (all eight regressions,
    outside the bot: 0.5 ms through `predict`, 0.28 ms through this API). The single-row API
    sets up once and gives the same numbers (tested).
    """

    def __init__(self, regressions: Sequence[Any], columns: int) -> None:
        # LightGBM's own handles to its C library (private names: lightgbm is pinned, and a
        # test checks these numbers against `Booster.predict`).
        from lightgbm.basic import _LIB, _c_str, _safe_call

        self._lib, self._check = _LIB, _safe_call
        self._row = np.zeros(columns, dtype=np.float64)
        self._out = np.zeros(1, dtype=np.float64)
        self._out_len = ctypes.c_int64()
        self._lock = threading.Lock()
        self._configs: list[ctypes.c_void_p] = []
        for regression in regressions:
            config = ctypes.c_void_p()
            _safe_call(
                _LIB.LGBM_BoosterPredictForMatSingleRowFastInit(
                    regression._handle,
                    ctypes.c_int(0),  # normal prediction
                    ctypes.c_int(0),
                    ctypes.c_int(-1),  # every iteration
                    ctypes.c_int(1),
                    ctypes.c_int32(columns),  # float64 columns
                    _c_str("num_threads=1"),
                    ctypes.byref(config),
                )
            )
            self._configs.append(config)
        # The boosters must outlive the configurations that point into them.
        self._regressions = list(regressions)

    def predict(self, row: np.ndarray) -> np.ndarray:
        """The regressions' outputs for one row of emoji likelihoods."""
        result = np.zeros(len(self._configs))
        with self._lock:
            self._row[:] = row
            data = self._row.ctypes.data_as(ctypes.c_void_p)
            out = self._out.ctypes.data_as(ctypes.POINTER(ctypes.c_double))
            for i, config in enumerate(self._configs):
                self._check(
                    self._lib.LGBM_BoosterPredictForMatSingleRowFast(
                        config, data, ctypes.byref(self._out_len), out
                    )
                )
                result[i] = self._out[0]
        return result

    def __del__(self) -> None:
        for config in getattr(self, "_configs", []):
            self._lib.LGBM_FastConfigFree(config)


def _read_text(path: Path) -> str:
    """A regression's text, from the file or from the gzipped copy the wheel ships."""
    if path.is_file():
        return path.read_text(encoding="utf-8")
    packed = path.with_name(path.name + ".gz")
    if not packed.is_file():
        raise SocialEmotionsError(f"NADE's regression {path.name} is missing from {path.parent}")
    import gzip

    with gzip.open(packed, "rt", encoding="utf-8") as f:
        return f.read()


@lru_cache(maxsize=1)
def _model() -> SocialEmotions:
    return SocialEmotions()


def social_emotions(texts: Sequence[str]) -> np.ndarray:
    """The emotion intensities of each text (see `SocialEmotions.scores`)."""
    with _lock:
        model = _model()
    return model.scores(list(texts))
