"""The escalation policy: reasons, priorities and thresholds."""

from __future__ import annotations

import pytest

from relais.core.policy import Reason, Signals, Thresholds, decide

T = Thresholds(low_confidence=0.45, misunderstood_turns=2)


def verdict(intent: str, confidence: float = 0.9, before: int = 0, text: str = "x"):
    return decide(
        Signals(text=text, intent=intent, confidence=confidence, misunderstood_before=before), T
    )


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


@pytest.mark.parametrize(
    "intent", ["change_booking", "cancel_booking", "refund_status", "lost_baggage"]
)
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


# --- the signals added for escalation ------------------------------------------------------

T2 = Thresholds()


def full(intent: str = "flight_status", text: str = "x", **kw):  # type: ignore[no-untyped-def]
    thresholds = kw.pop("thresholds", T2)
    return decide(
        Signals(text=text, intent=intent, confidence=kw.pop("confidence", 0.9), **kw), thresholds
    )


def test_anger_at_the_threshold_hands_over_with_priority_one() -> None:
    d = full(anger=0.5)
    assert d.handoff and d.reasons == ("anger",) and d.priority == 1
    assert not full(anger=0.49).handoff


@pytest.mark.parametrize(
    "text",
    [
        "I'll see you in small claims court",
        "my lawyer will contact you",
        "I want my EU261 compensation",
        "je vais faire une rétrofacturation",
        "j'appelle mon avocat",
        "on va voir ce que la presse en pense",
    ],
)
def test_legal_or_compensation_claims_in_both_languages(text: str) -> None:
    d = full(text=text)
    assert d.handoff and "legal_or_compensation" in d.reasons and d.priority == 1


@pytest.mark.parametrize(
    "text",
    [
        "the crew member was racist to my son",
        "there was smoke in the cabin, it felt unsafe",
        "j'ai fait un malaise à bord",
        "harcèlement par un passager, personne n'a réagi",
    ],
)
def test_safety_health_discrimination_in_both_languages(text: str) -> None:
    d = full(text=text)
    assert d.handoff and "safety" in d.reasons and d.priority == 1


def test_several_requests_in_one_message() -> None:
    parts = (("change_booking", 0.8), ("baggage_allowance", 0.7))
    d = full(
        "change_booking", text="move my flight to friday and how many bags can I take", parts=parts
    )
    assert d.handoff and d.reasons == ("multiple_requests",) and d.priority == 2
    # One part only, whatever the ranking: hesitation is not a second request.
    ranking = (("change_booking", 0.5), ("baggage_allowance", 0.45))
    assert not full("change_booking", text="move my flight to friday", ranking=ranking).handoff
    # Two parts asking the same thing, or a second part that is only a remark, are one request.
    assert not full(
        "change_booking", parts=(("change_booking", 0.9), ("change_booking", 0.8))
    ).handoff
    assert not full("change_booking", parts=(("change_booking", 0.9), ("thank", 0.9))).handoff
    # A second part the classifier is unsure of does not count.
    assert not full(
        "change_booking", parts=(("change_booking", 0.9), ("seat_selection", 0.3))
    ).handoff
    assert (
        full("change_booking", parts=parts, thresholds=Thresholds(part_confidence=0.75)).handoff
        is False
    )


def test_a_request_for_a_person_in_one_part_of_the_message_is_honoured() -> None:
    parts = (("pets", 0.8), ("human_request", 0.9))
    d = full("baggage_allowance", text="can my dog fly in the cabin? I want a person", parts=parts)
    assert d.handoff and "human_request" in d.reasons
    # A part the classifier is unsure of is not a request for a person.
    unsure = (("baggage_allowance", 0.8), ("human_request", 0.3))
    assert not full("baggage_allowance", parts=unsure).handoff


def test_vip_with_a_problem_goes_first_vip_with_a_question_does_not() -> None:
    complaint = full("complaint", loyalty_tier="platinum")
    assert complaint.reasons == ("complaint", "vip") and complaint.priority == 1
    bag = full("lost_baggage", loyalty_tier="gold")
    assert bag.reasons == ("vip",) and bag.priority == 1
    assert not full("flight_status", loyalty_tier="platinum").handoff
    assert not full("lost_baggage", loyalty_tier="silver").handoff


def test_repeat_contact_joins_other_reasons_but_is_not_one_alone() -> None:
    assert not full("refund_status", repeat_contact=True).handoff
    d = full("complaint", repeat_contact=True)
    assert d.reasons == ("complaint", "repeat_contact")
    once = full("nlu_fallback", confidence=0.3, repeat_contact=True)
    assert once.reasons == ("low_confidence", "repeat_contact")


def test_asking_the_same_thing_a_third_time_is_stalled() -> None:
    assert not full("flight_status", same_request_before=1).handoff
    d = full("flight_status", same_request_before=2)
    assert d.reasons == ("stalled",) and d.priority == 3
    assert not full("thank", same_request_before=5).handoff


def test_signals_from_a_rasa_parse() -> None:
    parse = {
        "intent": {"name": "refund_status", "confidence": 0.8},
        "anger": 0.7,
        "intent_ranking": [{"name": "refund_status", "confidence": 0.8}],
    }
    s = Signals.from_parse("where is my money", parse, loyalty_tier="gold")
    assert (s.intent, s.confidence, s.anger, s.loyalty_tier) == ("refund_status", 0.8, 0.7, "gold")
    assert s.ranking == (("refund_status", 0.8),)
    d = decide(s, T2)
    assert d.reasons == ("anger", "vip") and d.priority == 1


def test_the_shipped_thresholds_file_loads() -> None:
    from relais.core.config import settings

    t = Thresholds.from_file(settings().escalation_file)
    assert t.anger_handoff == 0.5 and t.low_confidence == 0.4 and "platinum" in t.vip_tiers


@pytest.mark.parametrize(
    "text",
    [
        "the wifi was not working the whole flight",
        "le wifi ne marche pas du tout, deux heures sans rien, c'est nul",
    ],
)
def test_out_of_scope_message_naming_a_failure_is_a_complaint_at_once(text: str) -> None:
    d = verdict("out_of_scope", text=text)
    assert d.handoff and d.reasons == ("complaint",) and d.priority == 1


def test_out_of_scope_message_without_a_failure_is_answered() -> None:
    assert not verdict("out_of_scope", text="what's the weather like in Lisbon").handoff
    # One weak word ("issue") is not enough to name a failure.
    assert not verdict("out_of_scope", text="any issue with that").handoff


def test_not_understood_failure_is_a_complaint_only_when_annoyed() -> None:
    text = "flight delayed and nobody at the desk"
    calm = decide(Signals(text=text, intent="nlu_fallback", confidence=0.3, anger=0.1), T)
    assert not calm.handoff  # the bot asks one question first
    annoyed = decide(Signals(text=text, intent="nlu_fallback", confidence=0.3, anger=0.35), T)
    assert annoyed.handoff and annoyed.reasons == ("complaint",) and annoyed.priority == 1


def test_problem_words_threshold_is_a_setting() -> None:
    text = "the wifi was not working"
    strict = Thresholds(low_confidence=0.45, problem_words=9)
    assert not decide(Signals(text=text, intent="out_of_scope", confidence=0.9), strict).handoff
