"""The scale-out configuration: two Rasa servers, two action servers and two Relais workers on
PostgreSQL (application data and Rasa's tracker store) and Redis (Rasa's lock store).

Customers write to both workers at once, a conversation's messages spread over the two; the
test checks that every message reached Rasa exactly once and in order (read back from the
shared tracker store), that each got its answer once, and that both workers did the work.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
import requests
from sqlalchemy import select
from sqlalchemy.engine import make_url

from bench.customers import load_sender
from bench.run import prepare_records
from bench.stack import Stack
from relais.core.types import Author
from relais.storage.conversations import Message
from relais.storage.db import make_engine, session_scope
from tests.e2e.servers import eventually
from tests.e2e.webchat import conversation_id, demo_customer

pytestmark = pytest.mark.slow

CONVERSATIONS = 16
#: Three lines each, sent at once (fewer than a burst, which would be merged into one turn).
LINES = {
    "en": ("hi", "when does my flight leave?", "how many bags can I check in?"),
    "fr": ("bonjour", "à quelle heure part mon vol ?", "combien de bagages en soute ?"),
}


@pytest.fixture
def redis_url() -> str:
    url = "redis://127.0.0.1:6379/1"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis unreachable at {url}: {error}")
    return url


def test_two_of_each_keep_order_and_answer_once(
    new_database: Callable[[], str], tmp_path: Path, redis_url: str
) -> None:
    app_url, tracker_url = new_database(), new_database()
    if make_url(app_url).get_backend_name() != "postgresql":
        pytest.skip("the scale-out configuration runs on PostgreSQL")
    prepare_records(app_url, CONVERSATIONS)
    with Stack(
        tmp_path,
        database_url=app_url,
        rasa_servers=2,
        action_servers=2,
        workers=2,
        shared_rasa=True,
        tracker_database_url=tracker_url,
        redis_url=redis_url,
        # The load customers are picked as demo customers; the workers share the cookie key.
        extra_env={"RELAIS_DEMO": "1"},
    ) as stack:
        workers = stack.worker_urls
        assert len(workers) == 2 and len(stack.rasa_urls) == 2
        conversations: dict[int, str] = {}

        def customer(index: int) -> None:
            http = demo_customer(workers[index % 2], load_sender(index))
            conversations[index] = conversation_id(http)
            lines = LINES["en" if index % 2 == 0 else "fr"]
            for n, text in enumerate(lines):  # no waiting: the lines race across the workers
                reply = http.post(
                    f"{workers[(index + n) % 2]}/api/chat/messages",
                    json={"text": text, "client_id": uuid.uuid4().hex},
                    timeout=30,
                )
                assert reply.status_code == 201, reply.text

        with ThreadPoolExecutor(8) as pool:
            list(pool.map(customer, range(CONVERSATIONS)))

        engine = make_engine(app_url)

        def all_routed() -> bool:
            with session_scope(engine) as s:
                return not s.execute(
                    select(Message.id).where(
                        Message.author == Author.CUSTOMER, Message.processing != "done"
                    )
                ).first()

        eventually(all_routed, limit=180)
        with session_scope(engine) as s:
            customer_messages = (
                s.execute(
                    select(Message).where(Message.author == Author.CUSTOMER).order_by(Message.id)
                )
                .scalars()
                .all()
            )
            rows = [(m.id, m.conversation_id, dict(m.details)) for m in customer_messages]
            bot_messages = (
                s.execute(select(Message).where(Message.author == Author.BOT)).scalars().all()
            )
            # The wait estimate after a handoff is the router's, not one of Rasa's replies.
            bot_after = Counter(
                m.conversation_id
                for m in bot_messages
                if (m.details or {}).get("kind") != "wait_estimate"
            )
            said = {
                m.id: (m.conversation_id, m.text[:60]) for m in [*bot_messages, *customer_messages]
            }
        engine.dispose()

        assert len(rows) == CONVERSATIONS * 3
        # Lines that arrived while the bot was busy with the conversation are answered
        # together with the one before them (bot/router.py, merge_burst).
        routed = {i: d for i, _, d in rows if d.get("routed") == "bot"}
        merged = {i: d for i, _, d in rows if d.get("routed") == "merged"}
        assert len(routed) + len(merged) == len(rows)
        assert all(d["merged_into"] in routed and d["merged_into"] < i for i, d in merged.items())
        # Both workers routed messages (each routes what it received, unless the other holds
        # the conversation at that moment).
        assert {d.get("worker") for d in routed.values()} == {"worker-1", "worker-2"}
        for index in range(CONVERSATIONS):
            conversation = conversations[index]
            ids = [i for i, c, _ in rows if c == conversation and i in routed]
            # Each message answered, once: the replies recorded per message add up to what the
            # conversation holds (a message routed twice would have left its replies twice).
            replies = [routed[i]["replies"] for i in ids]
            assert all(r >= 1 for r in replies) and sum(replies) == bot_after[conversation], sorted(
                (i, t) for i, (c, t) in said.items() if c == conversation
            )
            tracker = requests.get(
                f"{stack.rasa_urls[index % 2]}/conversations/{conversation}/tracker",
                params={"token": stack.rasa_token},  # Rasa's API answers only with it
                timeout=30,
            ).json()
            seen = [
                (e.get("metadata") or {}).get("relais_message_id")
                for e in tracker["events"]
                if e["event"] == "user"
            ]
            assert seen == ids, f"{conversation}: Rasa saw {seen}, the router sent {ids}"
