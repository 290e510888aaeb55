"""The web chat's visitor cookie and the brand's customer assertions (bot/web_identity.py)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from bot.web_identity import (
    AssertionRefused,
    cookie_value,
    new_visitor_id,
    sign_assertion,
    verified_customer,
    visitor_from_cookie,
)
from relais.storage.identity import client_network, is_visitor_id

KEY = b"k" * 32
SITE = "site-secret"
NOW = 1_800_000_000


def test_a_visitor_cookie_is_read_back_only_as_the_app_signed_it() -> None:
    visitor = new_visitor_id()
    assert is_visitor_id(visitor) and visitor != new_visitor_id()
    value = cookie_value(visitor, KEY)
    assert visitor_from_cookie(value, KEY) == visitor
    other = new_visitor_id()
    signature = value.partition(".")[2]
    for forged in (
        None,
        "",
        visitor,
        f"{visitor}.",
        f"{other}.{signature}",  # another visitor's id with this one's signature
        cookie_value(visitor, b"another key"),
        value[:-1] + ("0" if value[-1] != "0" else "1"),
        f"demo-james.{signature}",
        f"{visitor}.{'é' * 64}",
    ):
        assert visitor_from_cookie(forged, KEY) is None, forged


def test_an_assertion_is_the_hmac_of_customer_id_and_expiry() -> None:
    expected = hmac.new(SITE.encode(), b"demo-james:1800000300", hashlib.sha256).hexdigest()
    assert sign_assertion(SITE, "demo-james", NOW + 300) == expected
    assert verified_customer(SITE, "demo-james", NOW + 300, expected, NOW) == "demo-james"
    # Expiry as digits (a query string's) and the signature in capitals are the same.
    assert verified_customer(SITE, "demo-james", "1800000300", expected.upper(), NOW)


@pytest.mark.parametrize(
    ("secret", "customer", "expires", "signature", "why"),
    [
        (None, "demo-james", NOW + 300, "x", "takes no customer assertions"),
        (SITE, "demo-james", NOW + 300, sign_assertion("guess", "demo-james", NOW + 300), "match"),
        (SITE, "demo-james", NOW + 301, sign_assertion(SITE, "demo-james", NOW + 300), "match"),
        (SITE, "demo-camille", NOW + 300, sign_assertion(SITE, "demo-james", NOW + 300), "match"),
        (SITE, "demo-james", NOW - 1, sign_assertion(SITE, "demo-james", NOW - 1), "expired"),
        (
            SITE,
            "demo-james",
            NOW + 2 * 86400,
            sign_assertion(SITE, "demo-james", NOW + 2 * 86400),
            "too long",
        ),
        (SITE, "", NOW + 300, "x", "customer_id"),
        (SITE, "a\x00b", NOW + 300, "x", "customer_id"),
        (SITE, "\ud800", NOW + 300, "x", "customer_id"),
        (SITE, 42, NOW + 300, "x", "customer_id"),
        (SITE, "demo-james", True, "x", "expires"),
        (SITE, "demo-james", "soon", "x", "expires"),
        (SITE, "demo-james", NOW + 300, None, "signature"),
        (SITE, "demo-james", NOW + 300, "\ud800", "match"),
    ],
)
def test_a_bad_assertion_is_refused_and_says_why(
    secret: str | None, customer: object, expires: object, signature: object, why: str
) -> None:
    with pytest.raises(AssertionRefused, match=why):
        verified_customer(secret, customer, expires, signature, NOW)


def test_the_per_address_limit_counts_an_ipv6_subscriber_by_its_64() -> None:
    assert client_network("192.0.2.7") == "192.0.2.7"
    assert client_network("::ffff:192.0.2.7") == "192.0.2.7"
    assert client_network("2001:db8:1:2::1") == client_network("2001:db8:1:2:ffff::9")
    assert client_network("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert client_network("2001:db8:1:3::1") != client_network("2001:db8:1:2::1")
    assert client_network(None) is None and client_network("") is None
