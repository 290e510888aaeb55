"""Web chat identity and "personal data needs more than a reference": each test is an
attacker's request to the real app (production settings: no demo mode, a brand site secret,
one trusted proxy) and the safe answer.

The attacker is a browser of their own: a cookie the app gave them, whatever they send.
Client addresses are set with X-Forwarded-For, as the trusted proxy in front of the app would
(RELAIS_TRUSTED_PROXIES=1), so that each test has addresses of its own.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from bot.web_identity import COOKIE, sign_assertion
from relais.core.config import settings
from tests.e2e.servers import Servers, relais_app
from tests.e2e.webchat import assertion, conversation_id, demo_customer, visitor

pytestmark = pytest.mark.slow

SITE_SECRET = "the-brand-site-secret-" + uuid.uuid4().hex
#: What only James Miller's records say (his booking XY7T2M: flight XY123 to Montréal, seat
#: 27C; a refund of €182.40; Silver, points).
JAMES_DATA = ("XY123", "Montréal", "27C", "182.40", "Silver", "James")
#: The bot's answers, in English or French (a reference and a name say little of which).
NO_MATCH = ("don't match", "ne correspondent")
LIMITED = ("can't check any more", "ne peux plus vérifier")


def says(said: str, markers: tuple[str, ...]) -> bool:
    return any(marker in said for marker in markers)


@pytest.fixture(scope="module")
def production_url(
    tmp_path_factory: pytest.TempPathFactory, seeded_sqlite_url: str, servers: Servers
) -> Iterator[str]:
    """The app as production runs it, on the tier's database and Rasa."""
    with relais_app(
        tmp_path_factory.mktemp("production-app"),
        seeded_sqlite_url,
        servers.rasa_url,
        extra_env={
            "RELAIS_DEMO": "0",
            "RELAIS_SITE_SECRET": SITE_SECRET,
            "RELAIS_TRUSTED_PROXIES": "1",
        },
    ) as url:
        yield url


def address() -> str:
    """A client address of this test's own (TEST-NET-3)."""
    return f"203.0.113.{uuid.uuid4().int % 250 + 1}"


def ask(http: requests.Session, app: str, text: str, **extra: str) -> list[str]:
    """Sends `text` (and `extra` body fields) as this visitor; the bot's answer to it."""
    posted = http.post(f"{app}/api/chat/messages", json={"text": text, **extra}, timeout=30)
    assert posted.status_code == 201, posted.text
    after = posted.json()["message_id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        got = http.get(
            f"{app}/api/chat/messages", params={"after": after, "wait": 20}, timeout=40
        ).json()
        said = [m["text"] for m in got["messages"] if m["author"] == "bot"]
        if said:
            return said
    raise AssertionError(f"no answer to {text!r}")


def everything(http: requests.Session, app: str, **params: Any) -> str:
    """All the visitor can read, as one text."""
    got = http.get(f"{app}/api/chat/messages", params={"after": 0, **params}, timeout=30)
    assert got.status_code == 200, got.text
    return "\n".join(m["text"] for m in got.json()["messages"])


def test_reading_another_visitors_transcript_by_their_sender_gives_nothing_of_theirs(
    production_url: str,
) -> None:
    victim = visitor(production_url, address())
    secret = f"my phone is 06 {uuid.uuid4().int % 10**8:08d}"
    ask(victim, production_url, secret)
    victim_id = conversation_id(victim).removeprefix("web:")

    attacker = visitor(production_url, address())
    for sender in (victim_id, f"web:{victim_id}", "demo-james", "web:demo-james"):
        seen = everything(attacker, production_url, sender=sender)
        assert secret not in seen and seen == "", sender
    # The victim's id in a cookie of the attacker's making: not signed by the app, so the
    # attacker is a new visitor, with nothing to read, and a cookie of their own.
    for value in (f"{victim_id}.{'0' * 64}", victim_id, f"{victim_id}."):
        got = requests.get(
            f"{production_url}/api/chat/messages",
            params={"after": 0},
            cookies={COOKIE: value},
            timeout=30,
        )
        assert got.status_code == 200 and got.json()["messages"] == [], value
        assert not got.cookies[COOKIE].startswith(victim_id)
    # The victim still reads their own conversation.
    assert secret in everything(victim, production_url)


def test_writing_into_another_conversation_lands_in_the_attackers_own(
    production_url: str,
) -> None:
    victim = visitor(production_url, address())
    ask(victim, production_url, "hello")
    victim_id = conversation_id(victim).removeprefix("web:")

    attacker = visitor(production_url, address())
    planted = f"call me at 555-{uuid.uuid4().int % 10**4:04d}"
    for sender in (victim_id, f"web:{victim_id}"):
        posted = attacker.post(
            f"{production_url}/api/chat/messages",
            json={"sender": sender, "text": planted},
            timeout=30,
        )
        assert posted.status_code in (200, 201), posted.text
    assert planted not in everything(victim, production_url)
    assert planted in everything(attacker, production_url)


def test_demo_customers_outside_demo_mode_are_404(production_url: str) -> None:
    http = visitor(production_url, address())
    assert http.get(f"{production_url}/api/chat/customers", timeout=30).status_code == 404
    picked = http.post(
        f"{production_url}/api/chat/customers", json={"customer": "demo-james"}, timeout=30
    )
    assert picked.status_code == 404
    me = http.get(f"{production_url}/api/chat/identity", timeout=30).json()
    assert me["demo"] is False and me["customer"] is None
    said = " ".join(ask(http, production_url, "how many loyalty points do I have?"))
    assert "reference" in said and not any(data in said for data in JAMES_DATA)


def test_a_forged_or_expired_assertion_is_refused(production_url: str) -> None:
    http = visitor(production_url, address())
    now = int(time.time())
    forged = [
        # Signed with a secret that is not the brand's.
        {**assertion("a-guessed-secret", "demo-james")},
        # James's id with the signature of another customer's assertion.
        {**assertion(SITE_SECRET, "demo-camille"), "customer_id": "demo-james"},
        # Expired an hour ago, though rightly signed.
        {
            "customer_id": "demo-james",
            "expires": now - 3600,
            "signature": sign_assertion(SITE_SECRET, "demo-james", now - 3600),
        },
        # Good for a year: too long to be believed.
        assertion(SITE_SECRET, "demo-james", valid_s=365 * 24 * 3600),
        # The expiry moved on after signing.
        {**assertion(SITE_SECRET, "demo-james"), "expires": now + 600},
        {"customer_id": "demo-james"},
    ]
    for body in forged:
        refused = http.post(f"{production_url}/api/chat/identity", json=body, timeout=30)
        assert refused.status_code == 403, (body, refused.text)
        assert not any(data in refused.text for data in JAMES_DATA)
    me = http.get(f"{production_url}/api/chat/identity", timeout=30).json()
    assert me["customer"] is None
    said = " ".join(ask(http, production_url, "how many loyalty points do I have?"))
    assert "reference" in said and not any(data in said for data in JAMES_DATA)


def test_a_valid_assertion_gives_the_customer_their_own_data(production_url: str) -> None:
    http = visitor(production_url, address())
    before = conversation_id(http)
    bound = http.post(
        f"{production_url}/api/chat/identity",
        json=assertion(SITE_SECRET, "demo-james"),
        timeout=30,
    )
    assert bound.status_code == 200, bound.text
    assert bound.json()["customer"] == {"id": "demo-james", "name": "James Miller"}
    # A new conversation of the customer's own, in a cookie the page's scripts cannot read.
    cookie = bound.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert conversation_id(http) != before
    said = " ".join(ask(http, production_url, "how many loyalty points do I have?"))
    assert said.startswith("James, you're a Silver member with")
    # His own booking needs no surname: his identity is verified.
    said = " ".join(ask(http, production_url, "is my flight XY7T2M on time?"))
    assert "XY123" in said and "surname" not in said


def test_an_unknown_visitor_needs_the_surname_and_is_limited_after_failures(
    production_url: str,
) -> None:
    limit = settings().reference_check_limit
    http = visitor(production_url, address())
    said = " ".join(ask(http, production_url, "is my flight XY7T2M on time?"))
    assert "surname" in said and not any(data in said for data in JAMES_DATA)
    for n in range(limit):
        said = " ".join(ask(http, production_url, f"Smith{'e' * n}"))
        assert says(said, NO_MATCH) and not any(data in said for data in JAMES_DATA), said
    # Now even the right surname is not checked: nothing to guess with.
    said = " ".join(ask(http, production_url, "Miller"))
    assert says(said, LIMITED) and not any(data in said for data in JAMES_DATA), said
    said = " ".join(ask(http, production_url, "and my seat?"))
    assert not any(data in said for data in JAMES_DATA), said


def test_a_new_cookie_does_not_reset_the_per_address_limit(production_url: str) -> None:
    limit, shared = settings().reference_check_limit, address()
    first = visitor(production_url, shared)
    for n in range(limit):
        said = " ".join(ask(first, production_url, f"XY7T2M Jones{'y' * n}"))
        assert says(said, NO_MATCH), said
    # A new visitor (a new cookie) from the same address: still limited.
    second = visitor(production_url, shared)
    assert conversation_id(second) != conversation_id(first)
    said = " ".join(ask(second, production_url, "XY7T2M Miller"))
    assert says(said, LIMITED) and not any(data in said for data in JAMES_DATA), said
    # The same from another address is checked, and right.
    elsewhere = visitor(production_url, address())
    said = " ".join(ask(elsewhere, production_url, "XY7T2M Miller"))
    assert "XY123" in said and "Montréal" in said


def test_demo_mode_picks_the_customer_on_the_server_not_from_a_sent_sender(
    app_url: str,
) -> None:
    # The demo app (RELAIS_DEMO=1, as `make run`): it says so, and lists demo customers.
    http = visitor(app_url)
    assert http.get(f"{app_url}/api/chat/identity", timeout=30).json()["demo"] is True
    listed = http.get(f"{app_url}/api/chat/customers", timeout=30).json()["customers"]
    assert any(c["id"] == "demo-james" and c["name"] == "James Miller" for c in listed)
    # A sender naming James is ignored: the visitor is no one the bot knows.
    said = " ".join(
        ask(http, app_url, "how many loyalty points do I have?", sender="web:demo-james")
    )
    assert "reference" in said and not any(data in said for data in JAMES_DATA)
    # Picked on the server, James is James (the cookie it sets says so, signed).
    james = demo_customer(app_url, "demo-james")
    said = " ".join(ask(james, app_url, "how many loyalty points do I have?"))
    assert said.startswith("James, you're a Silver member with")
