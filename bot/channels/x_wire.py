"""X (Twitter) direct messages on the wire: the Account Activity webhook's CRC answer and
signature, its DM events, and the v2 DM events that polling reads — as plain functions.

Facts of the API (developer.x.com): the CRC answer is
`{"response_token": "sha256=" + base64(HMAC-SHA256(consumer_secret, crc_token))}`; a POST
carries `x-twitter-webhooks-signature: sha256=<base64 HMAC-SHA256(consumer_secret, body)>`;
DM events for the account's own messages arrive too (sender = our account) and are dropped.

The CRC answer is the very HMAC a POST's signature is, with the same key, and anyone may ask
for it: answering any token would sign any body an attacker chose ("a DM from anyone").
So only a plausible token is answered (`crc_token_ok`): short, URL-safe characters, never
something a webhook POST could be (a JSON object needs braces and quotes). A delivery is
for one account (`for_user_id`): one for another account sharing the app is dropped.

Group conversations: the v2 events polling reads carry `dm_conversation_id`, which for a
one-to-one conversation is the two users' ids joined by "-", and for a group a number of its
own; a group is never answered as if it were one customer (bot/channels/x.py tells it once to
write privately). The Account Activity API delivers one-to-one conversations only (X's
documentation), but a delivered event naming a group conversation is treated the same way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from relais.storage.messages import Inbound

CHANNEL = "x"
SIGNATURE_HEADER = "x-twitter-webhooks-signature"
MAX_TEXT = 10_000
#: X's CRC tokens are a few dozen URL-safe characters (base64url, maybe padded); this allows
#: RFC 3986's unreserved characters and "=", up to 128 of them.
MAX_CRC_TOKEN = 128
_CRC_TOKEN = re.compile(rf"[A-Za-z0-9_\-.~=]{{1,{MAX_CRC_TOKEN}}}")


def _digest(secret: str, payload: bytes) -> str:
    mac = hmac.new(secret.encode(), payload, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(mac).decode()


def crc_token_ok(crc_token: str) -> bool:
    """True for a token worth answering: 1-128 URL-safe characters (no braces, quotes or
    whitespace), and not JSON of any kind ("123", "true"), so that its signature is never
    one a webhook POST could carry."""
    if not _CRC_TOKEN.fullmatch(crc_token):
        return False
    try:
        json.loads(crc_token)
    except ValueError:
        return True
    return False


def crc_response(consumer_secret: str, crc_token: str) -> dict[str, str]:
    """The answer to `GET /x/webhook?crc_token=…`; raises ValueError for a token
    `crc_token_ok` refuses (whoever calls this must not sign it)."""
    if not crc_token_ok(crc_token):
        raise ValueError("not a CRC token: 1-128 URL-safe characters, not JSON")
    return {"response_token": _digest(consumer_secret, crc_token.encode())}


def signature(consumer_secret: str, body: bytes) -> str:
    return _digest(consumer_secret, body)


def signature_ok(consumer_secret: str, body: bytes, header: str | None) -> bool:
    """True when `header` is the body's signature (compared in constant time)."""
    if not header:
        return False
    return hmac.compare_digest(signature(consumer_secret, body).encode(), header.strip().encode())


#: What a v2 media key's prefix says the media is; the webhook's media types, as Relais names
#: them (the same names as Telegram's where they mean the same).
_MEDIA_KEY_KINDS = {"3": "photo", "7": "video", "16": "animation"}
_MEDIA_TYPES = {"photo": "photo", "video": "video", "animated_gif": "animation"}


def is_group(dm_conversation_id: object) -> bool:
    """True for a group conversation's id (a one-to-one one is "<user id>-<user id>")."""
    return (
        isinstance(dm_conversation_id, str)
        and bool(dm_conversation_id)
        and ("-" not in dm_conversation_id)
    )


@dataclass
class DmEvents:
    """What a page of events (or a delivery) holds for Relais: customers' one-to-one
    messages, and the group conversations someone wrote in (by id)."""

    messages: list[Inbound] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def _from_ms(value: object) -> datetime | None:
    if not isinstance(value, (str, int, float)):
        return None
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=timezone.utc).replace(tzinfo=None)
    except (TypeError, ValueError):
        return None


def _from_iso(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def inbound_from_webhook(
    payload: dict[str, Any], account_id: str
) -> tuple[list[Inbound], list[str]]:
    """Customers' DMs to our account `account_id` in an Account Activity delivery, and why
    other events were skipped (all of them when the delivery is for another account)."""
    read = read_webhook(payload, account_id)
    return read.messages, read.skipped


def read_webhook(payload: dict[str, Any], account_id: str) -> DmEvents:
    """An Account Activity delivery for our account `account_id` (see `inbound_from_webhook`),
    with the group conversations it names apart."""
    if not isinstance(payload, dict):
        raise ValueError("an Account Activity delivery is a JSON object")
    account = str(account_id)
    if str(payload.get("for_user_id") or "") != account:
        # Another account subscribed through the same app: not ours to answer, or to store.
        return DmEvents(skipped=["a delivery for another account (for_user_id)"])
    found: list[Inbound] = []
    groups: list[str] = []
    skipped: list[str] = []
    events = payload.get("direct_message_events") or []
    if not isinstance(events, list):
        raise ValueError("direct_message_events must be a list")
    for event in events:
        if not isinstance(event, dict) or event.get("type") != "message_create":
            skipped.append(f"event type {event.get('type') if isinstance(event, dict) else '?'}")
            continue
        try:
            inbound = _inbound_from_event(event, account)
        except (TypeError, ValueError, AttributeError) as error:
            # One event of a strange shape (or with an unusable sender) is skipped alone.
            skipped.append(f"unusable event ({type(error).__name__})")
            continue
        if isinstance(inbound, str):
            skipped.append(inbound)
            conversation = (event.get("message_create") or {}).get("dm_conversation_id")
            if inbound == "a group conversation" and conversation not in groups:
                groups.append(str(conversation))
        else:
            found.append(inbound)
    for key in payload:
        if key.endswith("_events") and key != "direct_message_events":
            skipped.append(key)
    return DmEvents(found, groups, skipped)


def _inbound_from_event(event: dict[str, Any], account: str) -> Inbound | str:
    """One `message_create` event as a customer's message, or why it is skipped."""
    create = event.get("message_create") or {}
    sender = str(create.get("sender_id") or "")
    if not sender or not event.get("id"):
        return "no sender or id"
    if sender == account:  # the configured account, not whatever the payload claims
        return "our own message (echo)"
    if is_group(create.get("dm_conversation_id")):
        return "a group conversation"
    data = create.get("message_data") or {}
    text = str(data.get("text") or "")
    quick = (data.get("quick_reply_response") or {}).get("metadata")
    attachments = []
    attachment = data.get("attachment") or {}
    if attachment.get("type") == "media":
        media = attachment.get("media") or {}
        kind = str(media.get("type") or "media")
        attachments.append(
            {
                "kind": _MEDIA_TYPES.get(kind, kind),
                "ref": str(media.get("id_str") or media.get("id") or ""),
                "url": media.get("media_url_https"),
            }
        )
    return Inbound(
        channel=CHANNEL,
        sender=sender,
        platform_id=str(event["id"]),
        text=str(quick) if quick else text,
        attachments=attachments,
        sent_at=_from_ms(event.get("created_timestamp")),
    )


def inbound_from_dm_events(body: dict[str, Any], account_id: str) -> list[Inbound]:
    """Customers' DMs in a v2 `GET /2/dm_events` page (oldest first; our own are dropped)."""
    return read_dm_events(body, account_id).messages


def read_dm_events(body: dict[str, Any], account_id: str) -> DmEvents:
    """A v2 `GET /2/dm_events` page: customers' one-to-one DMs oldest first (our own
    dropped), and the group conversations others wrote in or joined."""
    found = []
    groups: list[str] = []
    for event in reversed(body.get("data") or []):  # the API lists newest first
        sender = str(event.get("sender_id") or "")
        conversation = event.get("dm_conversation_id")
        if is_group(conversation):
            if sender != account_id and conversation not in groups:
                groups.append(str(conversation))
            continue
        if event.get("event_type") != "MessageCreate":
            continue
        if not sender or sender == account_id:
            continue
        attachments = [
            {"kind": _MEDIA_KEY_KINDS.get(str(m).split("_")[0], "media"), "ref": str(m)}
            for m in (event.get("attachments") or {}).get("media_keys") or []
        ]
        try:
            inbound = Inbound(
                channel=CHANNEL,
                sender=sender,
                platform_id=str(event["id"]),
                text=str(event.get("text") or ""),
                attachments=attachments,
                sent_at=_from_iso(event.get("created_at")),
            )
        except ValueError:  # an unusable sender or id: that event alone is left out
            continue
        found.append(inbound)
    return DmEvents(found, groups)
