"""One fix to Rasa 3.6's own hot path, applied when Rasa loads Relais's components.

`make profile` showed the Rasa server spending about 40% of its CPU in one place: every
time an action server answers, `RemoteAction._validate_action_result` calls
`jsonschema.validate`, which first checks the (constant) response schema against the JSON
Schema meta-schema, then builds a new validator, before validating the answer. Here the
schema is checked and the validator built once per process; every answer is still
validated against the same schema and rejected with the same error as before.
"""

from __future__ import annotations

import functools
import json
import logging
from typing import Any

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=8)
def _validator(schema_json: str) -> Any:
    from jsonschema.validators import validator_for

    schema = json.loads(schema_json)
    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def validate_action_result(self: Any, result: dict[str, Any]) -> bool:
    """Rasa's `RemoteAction._validate_action_result`, with the validator built once."""
    from jsonschema import exceptions
    from rasa.shared.constants import DOCS_BASE_URL

    spec = self.action_response_format_spec()
    validator = _validator(json.dumps(spec, sort_keys=True))
    error = exceptions.best_match(validator.iter_errors(result))
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
