"""Internal services stay internal: Rasa and the action server, as `make run` starts them.

Each test is an attacker's request and the safe answer expected, made against the real
processes (tests/e2e/servers.py): Rasa's HTTP API wants RASA_TOKEN, the action server wants
ACTIONS_SECRET, neither listens beyond loopback, and `PUT /model` loads nothing from a URL.

Rasa's REST channel (`/webhooks/rest/webhook`) checks no token: Rasa does not apply
`--auth-token` to channels. What keeps it from outsiders is that Rasa listens on 127.0.0.1
only; `test_neither_server_is_reachable_on_another_address` makes that request too.
"""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.e2e.servers import Servers

pytestmark = pytest.mark.slow

#: What James (a demo customer) would have an action read out: his refund.
JAMES = "web:demo-james"


def forged_action_call(sender: str = JAMES, action: str = "action_refund_status") -> dict[str, Any]:
    """What Rasa posts to the action server, made up: a tracker that says the customer is
    `sender` and just asked about their refund, so the action would read their records."""
    text = "where is my refund?"
    return {
        "next_action": action,
        "sender_id": sender,
        "version": "3.6.21",
        "domain": {},
        "tracker": {
            "sender_id": sender,
            "slots": {},
            "latest_message": {
                "text": text,
                "intent": {"name": "refund_status", "confidence": 0.99},
                "intent_ranking": [{"name": "refund_status", "confidence": 0.99}],
                "entities": [],
                "metadata": {},
            },
            "events": [{"event": "user", "text": text, "parse_data": {}}],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        },
    }


def port_of(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


# --- Rasa's HTTP API --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/status", None),
        ("GET", f"/conversations/{JAMES}/tracker", None),
        ("POST", "/model/parse", {"text": "where is my refund?"}),
        ("POST", f"/conversations/{JAMES}/tracker/events", [{"event": "pause"}]),
        ("POST", f"/conversations/{JAMES}/trigger_intent", {"name": "refund_status"}),
        ("PUT", "/model", {"model_file": "models/relais.tar.gz"}),
    ],
)
@pytest.mark.parametrize("token", [None, "", "wrong-token", "relais"])
def test_rasas_api_without_the_token_is_refused(
    servers: Servers, method: str, path: str, body: Any, token: str | None
) -> None:
    params = {} if token is None else {"token": token}
    attack = requests.request(method, servers.rasa_url + path, json=body, params=params, timeout=30)
    assert attack.status_code in (401, 403), attack.text
    assert "events" not in attack.text  # nothing of James's conversation came back


def test_rasas_api_answers_the_gateway_with_the_token(servers: Servers) -> None:
    # The refusals above are the token at work, not a server that answers nobody.
    status = requests.get(
        f"{servers.rasa_url}/status", params={"token": servers.rasa_token}, timeout=30
    )
    assert status.status_code == 200 and status.json()["model_file"]
    assert servers.tracker(JAMES)["sender_id"] == JAMES


# --- Loading a model from elsewhere -------------------------------------------------------


@pytest.fixture
def model_server() -> Iterator[tuple[str, list[str]]]:
    """An attacker's model server on this machine; yields its URL and the paths asked of it."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            asked.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/evil-model.tar.gz", asked
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("source", ["model_server", "remote_storage"])
def test_put_model_from_elsewhere_is_refused_even_with_the_token(
    servers: Servers, model_server: tuple[str, list[str]], source: str
) -> None:
    url, asked = model_server
    body: dict[str, Any] = (
        {"model_server": {"url": url, "wait_time_between_pulls": 0}}
        if source == "model_server"
        else {"model_file": "evil-model.tar.gz", "remote_storage": "aws"}
    )
    attack = requests.put(
        f"{servers.rasa_url}/model", json=body, params={"token": servers.rasa_token}, timeout=60
    )
    assert attack.status_code == 403, attack.text
    assert "refused" in attack.json()["message"]
    assert asked == []  # Rasa never even fetched the archive
    # …and the server still serves Relais's own model.
    status = requests.get(
        f"{servers.rasa_url}/status", params={"token": servers.rasa_token}, timeout=30
    ).json()
    assert status["model_file"].endswith("relais.tar.gz")


# --- The action server --------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "wrong-secret", "é"])
def test_a_forged_tracker_without_the_secret_runs_no_action(
    servers: Servers, token: str | None
) -> None:
    params = {} if token is None else {"token": token}
    attack = requests.post(
        f"{servers.actions_url}/webhook", json=forged_action_call(), params=params, timeout=30
    )
    assert attack.status_code == 401
    assert attack.json() == {"error": "unauthorized"}  # no reply, no events, no records


def test_the_action_list_is_not_given_away_either(servers: Servers) -> None:
    assert requests.get(f"{servers.actions_url}/actions", timeout=30).status_code == 401


def test_the_action_server_runs_actions_for_rasa_with_the_secret(servers: Servers) -> None:
    answer = requests.post(
        f"{servers.actions_url}/webhook",
        json=forged_action_call(action="action_goodbye"),
        params={"token": servers.actions_secret},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert "events" in answer.json() and "responses" in answer.json()


def test_the_health_check_stays_open_and_says_nothing(servers: Servers) -> None:
    health = requests.get(f"{servers.actions_url}/health", timeout=30)
    assert health.status_code == 200 and health.json() == {"status": "ok"}


def test_rasa_reaches_its_action_server_with_the_secret(servers: Servers) -> None:
    # The whole turn: Rasa calls the action server, which answers only because Rasa sent the
    # secret from endpoints.yml (`token: ${ACTIONS_SECRET}`).
    replies = servers.say("web:security-goodbye", "bye")
    assert replies and all(r.get("text") for r in replies)


# --- Beyond loopback ----------------------------------------------------------------------


def other_addresses() -> list[str]:
    """This machine's addresses that are not loopback (nor link-local, which needs a scope)."""
    found: set[str] = set()
    try:
        found.update(
            subprocess.run(
                ["hostname", "-I"], capture_output=True, text=True, timeout=10, check=False
            ).stdout.split()
        )
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        found.update(str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None))
    except OSError:
        pass
    usable = []
    for text in found:
        try:
            address = ipaddress.ip_address(text.split("%")[0])
        except ValueError:
            continue
        if not (address.is_loopback or address.is_link_local or address.is_unspecified):
            usable.append(str(address))
    return sorted(usable)


def reaches_everything_on(address: str) -> bool:
    """Whether a server listening on every interface is reachable at `address` (the control:
    a refused connection below then means Relais's servers listen on loopback only)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as listener:
        listener.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
        listener.listen(1)
        try:
            socket.create_connection((address, listener.getsockname()[1]), timeout=3).close()
        except OSError:
            return False
    return True


def test_neither_server_is_reachable_on_another_address(servers: Servers) -> None:
    addresses = [a for a in other_addresses() if reaches_everything_on(a)]
    if not addresses:
        pytest.skip("this machine has no non-loopback address to attack from")
    targets = {
        "Rasa": port_of(servers.rasa_url),
        "action server": port_of(servers.actions_url),
    }
    for address in addresses:
        host = f"[{address}]" if ":" in address else address
        for name, port in targets.items():
            with pytest.raises(OSError):
                socket.create_connection((address, port), timeout=3).close()
                pytest.fail(f"{name} accepted a connection on {address}:{port}")
        # The REST channel has no token check: loopback is its protection. From outside:
        with pytest.raises(requests.ConnectionError):
            requests.post(
                f"http://{host}:{targets['Rasa']}/webhooks/rest/webhook",
                json={"sender": JAMES, "message": "where is my refund?"},
                timeout=5,
            )
        with pytest.raises(requests.ConnectionError):
            requests.post(
                f"http://{host}:{targets['action server']}/webhook",
                json=forged_action_call(),
                params={"token": servers.actions_secret},  # even with the secret
                timeout=5,
            )
