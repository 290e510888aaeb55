"""No model file is unpickled unless Relais wrote it with this installation's model key
(relais/nlu/stored.py): each component's pickle has a keyed digest beside it."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource

from relais.core.config import settings
from relais.nlu.anger import AngerDetector
from relais.nlu.stored import DIGEST_SUFFIX, ModelSignatureError

#: Set by `Payload` when it is unpickled: proof that a refused file was never unpickled.
UNPICKLED: list[str] = []


class Payload:
    """What an attacker's pickle does: run code the moment it is loaded."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (UNPICKLED.append, ("attacker code ran",))


@pytest.fixture(autouse=True)
def model_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # A key of the test's own: no test reads or creates the checkout's var/secrets.env.
    monkeypatch.setenv("RELAIS_MODEL_KEY", "the-installation-key")
    settings.cache_clear()
    UNPICKLED.clear()
    yield
    settings.cache_clear()


def saved(tmp_path: Path, model: Any = None) -> tuple[LocalModelStorage, Resource, Path]:
    """A trained AngerDetector's resource in a real Rasa model storage; and its model file."""
    (tmp_path / "storage").mkdir()
    storage, resource = LocalModelStorage(tmp_path / "storage"), Resource("anger")
    config = AngerDetector.get_default_config()
    AngerDetector(config, storage, resource)._save(model or {"weights": [1, 2, 3]})
    with storage.read_from(resource) as directory:
        return storage, resource, directory / AngerDetector.model_file


def load(storage: LocalModelStorage, resource: Resource) -> AngerDetector:
    config = AngerDetector.get_default_config()
    return AngerDetector.load(config, storage, resource, execution_context=None)  # type: ignore[arg-type]


def test_a_model_relais_wrote_loads(tmp_path: Path) -> None:
    storage, resource, model_file = saved(tmp_path)
    assert model_file.with_name(model_file.name + DIGEST_SUFFIX).exists()
    assert load(storage, resource)._model == {"weights": [1, 2, 3]}


def test_a_tampered_pickle_is_refused_before_it_is_unpickled(tmp_path: Path) -> None:
    storage, resource, model_file = saved(tmp_path)
    model_file.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ModelSignatureError, match="not signed with this installation's"):
        load(storage, resource)
    assert UNPICKLED == []


def test_a_pickle_without_its_digest_is_refused(tmp_path: Path) -> None:
    storage, resource, model_file = saved(tmp_path)
    model_file.with_name(model_file.name + DIGEST_SUFFIX).unlink()
    model_file.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(ModelSignatureError, match="has no signature"):
        load(storage, resource)
    assert UNPICKLED == []


def test_a_model_trained_with_another_key_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage, resource, _ = saved(tmp_path)
    monkeypatch.setenv("RELAIS_MODEL_KEY", "another-machine's-key")
    settings.cache_clear()
    with pytest.raises(ModelSignatureError) as refused:
        load(storage, resource)
    assert "make train" in str(refused.value) and "RELAIS_MODEL_KEY" in str(refused.value)


def test_the_digest_travels_through_rasas_training_cache(tmp_path: Path) -> None:
    # Rasa's cache stores a resource's directory and copies it back into the next model.
    storage, resource, _ = saved(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    resource.to_cache(cache, storage)
    (tmp_path / "next-model").mkdir()
    restored_storage = LocalModelStorage(tmp_path / "next-model")
    restored = Resource.from_cache("anger", cache, restored_storage, resource.fingerprint())
    assert load(restored_storage, restored)._model == {"weights": [1, 2, 3]}
