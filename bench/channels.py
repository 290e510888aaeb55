"""`make bench-channels`: 200 simulated customers, 2,000 DMs, across the Telegram and X
stand-ins, through the whole stack (Relais app, Rasa, action server), on this machine, at
the platforms' real rate limits.

Each customer writes ten different routine messages, one after the other, each as soon as
the previous one has been answered (as people do in DMs); the customers write concurrently.

The limits, and what is measured:
- X (webhook in, `POST …/messages` out) at its documented limits for the pay-per-use access
  level, enforced by the stand-in as X does (15 sends per 15 minutes and 1,440 per 24 hours
  for the account; a send past them gets HTTP 429). At those limits 1,000 replies take about
  17 hours, so every window runs `--x-scale` times faster (300: 15 sends per 3 s) with the
  same counts, in the stand-in and in Relais alike (X_SEND_LIMIT). Waits on X are reported
  in X's time (seconds measured × the scale): the time is the limit's, not the machine's.
- Telegram (polling in, `sendMessage` out) in real time at its documented pace, which the
  stand-in enforces: one message a second in a chat and 30 a second in all (429 past it).

Printed and written to reports/bench-channels.json:
- answered_once / answered_twice / unanswered: per inbound message, from the stand-ins'
  records of what the bot sent (a customer's replies counted against its messages). The
  satisfaction question the bot asks after "thanks a lot" (a bot conversation that ends) is
  not an answer to a message: it is counted apart, as rating_questions (one per customer),
  and rating_asked_twice (a customer asked more than once in the session) fails the run;
- order_violations: inbound messages of a conversation routed out of order (from the
  database's processing times);
- p50_ms / p99_ms: from a message leaving the customer to the first reply reaching the
  stand-in, every message (machine time); msgs_per_s: inbound messages handled per second
  of wall time;
- per channel: the limits, the 429s the stand-in answered (0: Relais kept to the limits),
  the busiest window, and the waits: customer to reply, and reply written to delivered
  (the outbox's wait for the limit), X's in its own time.
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

from bot.channels.telegram import OVERALL, PER_CHAT  # noqa: E402
from bot.channels.x_limits import PAY_PER_USE  # noqa: E402
from bot.fakes.telegram import FakeTelegram  # noqa: E402
from bot.fakes.x import FakeX  # noqa: E402
from relais.core.pacing import describe  # noqa: E402
from relais.core.texts import say  # noqa: E402
from tests.e2e.servers import free_port, running, start_relais_app  # noqa: E402

#: How the satisfaction question begins, in each language (X adds its numbered options).
RATING_ASKED = tuple(say("rating.ask", lang) for lang in ("en", "fr"))
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


def spread(values: list[float], factor: float = 1.0, digits: int = 1) -> dict[str, float | None]:
    """p50, p99 and max of `values` × `factor`."""
    if not values:
        return {"p50": None, "p99": None, "max": None}
    return {
        "p50": round(statistics.median(values) * factor, digits),
        "p99": round(percentile(values, 0.99) * factor, digits),
        "max": round(max(values) * factor, digits),
    }


def busiest(times: list[float], window_s: float) -> int:
    """The most events in any window of `window_s` seconds."""
    ordered = sorted(times)
    most, start = 0, 0
    for end, moment in enumerate(ordered):
        while ordered[start] <= moment - window_s:
            start += 1
        most = max(most, end - start + 1)
    return most


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--messages", type=int, default=10, help="per customer (at most 10)")
    parser.add_argument(
        "--x-scale",
        type=float,
        default=300.0,
        help="X's windows run this many times faster (same counts); waits are reported in X's time",
    )
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for a reply (machine)"
    )
    parser.add_argument("--out", default=str(ROOT / "reports" / "bench-channels.json"))
    args = parser.parse_args()
    per_customer = min(args.messages, len(SCRIPT))
    scale = args.x_scale
    x_limits = PAY_PER_USE.scaled(scale)

    from relais.storage.db import create_all, make_engine, session_scope
    from relais.tools.seed import seed

    work = Path(tempfile.mkdtemp(prefix="relais-bench-"))
    url = f"sqlite:///{work / 'relais.db'}"
    engine = make_engine(url)
    create_all(engine)
    with session_scope(engine) as session:
        seed(session, anchor=date.today())

    telegram, x = FakeTelegram(pace=True), FakeX(time_scale=scale)
    telegram.start_in_thread(free_port())
    x.start_in_thread(free_port())
    env = {
        "TELEGRAM_BOT_TOKEN": telegram.token,
        "TELEGRAM_API_URL": telegram.url,
        "TELEGRAM_MODE": "polling",
        "X_ACCOUNT_ID": x.account_id,
        "X_CONSUMER_KEY": x.consumer_key,
        "X_CONSUMER_SECRET": x.consumer_secret,
        "X_ACCESS_TOKEN": "token",
        "X_ACCESS_TOKEN_SECRET": "secret",
        "X_MODE": "webhook",
        "X_API_URL": x.url,
        "X_ACCESS_LEVEL": "pay-per-use",
        "X_READ_LIMIT": ",".join(f"{lim.count}/{lim.window_s:g}s" for lim in x_limits.reads),
        "X_SEND_LIMIT": ",".join(f"{lim.count}/{lim.window_s:g}s" for lim in x_limits.sends),
    }
    latencies: dict[str, list[float]] = {"telegram": [], "x": []}
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

            def sent(channel: str, who: object) -> list[str]:
                if channel == "telegram":
                    return telegram.texts_to(int(who))
                return x.texts_to(str(who))

            def replies(channel: str, who: object) -> int:
                return sum(1 for text in sent(channel, who) if not text.startswith(RATING_ASKED))

            def customer(channel: str, who: object) -> None:
                missed = 0  # messages that got no reply: the next ones are not late for it
                for n, text in enumerate(SCRIPT[:per_customer]):
                    started = time.perf_counter()
                    if channel == "telegram":
                        telegram.customer_text(int(who), text)
                    else:
                        x.deliver(hook, x.customer_dm(str(who), text))
                    deadline = time.monotonic() + args.timeout
                    while replies(channel, who) <= n - missed and time.monotonic() < deadline:
                        time.sleep(0.02)
                    if replies(channel, who) > n - missed:
                        with lock:
                            latencies[channel].append(time.perf_counter() - started)
                    else:
                        missed += 1

            began = time.perf_counter()
            threads = [threading.Thread(target=customer, args=c) for c in customers]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - began
            time.sleep(3)  # anything sent twice would show up now
            counts = [replies(c, w) for c, w in customers]
            asked = [
                sum(1 for text in sent(c, w) if text.startswith(RATING_ASKED)) for c, w in customers
            ]
            rating_questions = sum(asked)
            # One session per customer here: the question is never asked twice in a session.
            rating_asked_twice = sum(max(0, n - 1) for n in asked)
            order_violations = _order_violations(engine)
            outbox_waits = _outbox_waits(engine)
        finally:
            app.terminate()
            app.wait(30)
    telegram.stop()
    x.stop()

    messages = len(customers) * per_customer
    answered_twice = sum(max(0, c - per_customer) for c in counts)
    unanswered = sum(max(0, per_customer - c) for c in counts)
    every = latencies["telegram"] + latencies["x"]
    x_window = PAY_PER_USE.sends[0].window_s / scale
    x_sends = len(x.send_times)
    report = {
        "customers": len(customers),
        "messages": messages,
        "answered_once": messages - unanswered - answered_twice,
        "answered_twice": answered_twice,
        "unanswered": unanswered,
        "order_violations": order_violations,
        "rating_questions": rating_questions,
        "rating_asked_twice": rating_asked_twice,
        "p50_ms": round(statistics.median(every) * 1000, 1) if every else None,
        "p99_ms": round(percentile(every, 0.99) * 1000, 1) if every else None,
        "msgs_per_s": round(messages / wall, 1),
        "wall_s": round(wall, 1),
        "channels": {"telegram": "polling", "x": "webhook"},
        "telegram": {
            "pace": f"{describe(PER_CHAT)} in a chat, {describe(OVERALL)} in all (enforced)",
            "refused_429": telegram.refused_for_pace,
            "reply_s": spread(latencies["telegram"], digits=2),
            "outbox_wait_s": spread(outbox_waits["telegram"], digits=2),
        },
        "x": {
            "limits": f"pay-per-use: sends {PAY_PER_USE.sends_text}, reads "
            f"{PAY_PER_USE.reads_text} (enforced)",
            "time_scale": scale,
            "refused_429": x.refused,
            "sends": x_sends,
            "most_sends_in_any_15_min": busiest(x.send_times, x_window),
            "x_hours": round(wall * scale / 3600, 1),
            "sends_per_x_hour": round(x_sends / (wall * scale / 3600), 1) if wall else None,
            "reply_x_s": spread(latencies["x"], scale, digits=0),
            "outbox_wait_x_s": spread(outbox_waits["x"], scale, digits=0),
        },
        "machine": "2 cores; Relais app, Rasa, action server and both stand-ins on one machine",
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(json.dumps(report, indent=2))
    print(f"written to {out}")
    refused = telegram.refused_for_pace + sum(x.refused.values())
    failures = (unanswered, answered_twice, order_violations, refused, rating_asked_twice)
    return 0 if not any(failures) else 1


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


def _outbox_waits(engine: object) -> dict[str, list[float]]:
    """Per channel: seconds from each reply being written to the platform taking it."""
    from sqlalchemy import select

    from relais.storage.conversations import OutboxItem
    from relais.storage.db import session_scope

    waits: dict[str, list[float]] = {"telegram": [], "x": []}
    with session_scope(engine) as session:  # type: ignore[arg-type]
        rows = session.execute(
            select(OutboxItem.channel, OutboxItem.created_at, OutboxItem.delivered_at)
        ).all()
    for channel, created, delivered in rows:
        if delivered is not None and channel in waits:
            waits[channel].append((delivered - created).total_seconds())
    return waits


if __name__ == "__main__":
    raise SystemExit(main())
