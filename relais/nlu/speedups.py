"""One fix to Rasa 3.6's own hot path, applied when Rasa loads Relais's components.

`make profile` showed the Rasa server spending about 40% of its CPU in one place: every
time an action server answers, `RemoteAction._validate_action_result` calls
`jsonschema.validate`, which first checks the (constant) response schema against the JSON
Schema meta-schema, then builds a new validator, before validating the answer. Here the
schema is checked and the validators built once per process.

Even so, validating one answer took about 5 ms (2026-12-05): each event is tried against all
23 `oneOf` alternatives of Rasa's event schema. Every alternative fixes `event` to a
different constant, so an event can only match the one named like it: an answer is valid
exactly when its shape (the schema without the `oneOf`) is, and each event is valid against
its own alternative. That is checked first; an answer it does not pass is validated the
original way, so it is rejected with the very error Rasa gives.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=8)
def _validator(schema_json: str) -> Any:
    from jsonschema.validators import validator_for

    schema = json.loads(schema_json)
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@dataclass(frozen=True)
class _Validators:
    whole: Any  #: the response schema as Rasa wrote it
    shape: Any | None  #: the same without the events' `oneOf` (None: not the layout known)
    events: dict[str, Any]  #: event name -> the `oneOf` alternative fixing that name


def _split(spec: dict[str, Any]) -> _Validators:
    whole = _validator(json.dumps(spec, sort_keys=True))
    items = ((spec.get("properties") or {}).get("events") or {}).get("items") or {}
    alternatives = items.get("oneOf") or []
    names = [((a.get("properties") or {}).get("event") or {}).get("const") for a in alternatives]
    if (
        not alternatives
        or any(not isinstance(n, str) for n in names)
        or len(set(names)) < len(names)
    ):
        return _Validators(whole, None, {})  # another Rasa's schema: validate it whole
    shape = copy.deepcopy(spec)
    del shape["properties"]["events"]["items"]["oneOf"]
    return _Validators(
        whole,
        _validator(json.dumps(shape, sort_keys=True)),
        {
            n: _validator(json.dumps(a, sort_keys=True))
            for n, a in zip(names, alternatives, strict=True)
        },
    )


@functools.lru_cache(maxsize=8)
def _validators_for(cls: type) -> _Validators:
    # The response format is a constant of the action's class.
    return _split(cls.action_response_format_spec())


def _valid_fast(checks: _Validators, result: Any) -> bool:
    if checks.shape is None or not checks.shape.is_valid(result):
        return False
    for event in result.get("events") or []:
        own = checks.events.get(event.get("event"))
        if own is None or not own.is_valid(event):
            return False
    return True


def validate_action_result(self: Any, result: dict[str, Any]) -> bool:
    """Rasa's `RemoteAction._validate_action_result`, with the validators built once and
    each event checked against its own schema only."""
    from jsonschema import exceptions
    from rasa.shared.constants import DOCS_BASE_URL

    checks = _validators_for(type(self))
    if _valid_fast(checks, result):
        return True
    error = exceptions.best_match(checks.whole.iter_errors(result))
    if error is not None:
        error.message += (
            ". Failed to validate Action server response from API, make sure your response "
            f"from the Action endpoint is valid. For more information about the format visit "
            f"{DOCS_BASE_URL}/custom-actions"
        )
        raise error
    return True


def apply() -> None:
    from rasa.core.actions.action import RemoteAction

    if getattr(RemoteAction._validate_action_result, "__module__", "") == __name__:
        return
    RemoteAction._validate_action_result = validate_action_result
    logger.debug("action server answers are validated with a cached validator")
