"""Rasa's action-result validation, with the validator built once (relais/nlu/speedups.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from jsonschema import ValidationError

from relais.nlu import speedups
from relais.nlu.language import LanguageDetector


@pytest.fixture
def action():  # type: ignore[no-untyped-def]
    from rasa.core.actions.action import RemoteAction
    from rasa.utils.endpoints import EndpointConfig

    # Rasa creates (or loads) a Relais component before it serves: that applies the fix.
    LanguageDetector.create(LanguageDetector.get_default_config(), None, None, None)  # type: ignore[arg-type]
    return RemoteAction("action_escalate", EndpointConfig("http://127.0.0.1:9/webhook"))


def test_importing_the_components_leaves_rasa_as_it_is() -> None:
    code = (
        "import relais.nlu.anger, relais.nlu.intent, relais.nlu.language\n"
        "from rasa.core.actions.action import RemoteAction\n"
        "print(RemoteAction._validate_action_result.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "rasa.core.actions.action"


def test_the_fix_is_in_place_once_a_relais_component_is_created(action) -> None:  # type: ignore[no-untyped-def]
    assert type(action)._validate_action_result is speedups.validate_action_result


def test_a_valid_answer_passes(action) -> None:  # type: ignore[no-untyped-def]
    answer = {
        "events": [{"event": "slot", "name": "language", "value": "fr"}, {"event": "pause"}],
        "responses": [{"text": "Je transmets à un collègue.", "buttons": []}],
    }
    assert action._validate_action_result(answer) is True


@pytest.mark.parametrize(
    "answer, problem",
    [
        ({"events": "not a list", "responses": []}, "is not of type 'array'"),
        ({"events": [{"event": "no_such_event"}], "responses": []}, "no_such_event"),
        ({"events": [], "responses": ["text"]}, "is not of type 'object'"),
    ],
)
def test_a_bad_answer_is_rejected_as_rasa_rejects_it(action, answer, problem) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as raised:
        action._validate_action_result(answer)
    assert problem in raised.value.message
    assert "Failed to validate Action server response" in raised.value.message


ANSWERS = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "a", "value": None, "timestamp": 1.5}], "responses": []},
    {"events": [{"event": "slot", "value": 3}], "responses": []},  # a slot without its name
    {"events": [{"event": "slot", "name": 4, "value": 3}], "responses": []},
    {"events": [{"event": "bot", "text": "Hi", "data": {"buttons": []}}], "responses": []},
    {"events": [{"event": "bot", "text": 7}], "responses": []},
    {"events": [{"event": "pause"}, {"event": "followup", "name": "action_x"}], "responses": []},
    {"events": [{"event": "action", "name": "action_listen", "policy": None}], "responses": []},
    {"events": [{"event": "active_loop", "name": None}], "responses": [{"text": "x"}]},
    {"events": [{"event": "user", "text": "hi", "parse_data": {"intent": {}}}], "responses": []},
    {"events": [{"event": "user", "text": "hi", "parse_data": "no"}], "responses": []},
    {"events": [{"timestamp": 3}], "responses": []},  # no event name
    {"events": [{"event": 12}], "responses": []},
    {"events": [{"event": "slot", "name": "a", "value": 1, "timestamp": "now"}], "responses": []},
    {"events": [{"event": "reminder", "intent": "x", "date_time": "2026-12-05"}]},
    {"responses": [{"text": "only responses"}]},
    {"events": ["slot"], "responses": []},
    [],
]


@pytest.mark.parametrize("answer", ANSWERS)
def test_each_answer_gets_the_verdict_and_error_of_the_whole_schema(action, answer) -> None:  # type: ignore[no-untyped-def]
    from jsonschema import exceptions
    from jsonschema.validators import validator_for

    spec = action.action_response_format_spec()
    expected = exceptions.best_match(validator_for(spec)(spec).iter_errors(answer))
    if expected is None:
        assert action._validate_action_result(answer) is True
    else:
        with pytest.raises(ValidationError) as raised:
            action._validate_action_result(answer)
        assert raised.value.message.startswith(expected.message)
