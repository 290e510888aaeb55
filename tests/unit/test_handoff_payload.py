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


def test_a_typed_reference_goes_through_the_wire_apart_from_the_proven_one() -> None:
    payload = HandoffPayload(reasons=("human_request",), typed_reference="XY4K2P")
    data = payload.to_dict()
    assert data["typed_reference"] == "XY4K2P" and data["booking_reference"] is None
    assert HandoffPayload.from_dict(data) == payload
    assert "typed_reference" not in HandoffPayload.from_dict(data).context
    assert HandoffPayload.from_dict({}).typed_reference is None


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("XY4K2P", "XY4K2P"),
        (" xy4k2p ", "XY4K2P"),  # as the customer typed it
        ("XY1234", None),  # no letter after the code: not a reference
        ("AB4K2P", None),  # another airline's code
        ("XY4K2PX", None),
        ("XY4K2P; DROP TABLE escalations", None),
        ("", None),
        (123456, None),
        (["XY4K2P"], None),
        (None, None),
    ],
)
def test_a_reference_not_in_the_brands_shape_is_dropped(typed: Any, kept: str | None) -> None:
    """Both references, from the wire or built in code: the customer still reaches a person."""
    for name in ("typed_reference", "booking_reference"):
        assert getattr(HandoffPayload.from_dict({name: typed}), name) == kept
        if isinstance(typed, str) or typed is None:
            assert getattr(HandoffPayload(**{name: typed}), name) == kept


def test_a_typed_reference_that_was_proven_is_the_proven_one_only() -> None:
    payload = HandoffPayload.from_dict({"booking_reference": "XY7T2M", "typed_reference": "xy7t2m"})
    assert (payload.booking_reference, payload.typed_reference) == ("XY7T2M", None)


def test_other_custom_responses_are_not_handoffs() -> None:
    assert not carries_handoff({"map": "CDG"}) and not carries_handoff(None)
    with pytest.raises(ValueError):
        HandoffPayload.from_custom({"map": "CDG"})
