"""Faults: Rasa unreachable mid-conversation, and the Relais process killed (SIGKILL) during
traffic. Every Telegram message is answered exactly once, in order per conversation."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.fakes.telegram import FakeTelegram
from tests.e2e.proxy import CuttableProxy
from tests.e2e.servers import Servers, eventually, free_port, start_relais_app

pytestmark = pytest.mark.slow

#: Telegram users no other test writes as (not in the demo records: the bot answers from what
#: each message names), with requests that each get exactly one reply, and the marker only
#: that request's reply contains: the flight or booking it names, which no other reply in
#: SCRIPTS mentions. A reply sent to the other customer, or a customer's replies delivered
#: out of order, puts a reply next to a request whose marker it lacks. The flight markers
#: read the same in English and French ("Your flight XY311 Paris → Lyon" / "Votre vol …").
SCRIPTS = {
    880001: [
        ("is flight XY311 on time?", "XY311 Paris → Lyon"),
        ("where is my refund for XY7T2M?", "XY7T2M"),  # €182.40, being processed
        ("is flight XY007 on time?", "XY007 Paris → New York"),
    ],
    880002: [
        ("mon vol XY221 est-il à l'heure ?", "XY221 Paris → Nice"),
        ("combien de bagages pour la réservation XY8RT4 ?", "XY8RT4"),  # tarif Flex
        ("le vol XY123 a-t-il du retard ?", "XY123 Paris → Montréal"),  # 45 min de retard
    ],
}


@pytest.fixture
def fake() -> Iterator[FakeTelegram]:
    telegram = FakeTelegram()
    telegram.start_in_thread(free_port())
    yield telegram
    telegram.stop()


def check_answers(fake: FakeTelegram, upto: int) -> None:
    """Each customer got exactly one reply per message so far, in the order asked."""
    for chat, script in SCRIPTS.items():
        texts = fake.texts_to(chat)
        assert len(texts) == upto, (chat, texts)
        for (question, marker), reply in zip(script[:upto], texts, strict=True):
            assert marker in reply, (chat, question, marker, texts)


def test_each_marker_tells_one_request_from_the_others() -> None:
    # An empty marker, or one shared by two requests, would let a misdelivered reply pass.
    markers = [marker for script in SCRIPTS.values() for _, marker in script]
    assert all(markers) and len(set(markers)) == len(markers)
    assert not [(a, b) for a in markers for b in markers if a != b and a in b]


def test_outage_and_kill_lose_nothing_and_answer_once(
    fake: FakeTelegram, servers: Servers, own_seeded_url: str, tmp_path: Path
) -> None:
    proxy = CuttableProxy(servers.rasa_url, free_port())
    env = {
        "TELEGRAM_BOT_TOKEN": fake.token,
        "TELEGRAM_API_URL": fake.url,
        "TELEGRAM_MODE": "polling",
    }
    port = free_port()
    app = start_relais_app(tmp_path, own_seeded_url, proxy.url, port, env)
    try:
        for chat, script in SCRIPTS.items():
            fake.customer_text(chat, script[0][0])
        eventually(lambda: all(len(fake.texts_to(c)) == 1 for c in SCRIPTS), 60)
        check_answers(fake, 1)

        # Rasa unreachable: the next messages are taken (stored) but wait, in order.
        proxy.cut()
        time.sleep(1)  # let requests already in flight through the proxy finish first
        for chat, script in SCRIPTS.items():
            fake.customer_text(chat, script[1][0])
        time.sleep(4)
        check_answers(fake, 1)
        assert not fake.updates  # acknowledged to Telegram: stored, not lost
        proxy.restore()
        eventually(lambda: all(len(fake.texts_to(c)) == 2 for c in SCRIPTS), 60)
        check_answers(fake, 2)

        # SIGKILL right after the next messages arrive, then start again.
        for chat, script in SCRIPTS.items():
            fake.customer_text(chat, script[2][0])
        time.sleep(0.3)
        app.send_signal(signal.SIGKILL)
        app.wait(10)
        app = start_relais_app(tmp_path, own_seeded_url, proxy.url, port, env)
        eventually(lambda: all(len(fake.texts_to(c)) == 3 for c in SCRIPTS), 60)
        time.sleep(3)  # nothing more comes: no message is answered twice
        check_answers(fake, 3)
    finally:
        app.terminate()
        app.wait(20)
        proxy.close()
