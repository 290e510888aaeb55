"""Faults: Rasa unreachable mid-conversation, and the Relais process killed (SIGKILL) during
traffic. Every Telegram message is answered exactly once, in order per conversation."""
from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Iterator

import pytest

from bot.fakes.telegram import FakeTelegram
from tests.integration.proxy import CuttableProxy
from tests.integration.servers import Servers, eventually, free_port, start_relais_app

pytestmark = pytest.mark.slow

#: Telegram users no other test writes as, with requests that each get exactly one reply,
#: and a word showing which request a reply answers.
SCRIPTS = {
    880001: [("hello", ""), ("when can I reach a person?", ""), ("thanks a lot", "")],
    880002: [("bonjour", ""), ("quels sont vos horaires ?", ""), ("merci beaucoup", "")],
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
        for (question, marker), reply in zip(script[:upto], texts):
            assert marker in reply, (question, reply)


def test_outage_and_kill_lose_nothing_and_answer_once(
        fake: FakeTelegram, servers: Servers, own_seeded_url: str, tmp_path: Path) -> None:
    proxy = CuttableProxy(servers.rasa_url, free_port())
    env = {"TELEGRAM_BOT_TOKEN": fake.token, "TELEGRAM_API_URL": fake.url, "TELEGRAM_MODE": "polling"}
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
