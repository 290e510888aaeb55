"""The part every trained Relais NLU component shares: a pickled model in Rasa's model storage."""
from __future__ import annotations

import logging
import pickle
from typing import Any, ClassVar, Dict, Text, TypeVar

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage

logger = logging.getLogger(__name__)

C = TypeVar("C", bound="StoredModelComponent")


class StoredModelComponent(GraphComponent):
    """Keeps `self._model` (anything picklable) in the component's resource.

    Subclasses set `model_file` and call `self._save(model)` at the end of `train`.
    """

    model_file: ClassVar[str] = "model.pkl"

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage,
                 resource: Resource, model: Any = None) -> None:
        self._config = config
        self._storage = model_storage
        self._resource = resource
        self._model = model

    @classmethod
    def create(cls: type[C], config: Dict[Text, Any], model_storage: ModelStorage,
               resource: Resource, execution_context: ExecutionContext) -> C:
        return cls(config, model_storage, resource)

    @classmethod
    def load(cls: type[C], config: Dict[Text, Any], model_storage: ModelStorage,
             resource: Resource, execution_context: ExecutionContext, **kwargs: Any) -> C:
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
