"""The escalation policy: reasons, priorities and thresholds."""
from __future__ import annotations

import pytest

from relais.policy import Reason, Signals, Thresholds, decide

T = Thresholds(low_confidence=0.45, misunderstood_turns=2)


def verdict(intent: str, confidence: float = 0.9, before: int = 0, text: str = "x"):
    return decide(Signals(text=text, intent=intent, confidence=confidence,
                          misunderstood_before=before), T)


def test_routine_request_is_answered_by_the_bot() -> None:
    d = verdict("flight_status")
    assert (d.handoff, d.reasons, d.priority) == (False, (), 3)


def test_complaint_goes_to_a_person_first() -> None:
    d = verdict("complaint")
    assert d.handoff and d.reasons == (Reason.COMPLAINT.value,) and d.priority == 1


def test_human_request_goes_to_a_person() -> None:
    d = verdict("human_request")
    assert d.handoff and d.reasons == ("human_request",) and d.priority == 3


def test_one_out_of_scope_message_is_answered_a_second_escalates() -> None:
    assert not verdict("out_of_scope").handoff
    second = verdict("out_of_scope", before=1)
    assert second.handoff and second.reasons == ("out_of_scope",)


def test_low_confidence_twice_escalates_with_its_own_reason() -> None:
    assert not verdict("nlu_fallback", 0.3).handoff
    d = verdict("flight_status", 0.2, before=1)
    assert d.handoff and d.reasons == ("low_confidence",) and d.priority == 3


@pytest.mark.parametrize("intent", ["change_booking", "cancel_booking", "refund_status", "lost_baggage"])
def test_booking_problems_have_priority_two(intent: str) -> None:
    assert verdict(intent).priority == 2


@pytest.mark.parametrize("intent", ["greet", "thank", "goodbye", "affirm", "deny"])
def test_remarks_have_priority_four(intent: str) -> None:
    assert verdict(intent).priority == 4


def test_thresholds_come_from_the_file(tmp_path) -> None:
    path = tmp_path / "escalation.yml"
    path.write_text("low_confidence: 0.6\nmisunderstood_turns: 3\n")
    t = Thresholds.from_file(path)
    assert t == Thresholds(low_confidence=0.6, misunderstood_turns=3)
    assert not decide(Signals("x", "out_of_scope", 0.9, misunderstood_before=1), t).handoff
    assert decide(Signals("x", "out_of_scope", 0.9, misunderstood_before=2), t).handoff


def test_unknown_setting_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "escalation.yml"
    path.write_text("low_confidance: 0.6\n")
    with pytest.raises(ValueError, match="low_confidance"):
        Thresholds.from_file(path)
