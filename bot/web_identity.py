"""Who is writing in the web chat: a signed visitor cookie, and the brand's signed assertions.

- The app gives each visitor a random id ("v-" and 32 hex digits) in an HttpOnly cookie,
  signed with HMAC-SHA256 under the server's key (RELAIS_WEB_SECRET, generated into the
  secrets file if unset). The visitor's conversation is "web:<visitor id>": it comes from
  the cookie only, so a page cannot write in, or read, anyone else's conversation.
- A brand's website, where the customer is logged in, vouches for them with an assertion:
  `customer_id`, `expires` (Unix time) and `signature`, the hex HMAC-SHA256 of
  "<customer_id>:<expires>" under the secret the brand shares with Relais
  (RELAIS_SITE_SECRET). The chat sends it once; once verified, the visitor's conversation is
  that customer's (README, "Web chat identity").

Routes (`add_identity_routes`): GET /api/chat/identity says who the visitor is (and gives a
new visitor their cookie); POST /api/chat/identity takes an assertion; DELETE
/api/chat/identity makes the browser a new, anonymous visitor (for the brand's log-out). In
demo mode only (RELAIS_DEMO=1, as `make run` sets), GET /api/chat/customers lists the demo
customers and POST /api/chat/customers picks one; without demo mode both are 404.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from relais.core.http import json_error, json_object
from relais.storage.db import run_atomic
from relais.storage.identity import VISITOR_PREFIX, bind_web_visitor, bound_customer
from relais.storage.records import Customer

COOKIE = "relais_visitor"
#: A returning visitor finds their conversation for this long (then they are a new visitor).
COOKIE_MAX_AGE_S = 30 * 24 * 3600
_VISITOR = re.compile(re.escape(VISITOR_PREFIX) + r"[0-9a-f]{32}")
#: The signed strings of the two kinds differ from the start, so that a visitor cookie's
#: signature can never be replayed as anything else.
_COOKIE_CONTEXT = b"relais web visitor\x00"
#: The longest an assertion may be valid for, from now: a leaked one must not be good for long.
MAX_ASSERTION_LIFETIME_S = 24 * 3600
#: The longest customer id an assertion may name (the column of customers' web identities).
MAX_CUSTOMER_ID = 64


class AssertionRefused(ValueError):
    """A customer assertion that is not to be believed; the message says why (no secret)."""


def new_visitor_id() -> str:
    return VISITOR_PREFIX + secrets.token_hex(16)


def _mac(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def cookie_value(visitor_id: str, key: bytes) -> str:
    """The cookie's value for `visitor_id`: the id and its signature."""
    return f"{visitor_id}.{_mac(key, _COOKIE_CONTEXT + visitor_id.encode())}"


def visitor_from_cookie(value: str | None, key: bytes) -> str | None:
    """The visitor id in a cookie the app signed; None for a missing, altered or forged one."""
    if not value:
        return None
    visitor_id, _, signature = value.partition(".")
    if not _VISITOR.fullmatch(visitor_id) or len(signature) != 64:
        return None
    expected = _mac(key, _COOKIE_CONTEXT + visitor_id.encode())
    # Bytes: compare_digest refuses non-ASCII str, and the client wrote this one.
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        return None
    return visitor_id


def assertion_message(customer_id: str, expires: int) -> str:
    """What the brand's server signs: "<customer_id>:<expires>"."""
    return f"{customer_id}:{expires}"


def sign_assertion(site_secret: str, customer_id: str, expires: int) -> str:
    """The signature a brand's server computes (also what tests and tools use)."""
    return _mac(site_secret.encode(), assertion_message(customer_id, expires).encode())


def verified_customer(
    site_secret: str | None, customer_id: object, expires: object, signature: object, now: float
) -> str:
    """The customer id of a valid assertion; AssertionRefused otherwise."""
    if not site_secret:
        raise AssertionRefused("this web chat takes no customer assertions")
    if (
        not isinstance(customer_id, str)
        or not 1 <= len(customer_id) <= MAX_CUSTOMER_ID
        # No controls or lone surrogates: nothing a brand's id holds, and unencodable.
        or not customer_id.isprintable()
    ):
        raise AssertionRefused(f"customer_id must be 1-{MAX_CUSTOMER_ID} printable characters")
    # A number or its digits; not a bool, which JSON would let through as 0 or 1.
    if isinstance(expires, str) and expires.isascii() and expires.isdigit():
        expires = int(expires)
    if not isinstance(expires, int) or isinstance(expires, bool):
        raise AssertionRefused("expires must be a Unix time in whole seconds")
    if not isinstance(signature, str) or not signature:
        raise AssertionRefused("signature must be the hex HMAC-SHA256 of customer_id:expires")
    expected = sign_assertion(site_secret, customer_id, expires)
    if not hmac.compare_digest(
        expected.encode(), signature.strip().lower().encode("utf-8", "replace")
    ):
        raise AssertionRefused("the signature does not match")
    # Checked after the signature: the times of a forged assertion are nobody's business.
    if expires <= now:
        raise AssertionRefused("the assertion has expired")
    if expires > now + MAX_ASSERTION_LIFETIME_S:
        raise AssertionRefused("the assertion is valid for too long (at most a day)")
    return customer_id


@dataclass(frozen=True)
class WebIdentity:
    """What the web chat's identity needs: its keys, and whether this is the demo."""

    engine: Engine
    #: Signs the visitor cookies (RELAIS_WEB_SECRET).
    key: bytes
    #: Verifies the brand's assertions (RELAIS_SITE_SECRET); None: none are accepted.
    site_secret: str | None
    #: Demo mode: visitors may pick a demo customer.
    demo: bool
    #: Browsers reach the app over HTTPS (RELAIS_PUBLIC_URL): the cookie is Secure.
    secure: bool


IDENTITY = web.AppKey("web_identity", WebIdentity)
#: The visitor id this request's answer gives the browser (a new visitor, or a switch).
_NEW_VISITOR = "relais_new_visitor"


def add_identity_routes(app: web.Application, identity: WebIdentity) -> None:
    app[IDENTITY] = identity
    app.router.add_get("/api/chat/identity", get_identity)
    app.router.add_post("/api/chat/identity", post_identity)
    app.router.add_delete("/api/chat/identity", delete_identity)
    if identity.demo:
        # Not registered at all otherwise: no customer can be picked, none is listed (404).
        app.router.add_get("/api/chat/customers", demo_customers)
        app.router.add_post("/api/chat/customers", pick_demo_customer)


def current_visitor(request: web.Request) -> str:
    """This request's visitor: from the signed cookie, or a new one (given by `answer`)."""
    switched = request.get(_NEW_VISITOR)
    if switched:
        return str(switched)
    found = visitor_from_cookie(request.cookies.get(COOKIE), request.app[IDENTITY].key)
    if found is None:
        found = request[_NEW_VISITOR] = new_visitor_id()
    return found


def answer(request: web.Request, data: dict[str, Any], status: int = 200) -> web.Response:
    """A JSON answer that also sets the visitor cookie when this request made a new visitor."""
    response = web.json_response(data, status=status)
    visitor = request.get(_NEW_VISITOR)
    if visitor:
        identity = request.app[IDENTITY]
        response.set_cookie(
            COOKIE,
            cookie_value(str(visitor), identity.key),
            max_age=COOKIE_MAX_AGE_S,
            path="/",
            httponly=True,  # page scripts never see it: an injected script cannot take it away
            samesite="Lax",  # not sent with another site's POSTs
            secure=identity.secure or None,
        )
    return response


def _described(customer: Customer | None) -> dict[str, str] | None:
    if customer is None:
        return None
    return {"id": str(customer.web_chat_id or ""), "name": customer.full_name}


async def get_identity(request: web.Request) -> web.Response:
    identity = request.app[IDENTITY]
    visitor = current_visitor(request)
    customer = await asyncio.to_thread(
        run_atomic, identity.engine, lambda s: _described(bound_customer(s, f"web:{visitor}"))
    )
    return answer(
        request,
        {"demo": identity.demo, "assertions": bool(identity.site_secret), "customer": customer},
    )


async def _json_body(request: web.Request) -> dict[str, Any]:
    # JSON only: another site's HTML form cannot send it (and fetch() not without a CORS
    # preflight, never granted), so no other site can switch a browser's identity (to the
    # attacker's own account, say, to read what the victim then writes).
    if request.content_type != "application/json":
        raise json_error(415, "send JSON (Content-Type: application/json)")
    return await json_object(request)


async def post_identity(request: web.Request) -> web.Response:
    """A brand's assertion that this visitor is one of its customers; 403 unless verified."""
    identity = request.app[IDENTITY]
    body = await _json_body(request)
    try:
        customer_id = verified_customer(
            identity.site_secret,
            body.get("customer_id"),
            body.get("expires"),
            body.get("signature"),
            time.time(),
        )
    except AssertionRefused as refused:
        raise json_error(403, f"customer assertion refused: {refused}") from None
    return await _become(request, customer_id, unknown_status=403)


async def delete_identity(request: web.Request) -> web.Response:
    """A new anonymous visitor from now on (the old conversation stays the old visitor's)."""
    request[_NEW_VISITOR] = new_visitor_id()
    return answer(request, {"customer": None})


async def _become(request: web.Request, web_id: str, unknown_status: int) -> web.Response:
    """The visitor's conversation becomes customer `web_id`'s (proven by the caller).

    A visitor already bound to them keeps their conversation; anyone else gets a new visitor
    id, bound from the start: a conversation never changes customer, and nothing written
    before (perhaps by someone else on this browser) joins the customer's conversation.
    """
    identity = request.app[IDENTITY]
    visitor = current_visitor(request)

    def bind(session: Session) -> tuple[str, dict[str, str] | None]:
        customer = (
            session.execute(select(Customer).where(Customer.web_chat_id == web_id))
            .scalars()
            .first()
        )
        if customer is None:
            return visitor, None
        current = bound_customer(session, f"web:{visitor}")
        if current is not None and current.id == customer.id:
            return visitor, _described(customer)
        fresh = new_visitor_id()
        bind_web_visitor(session, fresh, customer)
        return fresh, _described(customer)

    bound, customer = await asyncio.to_thread(run_atomic, identity.engine, bind)
    if customer is None:
        raise json_error(unknown_status, "no customer with this id")
    if bound != visitor:
        request[_NEW_VISITOR] = bound
    return answer(request, {"customer": customer})


async def demo_customers(request: web.Request) -> web.Response:
    """Demo mode: the customers a visitor may pick (those with a web identity)."""

    def read(session: Session) -> list[dict[str, Any]]:
        rows = session.execute(
            select(Customer).where(Customer.web_chat_id.is_not(None)).order_by(Customer.id)
        ).scalars()
        return [
            {
                "id": c.web_chat_id,
                "name": c.full_name,
                "tier": str(c.loyalty_tier),
                "language": str(c.preferred_language),
            }
            for c in rows
        ]

    customers = await asyncio.to_thread(run_atomic, request.app[IDENTITY].engine, read)
    return answer(request, {"customers": customers})


async def pick_demo_customer(request: web.Request) -> web.Response:
    """Demo mode: {"customer": "<id>"} writes as that demo customer from now on (set here, in
    the signed cookie); {"customer": null} as a new anonymous visitor."""
    body = await _json_body(request)
    wanted = body.get("customer")
    if wanted is None or wanted == "":
        return await delete_identity(request)
    if not isinstance(wanted, str) or len(wanted) > MAX_CUSTOMER_ID:
        raise json_error(400, "customer must be a demo customer's id, or null")
    return await _become(request, wanted, unknown_status=404)
