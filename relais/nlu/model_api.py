"""Rasa's HTTP API loads no model from elsewhere; applied when Rasa loads Relais's components.

`PUT /model` accepts a `model_server` (a URL Rasa downloads a model archive from, and then
polls) or a `remote_storage` (a cloud bucket). A model archive is code: its config names the
Python classes Rasa imports and its components' files are unpickled, so whoever can call the
API could make the server run anything. Relais serves the model it trained, from a local file
(`--model`), so those two sources are refused with 403; a local `model_file` still loads (its
Relais components check their signatures, relais/nlu/stored.py). The gateway never calls
`PUT /model` (bot/rasa_client.py): parsing, trackers and triggers are unaffected.

Like relais/nlu/speedups.py, this is applied by the components' `create`/`load`, i.e. before
the Rasa server answers its first request: the model given with `--model` loads before that.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

logger = logging.getLogger(__name__)

REFUSAL = (
    "Relais's Rasa server loads models only from its own files (rasa run --model); "
    "loading one from a model server or remote storage is refused."
)
_rasa_load_agent: Callable[..., Awaitable[Any]] | None = None


async def load_local_agent(
    model_path: str | None = None,
    model_server: Any = None,
    remote_storage: str | None = None,
    endpoints: Any = None,
) -> Any:
    """Rasa's `rasa.server._load_agent` (what `PUT /model` calls), for local files only."""
    from rasa.server import ErrorResponse

    if model_server is not None or remote_storage is not None:
        given = "model_server" if model_server is not None else "remote_storage"
        raise ErrorResponse(HTTPStatus.FORBIDDEN, "Forbidden", REFUSAL, {"parameter": given})
    assert _rasa_load_agent is not None  # set by apply() before this replaces Rasa's
    return await _rasa_load_agent(
        model_path=model_path, model_server=None, remote_storage=None, endpoints=endpoints
    )


def apply() -> None:
    # Only a process that serves Rasa's API has imported rasa.server (`rasa run` does before
    # it loads the model); `rasa train` and the tools' in-process models have no API to guard,
    # and importing the server module for them would only cost time.
    global _rasa_load_agent
    server = sys.modules.get("rasa.server")
    if server is None or server._load_agent is load_local_agent:
        return
    _rasa_load_agent = server._load_agent
    server._load_agent = load_local_agent
    logger.debug("PUT /model loads local model files only")
