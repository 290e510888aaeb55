"""X's webhook on the wire: CRC, signatures, DM events (Account Activity and v2 polling)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from bot.channels.x_wire import (
    crc_response,
    crc_token_ok,
    inbound_from_dm_events,
    inbound_from_webhook,
    is_group,
    read_dm_events,
    signature,
    signature_ok,
)

SECRET = "consumer-secret"


def test_crc_answer_is_the_base64_hmac_of_the_token() -> None:
    expected = base64.b64encode(hmac.new(SECRET.encode(), b"abc123", hashlib.sha256).digest())
    assert crc_response(SECRET, "abc123") == {"response_token": "sha256=" + expected.decode()}


def test_signature_is_checked_in_constant_time_and_refuses_anything_else() -> None:
    body = json.dumps({"for_user_id": "1"}).encode()
    good = signature(SECRET, body)
    assert signature_ok(SECRET, body, good)
    assert not signature_ok(SECRET, body + b" ", good)  # a changed body
    assert not signature_ok("other-secret", body, good)
    assert not signature_ok(SECRET, body, None) and not signature_ok(SECRET, body, "sha256=")


def dm(event_id: str, sender: str, text: str, **data: object) -> dict:
    return {
        "type": "message_create",
        "id": event_id,
        "created_timestamp": "1763900000000",
        "message_create": {
            "target": {"recipient_id": "999"},
            "sender_id": sender,
            "message_data": {"text": text, **data},
        },
    }


def test_webhook_events_keep_customers_and_drop_echoes_and_other_kinds() -> None:
    payload = {
        "for_user_id": "999",
        "direct_message_events": [
            dm("1", "200002", "is my flight on time?"),
            dm("2", "999", "Your flight XY123 is on time."),  # our own reply, echoed back
            dm(
                "3",
                "200002",
                "2",
                quick_reply_response={"type": "options", "metadata": "/flight_status"},
            ),
            dm(
                "4",
                "200001",
                "",
                attachment={
                    "type": "media",
                    "media": {
                        "id_str": "77",
                        "type": "photo",
                        "media_url_https": "https://x/77.jpg",
                    },
                },
            ),
            {"type": "message_read", "id": "5"},
        ],
        "favorite_events": [{}],
    }
    found, skipped = inbound_from_webhook(payload, "999")
    assert [(m.platform_id, m.sender, m.text) for m in found] == [
        ("1", "200002", "is my flight on time?"),
        ("3", "200002", "/flight_status"),
        ("4", "200001", ""),
    ]
    assert found[2].attachments[0]["kind"] == "photo" and found[2].attachments[0]["ref"] == "77"
    assert found[0].conversation_id == "x:200002" and found[0].sent_at.year == 2025
    assert "our own message (echo)" in skipped and "favorite_events" in skipped
    with pytest.raises(ValueError):
        inbound_from_webhook(["not", "a", "dict"], "999")  # type: ignore[arg-type]


def test_a_delivery_for_another_account_is_dropped_whole() -> None:
    payload = {"for_user_id": "555", "direct_message_events": [dm("1", "200002", "hi")]}
    found, skipped = inbound_from_webhook(payload, "999")
    assert found == [] and skipped == ["a delivery for another account (for_user_id)"]
    # No for_user_id at all is not ours either.
    assert (
        inbound_from_webhook({"direct_message_events": [dm("1", "200002", "hi")]}, "999")[0] == []
    )


def test_echoes_are_recognised_by_the_configured_account_not_the_payload() -> None:
    # The payload names our account; a message sent by it is our own, whatever else it says.
    payload = {
        "for_user_id": "999",
        "direct_message_events": [dm("1", "999", "our reply"), dm("2", "200002", "hi")],
    }
    found, skipped = inbound_from_webhook(payload, "999")
    assert [m.platform_id for m in found] == ["2"] and "our own message (echo)" in skipped


def test_one_unusable_event_is_skipped_alone() -> None:
    payload = {
        "for_user_id": "999",
        "direct_message_events": [
            dm("1", "7" * 500, "a sender id longer than any column"),
            {"type": "message_create", "id": "2", "message_create": "not an object"},
            dm("3", "200002", "still here"),
        ],
    }
    found, skipped = inbound_from_webhook(payload, "999")
    assert [m.text for m in found] == ["still here"] and len(skipped) == 2


@pytest.mark.parametrize(
    "token",
    [
        '{"for_user_id": "999"}',  # a JSON body: its signature would forge a delivery
        "{}",
        '"quoted"',
        "123",  # JSON too (a number)
        "true",
        "null",
        "has space",
        "tab\there",
        "line\nbreak",
        "a" * 129,
        "",
        "slash/and+plus",
    ],
)
def test_only_a_plausible_crc_token_is_signed(token: str) -> None:
    assert not crc_token_ok(token)
    with pytest.raises(ValueError):
        crc_response(SECRET, token)


@pytest.mark.parametrize("token", ["challenge-1", "abc123", "YWJj_ZGVm-Zw==", "a" * 128, "x.y~z"])
def test_real_looking_crc_tokens_are_answered(token: str) -> None:
    assert crc_token_ok(token)
    assert crc_response(SECRET, token)["response_token"].startswith("sha256=")


def test_polled_pages_come_oldest_first_without_our_own_messages() -> None:
    page = {
        "data": [
            {
                "id": "12",
                "event_type": "MessageCreate",
                "text": "second",
                "sender_id": "200002",
                "created_at": "2026-11-23T10:00:05.000Z",
            },
            {"id": "11", "event_type": "MessageCreate", "text": "our reply", "sender_id": "999"},
            {
                "id": "10",
                "event_type": "MessageCreate",
                "text": "first",
                "sender_id": "200002",
                "created_at": "2026-11-23T10:00:00.000Z",
            },
            {"id": "9", "event_type": "ParticipantsJoin", "sender_id": "200002"},
        ],
        "meta": {"result_count": 4, "next_token": "abc"},
    }
    found = inbound_from_dm_events(page, account_id="999")
    assert [m.text for m in found] == ["first", "second"]
    assert found[0].sent_at.isoformat() == "2026-11-23T10:00:00"


def test_group_conversations_are_set_apart_from_one_to_one_dms() -> None:
    page = {
        "data": [
            {
                "id": "22",
                "event_type": "MessageCreate",
                "text": "brand, are you here?",
                "sender_id": "200002",
                "dm_conversation_id": "1580000000000000001",  # a group: a number of its own
            },
            {
                "id": "21",
                "event_type": "ParticipantsJoin",
                "sender_id": "200001",
                "participant_ids": ["200001", "999"],
                "dm_conversation_id": "1580000000000000001",
            },
            {
                "id": "20",
                "event_type": "MessageCreate",
                "text": "hello",
                "sender_id": "200002",
                "dm_conversation_id": "999-200002",  # one-to-one: the two ids
                "attachments": {"media_keys": ["3_77", "16_78"]},
            },
        ]
    }
    read = read_dm_events(page, account_id="999")
    assert [m.text for m in read.messages] == ["hello"]
    assert read.groups == ["1580000000000000001"]
    assert [a["kind"] for a in read.messages[0].attachments] == ["photo", "animation"]
    assert is_group("1580000000000000001") and not is_group("999-200002") and not is_group(None)
    # A delivered event naming a group conversation is not a customer's DM either.
    event = dm("5", "200002", "in a group")
    event["message_create"]["dm_conversation_id"] = "1580000000000000001"
    found, skipped = inbound_from_webhook(
        {"for_user_id": "999", "direct_message_events": [event]}, "999"
    )
    assert found == [] and skipped == ["a group conversation"]
