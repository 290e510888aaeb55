"""`make bench-channels`: 200 simulated customers, 2,000 DMs, across the Telegram and X
stand-ins, through the whole stack (Relais app, Rasa, action server), on this machine.

Each customer writes ten different routine messages, one after the other, each as soon as
the previous one has been answered (as people do in DMs); the customers write concurrently.
Printed and written to reports/bench-channels.json:

- answered_once / answered_twice / unanswered: per inbound message, from the stand-ins'
  records of what the bot sent (a customer's replies counted against its messages);
- order_violations: inbound messages of a conversation routed out of order (from the
  database's processing times);
- p50_ms / p99_ms: from a message leaving the customer to the first reply reaching the
  stand-in; msgs_per_s: inbound messages handled per second of wall time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.fakes.telegram import FakeTelegram  # noqa: E402
from bot.fakes.x import FakeX  # noqa: E402
from tests.e2e.servers import free_port, running, start_relais_app  # noqa: E402

#: Ten requests that each get one reply from an unknown customer, none repeated.
SCRIPT = (
    "hello",
    "what are your opening hours?",
    "how many bags can I take?",
    "when does check-in open?",
    "I need a wheelchair at the airport",
    "do I need a visa for Canada?",
    "can I choose my seat?",
    "how do I earn points?",
    "thanks a lot",
    "bye",
)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--messages", type=int, default=10, help="per customer (at most 10)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for a reply")
    parser.add_argument("--out", default=str(ROOT / "reports" / "bench-channels.json"))
    args = parser.parse_args()
    per_customer = min(args.messages, len(SCRIPT))

    from relais.storage.db import create_all, make_engine, session_scope
    from relais.tools.seed import seed

    work = Path(tempfile.mkdtemp(prefix="relais-bench-"))
    url = f"sqlite:///{work / 'relais.db'}"
    engine = make_engine(url)
    create_all(engine)
    with session_scope(engine) as session:
        seed(session, anchor=date.today())

    telegram, x = FakeTelegram(), FakeX()
    telegram.start_in_thread(free_port())
    x.start_in_thread(free_port())
    env = {
        "TELEGRAM_BOT_TOKEN": telegram.token,
        "TELEGRAM_API_URL": telegram.url,
        "TELEGRAM_MODE": "polling",
        "X_ACCOUNT_ID": x.account_id,
        "X_CONSUMER_KEY": "key",
        "X_CONSUMER_SECRET": x.consumer_secret,
        "X_ACCESS_TOKEN": "token",
        "X_ACCESS_TOKEN_SECRET": "secret",
        "X_MODE": "webhook",
        "X_API_URL": x.url,
    }
    latencies: list[float] = []
    lock = threading.Lock()
    with running(work, url) as servers:
        port = free_port()
        app = start_relais_app(work, url, servers.rasa_url, port, env)
        hook = f"http://127.0.0.1:{port}/x/webhook"
        try:
            customers = [
                ("telegram", 5_000_000 + i) if i % 2 == 0 else ("x", str(6_000_000 + i))
                for i in range(args.customers)
            ]

            def replies(channel: str, who: object) -> int:
                return len(
                    telegram.texts_to(int(who)) if channel == "telegram" else x.texts_to(str(who))
                )

            def customer(channel: str, who: object) -> None:
                for n, text in enumerate(SCRIPT[:per_customer]):
                    started = time.perf_counter()
                    if channel == "telegram":
                        telegram.customer_text(int(who), text)
                    else:
                        x.deliver(hook, x.customer_dm(str(who), text))
                    deadline = time.monotonic() + args.timeout
                    while replies(channel, who) <= n and time.monotonic() < deadline:
                        time.sleep(0.02)
                    if replies(channel, who) > n:
                        with lock:
                            latencies.append((time.perf_counter() - started) * 1000)

            began = time.perf_counter()
            threads = [threading.Thread(target=customer, args=c) for c in customers]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - began
            time.sleep(3)  # anything sent twice would show up now
            counts = [replies(c, w) for c, w in customers]
            order_violations = _order_violations(engine)
        finally:
            app.terminate()
            app.wait(30)
    telegram.stop()
    x.stop()

    messages = len(customers) * per_customer
    answered_twice = sum(max(0, c - per_customer) for c in counts)
    unanswered = sum(max(0, per_customer - c) for c in counts)
    report = {
        "customers": len(customers),
        "messages": messages,
        "answered_once": messages - unanswered - answered_twice,
        "answered_twice": answered_twice,
        "unanswered": unanswered,
        "order_violations": order_violations,
        "p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 0.99), 1) if latencies else None,
        "msgs_per_s": round(messages / wall, 1),
        "wall_s": round(wall, 1),
        "channels": {"telegram": "polling", "x": "webhook"},
        "machine": "2 cores; Relais app, Rasa, action server and both stand-ins on one machine",
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(json.dumps(report, indent=2))
    print(f"written to {out}")
    return 0 if unanswered == answered_twice == order_violations == 0 else 1


def _order_violations(engine: object) -> int:
    """Inbound messages routed before an older message of the same conversation."""
    from sqlalchemy import select

    from relais.core.types import Author
    from relais.storage.conversations import Message
    from relais.storage.db import session_scope

    violations = 0
    with session_scope(engine) as session:  # type: ignore[arg-type]
        rows = session.execute(
            select(Message.conversation_id, Message.id, Message.processed_at)
            .where(Message.author == Author.CUSTOMER)
            .order_by(Message.conversation_id, Message.id)
        ).all()
    last: dict[str, object] = {}
    for row in rows:
        previous = last.get(row.conversation_id)
        if previous is not None and row.processed_at is not None and row.processed_at < previous:
            violations += 1
        if row.processed_at is not None:
            last[row.conversation_id] = row.processed_at
    return violations


if __name__ == "__main__":
    raise SystemExit(main())
