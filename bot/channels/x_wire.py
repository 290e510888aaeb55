"""X (Twitter) direct messages on the wire: the Account Activity webhook's CRC answer and
signature, its DM events, and the v2 DM events that polling reads — as plain functions.

Facts of the API (developer.x.com): the CRC answer is
`{"response_token": "sha256=" + base64(HMAC-SHA256(consumer_secret, crc_token))}`; a POST
carries `x-twitter-webhooks-signature: sha256=<base64 HMAC-SHA256(consumer_secret, body)>`;
DM events for the account's own messages arrive too (sender = `for_user_id`) and are dropped.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timezone
from typing import Any

from relais.storage.messages import Inbound

CHANNEL = "x"
SIGNATURE_HEADER = "x-twitter-webhooks-signature"
MAX_TEXT = 10_000


def _digest(secret: str, payload: bytes) -> str:
    mac = hmac.new(secret.encode(), payload, hashlib.sha256).digest()
    return "sha256=" + base64.b64encode(mac).decode()


def crc_response(consumer_secret: str, crc_token: str) -> dict[str, str]:
    """The answer to `GET /x/webhook?crc_token=…`."""
    return {"response_token": _digest(consumer_secret, crc_token.encode())}


def signature(consumer_secret: str, body: bytes) -> str:
    return _digest(consumer_secret, body)


def signature_ok(consumer_secret: str, body: bytes, header: str | None) -> bool:
    """True when `header` is the body's signature (compared in constant time)."""
    if not header:
        return False
    return hmac.compare_digest(signature(consumer_secret, body).encode(), header.strip().encode())


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


def inbound_from_webhook(payload: dict[str, Any]) -> tuple[list[Inbound], list[str]]:
    """Customers' DMs in an Account Activity delivery, and why other events were skipped."""
    if not isinstance(payload, dict):
        raise ValueError("an Account Activity delivery is a JSON object")
    account = str(payload.get("for_user_id") or "")
    found: list[Inbound] = []
    skipped: list[str] = []
    for event in payload.get("direct_message_events") or []:
        if not isinstance(event, dict) or event.get("type") != "message_create":
            skipped.append(f"event type {event.get('type') if isinstance(event, dict) else '?'}")
            continue
        create = event.get("message_create") or {}
        sender = str(create.get("sender_id") or "")
        if not sender or not event.get("id"):
            skipped.append("no sender or id")
            continue
        if sender == account:
            skipped.append("our own message (echo)")
            continue
        data = create.get("message_data") or {}
        text = str(data.get("text") or "")
        quick = (data.get("quick_reply_response") or {}).get("metadata")
        attachments = []
        attachment = data.get("attachment") or {}
        if attachment.get("type") == "media":
            media = attachment.get("media") or {}
            attachments.append(
                {
                    "kind": str(media.get("type") or "media"),
                    "ref": str(media.get("id_str") or media.get("id") or ""),
                    "url": media.get("media_url_https"),
                }
            )
        found.append(
            Inbound(
                channel=CHANNEL,
                sender=sender,
                platform_id=str(event["id"]),
                text=str(quick) if quick else text,
                attachments=attachments,
                sent_at=_from_ms(event.get("created_timestamp")),
            )
        )
    for key in payload:
        if key.endswith("_events") and key != "direct_message_events":
            skipped.append(key)
    return found, skipped


def inbound_from_dm_events(body: dict[str, Any], account_id: str) -> list[Inbound]:
    """Customers' DMs in a v2 `GET /2/dm_events` page (oldest first; our own are dropped)."""
    found = []
    for event in reversed(body.get("data") or []):  # the API lists newest first
        if event.get("event_type") != "MessageCreate":
            continue
        sender = str(event.get("sender_id") or "")
        if not sender or sender == account_id:
            continue
        attachments = [
            {"kind": "media", "ref": str(m)}
            for m in (event.get("attachments") or {}).get("media_keys") or []
        ]
        found.append(
            Inbound(
                channel=CHANNEL,
                sender=sender,
                platform_id=str(event["id"]),
                text=str(event.get("text") or ""),
                attachments=attachments,
                sent_at=_from_iso(event.get("created_at")),
            )
        )
    return found
