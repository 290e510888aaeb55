"""Rasa's `PUT /model` loads no model from a URL or a bucket (relais/nlu/model_api.py);
tests/security/test_internal_services.py makes the same request of a real server."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from http import HTTPStatus
from typing import Any

import pytest

from relais.nlu import model_api
from relais.nlu.language import LanguageDetector


@pytest.fixture
def server() -> Any:
    import rasa.server

    # `rasa run` imports rasa.server, then loads the model: a Relais component applies the guard.
    LanguageDetector.create(LanguageDetector.get_default_config(), None, None, None)  # type: ignore[arg-type]
    return rasa.server


def test_the_guard_replaces_what_put_model_calls(server: Any) -> None:
    assert server._load_agent is model_api.load_local_agent
    model_api.apply()  # a second component: still one guard, around Rasa's own function
    assert model_api._rasa_load_agent is not model_api.load_local_agent


@pytest.mark.parametrize(
    "source",
    [{"model_server": {"url": "http://attacker.example/model.tar.gz"}}, {"remote_storage": "aws"}],
)
def test_a_model_from_elsewhere_is_refused(server: Any, source: dict[str, Any]) -> None:
    with pytest.raises(server.ErrorResponse) as refused:
        asyncio.run(server._load_agent(model_path="model.tar.gz", **source))
    assert refused.value.status == HTTPStatus.FORBIDDEN
    assert "refused" in refused.value.error_info["message"]


def test_a_local_file_still_goes_to_rasa(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []

    async def rasa_load_agent(**kwargs: Any) -> str:
        calls.append(kwargs)
        return "agent"

    monkeypatch.setattr(model_api, "_rasa_load_agent", rasa_load_agent)
    assert asyncio.run(server._load_agent(model_path="models/relais.tar.gz")) == "agent"
    assert calls[0]["model_path"] == "models/relais.tar.gz" and calls[0]["model_server"] is None


def test_processes_without_rasas_api_are_left_alone() -> None:
    code = (
        "import sys\n"
        "from relais.nlu import model_api\n"
        "model_api.apply()\n"
        "print('rasa.server' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
