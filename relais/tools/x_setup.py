"""`relais x setup`: registers the app's X webhook and subscribes the brand's account to it,
through X's API, so that X delivers the account's direct messages to Relais.

X's V2 Webhooks and Account Activity APIs (docs.x.com): `POST /2/webhooks {"url"}` registers
a webhook (X checks it at once with a CRC request, which the running app answers), `GET
/2/webhooks` lists the app's, `PUT /2/webhooks/:id` checks an invalid one again; all with
the app-only bearer token (`POST /oauth2/token` with the consumer key and secret).
`POST /2/account_activity/webhooks/:id/subscriptions/all` subscribes the account whose
access token signs it (OAuth 1.0a), `GET` on it says whether it is.

Run it with the app running and reachable at the URL. Again, it changes nothing that is
already right. `--dry-run` makes only the reading requests (and asks for the bearer token)
and prints what it would do.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import urlsplit

import requests
import tweepy

from bot.channels.config import XSettings
from bot.channels.x import XChannel

TOKEN_URL = "https://api.x.com/oauth2/token"


class SetupError(Exception):
    """X's webhook could not be set up (the message says why and what to do)."""


@dataclass
class XSetup:
    """The setup's requests, through the channel's own tweepy client (and its stand-in
    redirection, when X_API_URL is set)."""

    settings: XSettings
    url: str
    dry_run: bool = False
    replace: bool = False
    out: TextIO = sys.stdout

    def __post_init__(self) -> None:
        s = self.settings
        channel = XChannel(
            None,
            s.account_id,
            s.consumer_key,
            s.consumer_secret,
            s.access_token,
            s.access_token_secret,
            s.api_url,
        )
        self.client = channel.client

    def say(self, line: str) -> None:
        print(line, file=self.out)

    def run(self) -> None:
        self.check_url()
        mode = "dry run: nothing is changed" if self.dry_run else "changes are made"
        self.say(f"X webhook for account {self.settings.account_id} ({mode})")
        self.client.bearer_token = self.bearer_token()
        webhook_id = self.webhook()
        self.subscription(webhook_id)
        verb = "would deliver" if self.dry_run else "delivers"
        self.say(f"done: X {verb} the account's direct messages to {self.url}")

    def check_url(self) -> None:
        parts = urlsplit(self.url)
        if self.settings.api_url:  # a local stand-in: any address of it
            return
        if parts.scheme != "https" or parts.port is not None or not parts.hostname:
            raise SetupError(
                f"X wants an https address without a port, like https://your.host/x/webhook, "
                f"not {self.url!r} (put the app behind an HTTPS proxy on port 443)"
            )

    def bearer_token(self) -> str:
        """The app-only bearer token, from the consumer key and secret."""
        try:
            answer = self.client.session.post(
                TOKEN_URL,
                auth=(self.settings.consumer_key, self.settings.consumer_secret),
                data={"grant_type": "client_credentials"},
                timeout=30,
            )
            body = answer.json()
        except (requests.RequestException, ValueError) as error:
            raise SetupError(f"X's token endpoint could not be reached: {error}") from None
        if answer.status_code != 200 or body.get("token_type") != "bearer":
            raise SetupError(
                "X refused the consumer key and secret (X_CONSUMER_KEY, X_CONSUMER_SECRET): "
                f"{_reason(body)}"
            )
        token: str = body["access_token"]
        return token

    def call(self, method: str, route: str, user: bool = False, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self.client.request(method, route, user_auth=user, **kwargs)
        except tweepy.HTTPException as error:
            body = _json(error.response)
            raise SetupError(
                f"{method} {route}: X answered {error.response.status_code}: {_reason(body)}"
            ) from None
        except (tweepy.TweepyException, requests.RequestException) as error:
            raise SetupError(f"{method} {route}: {error}") from None
        return _json(response)

    def act(self, doing: str, work: Callable[[], dict[str, Any]]) -> dict[str, Any] | None:
        """Does `work` (a change), or in a dry run says it would."""
        if self.dry_run:
            self.say(f"  would {doing}")
            return None
        found = work()
        return found

    def webhook(self) -> str | None:
        """The id of the app's webhook at the URL, registered (or checked again) if needed;
        None in a dry run that would create it."""
        hooks = self.call("GET", "/2/webhooks").get("data") or []
        mine = next((h for h in hooks if h.get("url") == self.url), None)
        others = [h for h in hooks if h.get("url") != self.url]
        if mine is not None and mine.get("valid", True):
            self.say(f"  webhook {self.url}: registered already (id {mine['id']}), valid")
            return str(mine["id"])
        if mine is not None:
            self.act(
                f"ask X to check webhook {mine['id']} again (it is marked invalid)",
                lambda: self.call("PUT", f"/2/webhooks/{mine['id']}"),
            )
            if not self.dry_run:
                again = self.call("GET", "/2/webhooks").get("data") or []
                valid = any(h.get("id") == mine["id"] and h.get("valid") for h in again)
                if not valid:
                    raise SetupError(
                        f"X still finds webhook {mine['id']} invalid: is the app running and "
                        f"answering GET {self.url}?crc_token=… ?"
                    )
                self.say(f"  webhook {self.url}: checked again by X, valid (id {mine['id']})")
            return str(mine["id"])
        if others and not self.replace:
            listed = ", ".join(f"{h.get('id')} at {h.get('url')}" for h in others)
            raise SetupError(
                f"the X app has another webhook ({listed}); pay-per-use apps have one: run "
                "again with --replace to delete it and register this one"
            )
        for other in others:
            self.act(
                f"delete webhook {other.get('id')} at {other.get('url')}",
                lambda other=other: self.call("DELETE", f"/2/webhooks/{other.get('id')}"),
            )
        created = self.act(
            f"register webhook {self.url} (X then checks it with a CRC request to the app)",
            lambda: self.call("POST", "/2/webhooks", json={"url": self.url}),
        )
        if created is None:
            return None
        webhook_id = str((created.get("data") or {}).get("id"))
        self.say(f"  webhook {self.url}: registered now (id {webhook_id}); X checked its CRC")
        return webhook_id

    def subscription(self, webhook_id: str | None) -> None:
        account = self.settings.account_id
        if webhook_id is None:
            self.say(f"  would subscribe account {account} to it (signed with its token)")
            return
        route = f"/2/account_activity/webhooks/{webhook_id}/subscriptions/all"
        found = self.call("GET", route, user=True).get("data") or {}
        if found.get("subscribed"):
            self.say(f"  account {account}: subscribed already")
            return
        done = self.act(
            f"subscribe account {account} to webhook {webhook_id}",
            lambda: self.call("POST", route, user=True),
        )
        if done is not None:
            self.say(f"  account {account}: subscribed now")


def _json(response: requests.Response | None) -> dict[str, Any]:
    if response is None:
        return {}
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _reason(body: dict[str, Any]) -> str:
    """X's own words for a refusal: its `detail`, or its first error's message."""
    errors = body.get("errors") or []
    first = errors[0] if errors and isinstance(errors[0], dict) else {}
    return str(body.get("detail") or first.get("message") or body.get("title") or "no reason given")


def setup(
    settings: XSettings,
    url: str,
    dry_run: bool = False,
    replace: bool = False,
    out: TextIO = sys.stdout,
) -> int:
    """Runs the setup; 0 when X delivers (or, in a dry run, would deliver) to `url`, 2 with
    a sentence on stderr otherwise."""
    try:
        XSetup(settings, url, dry_run=dry_run, replace=replace, out=out).run()
    except SetupError as error:
        print(f"relais x setup: {error}", file=sys.stderr)
        return 2
    return 0
