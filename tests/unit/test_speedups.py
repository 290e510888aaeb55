"""Rasa's action-result validation, with the validator built once (relais/nlu/speedups.py)."""
from __future__ import annotations

import pytest
from jsonschema import ValidationError

import relais.nlu  # noqa: F401  (applies the fix, as Rasa does when it loads a Relais model)
from relais.nlu import speedups


@pytest.fixture
def action():  # type: ignore[no-untyped-def]
    from rasa.core.actions.action import RemoteAction
    from rasa.utils.endpoints import EndpointConfig

    return RemoteAction("action_escalate", EndpointConfig("http://127.0.0.1:9/webhook"))


def test_the_fix_is_in_place_once_relais_components_are_imported(action) -> None:  # type: ignore[no-untyped-def]
    assert type(action)._validate_action_result is speedups.validate_action_result


def test_a_valid_answer_passes(action) -> None:  # type: ignore[no-untyped-def]
    answer = {"events": [{"event": "slot", "name": "language", "value": "fr"},
                         {"event": "pause"}],
              "responses": [{"text": "Je transmets à un collègue.", "buttons": []}]}
    assert action._validate_action_result(answer) is True


@pytest.mark.parametrize("answer, problem", [
    ({"events": "not a list", "responses": []}, "is not of type 'array'"),
    ({"events": [{"event": "no_such_event"}], "responses": []}, "no_such_event"),
    ({"events": [], "responses": ["text"]}, "is not of type 'object'"),
])
def test_a_bad_answer_is_rejected_as_rasa_rejects_it(action, answer, problem) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as raised:
        action._validate_action_result(answer)
    assert problem in raised.value.message
    assert "Failed to validate Action server response" in raised.value.message
