"""A web chat visitor over HTTP, as the chat page is one: who it is lives in the signed
cookie the app gives it (bot/web_identity.py), never in what it sends."""

from __future__ import annotations

import time

import requests

from bot.web_identity import COOKIE, sign_assertion


def visitor(app: str, forwarded_for: str | None = None) -> requests.Session:
    """A new, anonymous visitor with its cookie (`forwarded_for`: the client address a
    trusted proxy in front of the app would name)."""
    session = requests.Session()
    if forwarded_for:
        session.headers["X-Forwarded-For"] = forwarded_for
    response = session.get(f"{app}/api/chat/identity", timeout=30)
    response.raise_for_status()
    assert session.cookies.get(COOKIE), "the app gave no visitor cookie"
    return session


def demo_customer(app: str, customer: str) -> requests.Session:
    """A visitor writing as demo customer `customer` ("demo-james"), picked as the chat page
    picks one (demo mode only)."""
    session = visitor(app)
    response = session.post(f"{app}/api/chat/customers", json={"customer": customer}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["customer"]["id"] == customer
    return session


def assertion(site_secret: str, customer_id: str, valid_s: float = 300) -> dict[str, object]:
    """What a brand's server gives its page for a logged-in customer (README)."""
    expires = int(time.time() + valid_s)
    return {
        "customer_id": customer_id,
        "expires": expires,
        "signature": sign_assertion(site_secret, customer_id, expires),
    }


def conversation_id(session: requests.Session) -> str:
    """The visitor's conversation: "web:" and the visitor id of its cookie."""
    value = session.cookies.get(COOKIE)
    assert value, "no visitor cookie"
    return "web:" + value.split(".", 1)[0]
