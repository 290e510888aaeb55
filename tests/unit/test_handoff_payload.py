"""The handoff payload: one type from the action server to the agents' queue."""

from __future__ import annotations

from typing import Any

import pytest

from relais.core.handoff import HANDOFF_KEY, HandoffPayload, carries_handoff


def test_the_payload_goes_through_a_custom_response_unchanged() -> None:
    payload = HandoffPayload(
        reasons=("complaint", "repeat_contact"),
        priority=1,
        intent="complaint",
        language="en",
        summary="James Miller wants help with a refund.",
        topic="refund_status",
        booking_reference="XY7T2M",
        customer_id=3,
        entities=({"entity": "booking_reference", "value": "XY7T2M"},),
    )
    custom = payload.to_custom()
    assert list(custom) == [HANDOFF_KEY] and carries_handoff(custom)
    assert custom[HANDOFF_KEY]["reasons"] == ["complaint", "repeat_contact"]
    assert "attachments" not in custom[HANDOFF_KEY]  # only when the gateway adds files
    assert HandoffPayload.from_custom(custom) == payload


def test_extra_keys_are_kept_as_context_for_the_console() -> None:
    data = {"reasons": ["anger"], "priority": 2, "anger": 0.93, "slots": {"language": "fr"}}
    payload = HandoffPayload.from_dict(data)
    assert payload.context == {"anger": 0.93, "slots": {"language": "fr"}}
    assert payload.to_dict()["anger"] == 0.93 and payload.to_dict()["priority"] == 2


@pytest.mark.parametrize(
    ("data", "reasons", "priority"),
    [
        ({}, ["human_request"], 3),
        ({"reasons": [], "priority": 0}, ["human_request"], 3),
        ({"reasons": None, "priority": 5}, ["human_request"], 3),
        ({"reasons": "anger", "priority": "2"}, ["anger"], 2),
        ({"reasons": ["vip", None, " "], "priority": "high"}, ["vip"], 3),
        ({"reasons": ["safety"], "priority": True}, ["safety"], 3),
        ({"reasons": ["safety"], "priority": None}, ["safety"], 3),
        ("not a payload", ["human_request"], 3),
    ],
)
def test_what_is_missing_or_unusable_gets_a_safe_default(
    data: Any, reasons: list[str], priority: int
) -> None:
    payload = HandoffPayload.from_custom({HANDOFF_KEY: data})
    assert (list(payload.reasons), payload.priority) == (reasons, priority)


def test_values_that_do_not_fit_their_field_are_dropped() -> None:
    payload = HandoffPayload.from_dict(
        {
            "language": "english please",
            "intent": ["x"],
            "customer_id": "twelve",
            "entities": ["not an entity", {"entity": "city", "value": "Lyon"}],
            "summary": None,
        }
    )
    assert payload.language is None and payload.intent is None and payload.customer_id is None
    assert payload.entities == ({"entity": "city", "value": "Lyon"},) and payload.summary == ""


def test_a_payload_built_in_code_must_be_valid() -> None:
    with pytest.raises(ValueError, match="priority"):
        HandoffPayload(priority=7)
    with pytest.raises(ValueError, match="reasons"):
        HandoffPayload(reasons=())
    with pytest.raises(TypeError, match="reasons"):
        HandoffPayload(reasons="anger")  # type: ignore[arg-type]


def test_other_custom_responses_are_not_handoffs() -> None:
    assert not carries_handoff({"map": "CDG"}) and not carries_handoff(None)
    with pytest.raises(ValueError):
        HandoffPayload.from_custom({"map": "CDG"})
