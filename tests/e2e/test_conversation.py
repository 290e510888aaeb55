"""Real Rasa server + real action server over the REST channel: multi-turn, both languages.

"web:guest-…" senders are customers the bot cannot identify: a booking reference shows
their trip only with a passenger's surname (actions/lookup.py).
"""

from __future__ import annotations

import re
import uuid

import pytest

from tests.e2e.servers import Servers

pytestmark = pytest.mark.slow


def texts(replies: list[dict]) -> list[str]:
    return [r["text"] for r in replies if "text" in r]


def handoffs(replies: list[dict]) -> list[dict]:
    return [
        r["custom"]["relais_handoff"] for r in replies if "relais_handoff" in r.get("custom", {})
    ]


def test_english_conversation_keeps_the_booking_in_context(servers: Servers) -> None:
    sender = f"web:guest-{uuid.uuid4().hex[:6]}"
    first = texts(servers.say(sender, "is my flight delayed?"))
    assert len(first) == 1 and "reference" in first[0]
    # Nobody the bot can identify: a reference alone shows nothing, the surname is asked for.
    asked = " ".join(texts(servers.say(sender, "XY7T2M")))
    assert "surname" in asked and "XY123" not in asked
    second = " ".join(texts(servers.say(sender, "Miller")))
    assert (
        "XY123 Paris → Montréal" in second and "delayed 45 min" in second and "gate B12" in second
    )
    third = " ".join(texts(servers.say(sender, "and my seat?")))
    assert "27C" in third


def test_french_conversation_and_a_switch_to_english(servers: Servers) -> None:
    sender = "web:demo-camille"
    first = " ".join(texts(servers.say(sender, "bonjour, mon vol est il a l'heure ?")))
    assert first.startswith("Quel voyage — XY4K2P pour Lyon")
    second = " ".join(texts(servers.say(sender, "celui pour Lyon")))
    assert "XY311" in second and "à l'heure" in second
    third = " ".join(texts(servers.say(sender, "how many points do I have on my account?")))
    assert third == "Camille, you're a Gold member with 48,210 points."


def test_french_visitor_proves_the_booking_with_the_surname(servers: Servers) -> None:
    sender = f"web:guest-{uuid.uuid4().hex[:6]}"
    asked = " ".join(texts(servers.say(sender, "mon vol XY4K2P est il à l'heure ?")))
    assert "nom de famille" in asked and "XY311" not in asked
    answer = " ".join(texts(servers.say(sender, "c'est Dubois")))
    assert "XY311" in answer and "à l'heure" in answer


def test_asking_for_a_person_hands_over_once_and_pauses(servers: Servers) -> None:
    sender = f"telegram:{uuid.uuid4().int % 10**9}"
    replies = servers.say(sender, "I want to speak to a real person please")
    payloads = handoffs(replies)
    assert len(payloads) == 1 and "human_request" in payloads[0]["reasons"]
    assert len(texts(replies)) == 1 and "colleague" in texts(replies)[0]
    # Paused: the bot no longer answers; the person does.
    assert servers.say(sender, "hello?") == []


def test_unknown_reference_twice_offers_a_person(servers: Servers) -> None:
    sender = f"web:guest-{uuid.uuid4().hex[:6]}"
    servers.say(sender, "where is my refund")
    # The same question as for a reference that exists: nothing tells them apart.
    assert "surname" in " ".join(texts(servers.say(sender, "XY0QQ1")))
    one = " ".join(texts(servers.say(sender, "Smith")))
    assert "XY0QQ1 and that surname don't match a booking I can show you" in one
    two = " ".join(texts(servers.say(sender, "XY0QQ2 Smith")))
    assert "still don't match" in two and "colleague" in two


def test_bad_inputs_get_specific_replies(servers: Servers) -> None:
    sender = f"web:guest-{uuid.uuid4().hex[:6]}"
    assert "emoji" in " ".join(texts(servers.say(sender, "👍👍")))
    # Angry emoji alone are anger: a person takes over.
    assert handoffs(servers.say(f"{sender}-angry", "😡😡😡🤬"))
    long_reply = texts(servers.say(f"{sender}-2", "where is my refund " + "x" * 20_000))
    assert long_reply and long_reply[0]
    replies = servers.say(f"{sender}-3", "where is my refund XY7T2M'); drop table bookings;--")
    injected = " ".join(texts(replies))
    # Read as a reference (its surname asked for), or handed over if the words read angry:
    # an answer either way, and nothing of the booking for someone unidentified.
    assert ("XY7T2M" in injected and "surname" in injected) or handoffs(replies)
    assert "182.40" not in injected
    servers.say(f"{sender}-5", "where is my refund for XY7T2M")
    after = " ".join(texts(servers.say(f"{sender}-5", "Miller")))
    assert "€182.40" in after  # the bookings table is still there
    ctrl = texts(servers.say(f"{sender}-4", "\x00\x01\x02"))
    assert ctrl and not re.search(r"[\x00-\x08]", ctrl[0])


def test_anger_hands_over_in_each_language(servers: Servers) -> None:
    en = servers.say(
        f"web:guest-{uuid.uuid4().hex[:6]}",
        "WHERE IS MY BAG?? 4 days and NOTHING, you people are useless 😡",
    )
    assert "anger" in handoffs(en)[0]["reasons"] and handoffs(en)[0]["priority"] == 1
    fr = servers.say(
        f"web:guest-{uuid.uuid4().hex[:6]}",
        "4 JOURS sans ma valise, vous vous foutez de moi ??? 😡",
    )
    payload = handoffs(fr)[0]
    assert "anger" in payload["reasons"] and payload["language"] == "fr"
    assert "collègue" in texts(fr)[0]


def test_vip_complaint_is_priority_one(servers: Servers) -> None:
    # Camille (Gold) over Telegram: her web chat identity is used by other tests.
    replies = servers.say(
        "telegram:100001", "je veux déposer une réclamation, le service à Lyon était déplorable"
    )
    payload = handoffs(replies)[0]
    assert payload["priority"] == 1 and {"complaint", "vip"} <= set(payload["reasons"])


def test_annoyed_but_routine_refund_is_answered_with_an_apology(servers: Servers) -> None:
    # James himself (his web identity, as the REST channel's callers name it): his booking.
    replies = servers.say("web:demo-james", "3rd time asking, where is my refund for XY7T2M??")
    assert not handoffs(replies)
    said = texts(replies)
    assert said[0].startswith("Sorry") and "€182.40" in said[1]
