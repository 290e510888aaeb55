"""`make bench-soak`: does memory stay flat? The stack `make bench` measures (Rasa, the action
server, the app on SQLite, in demo mode), with 20 customers writing at people's pace for 30
minutes, and the resident memory of each process at the start and the end.

Each customer pauses a few seconds (THINK_S) before each message, and every conversation is a
new one: customer after customer from bench/run.py's scripted conversations (routine ones,
and one in four angry, ending in a handoff), so the senders keep changing as in a real day.
After the 1,000 load customers, the first come back, as new web chat visitors. Memory is
VmRSS from /proc (each process with its children), sampled after a warm-up, every minute,
and at the end. The warm-up (5 minutes, about 1,000 messages) lets what fills up once and
then stays full do so first: SQLite's page cache (2 MiB per pooled connection, filled as the
database grows past that), the allocator's arenas, the libraries' caches. The app's own
/metrics is read every 15 s, as Prometheus would, and its totals at the end.

    python -m bench.soak [--minutes 30] [--conversations 20] [--warm-up 300]

Printed and written to reports/bench-soak.json. The target (issue 18): each process grows by
5 % at most over the 30 minutes. Rasa keeps its trackers in its own memory in this stack (no
tracker store in endpoints.yml, as `make run`): they grow with every conversation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
import requests
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run import (  # noqa: E402
    DEMO,
    LOAD_CUSTOMERS,
    Conversations,
    Driver,
    Level,
    prepare_records,
)
from bench.stack import MODEL, Service, Stack, _children  # noqa: E402

#: Seconds a customer takes before each message (uniform between the two): reading the
#: reply and typing the next line in a DM.
THINK_S = (2.0, 6.0)
#: How often resident memory is sampled between the start and the end.
SAMPLE_EVERY_S = 60.0
#: How often the app's /metrics is read meanwhile, as Prometheus would (its default).
SCRAPE_EVERY_S = 15.0
#: The issue's target: growth of each process's resident memory over the run.
GROWTH_TARGET_PCT = 5.0


def resident_mib(service: Service) -> float:
    """The process's resident memory now (VmRSS), with its children's, in MiB."""
    total = 0
    for pid in [service.process.pid, *_children(service.process.pid)]:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue  # a child that has just ended
    return round(total / 1024, 1)


@dataclass
class Soak:
    """What the customers do, and what was measured."""

    stack: Stack
    #: Latencies and outcomes since the warm-up ended (the warm-up's own are dropped).
    level: Level
    stop_at: float
    conversations: int = 0
    #: Requests that failed (HTTP error, timeout): that conversation ends, the next starts.
    errors: int = 0
    scrapes: int = 0
    samples: list[dict[str, Any]] = field(default_factory=list)

    def sample(self, started: float) -> dict[str, Any]:
        found = {s.name: resident_mib(s) for s in self.stack.services}
        self.samples.append({"t_s": round(time.monotonic() - started), "rss_mib": found})
        line = "  ".join(f"{name} {mib:7.1f}" for name, mib in found.items())
        print(f"[soak] {self.samples[-1]['t_s']:>5} s  RSS MiB: {line}", flush=True)
        return found


class Customers:
    """One new conversation after another: the n-th is load customer n's (then again from the
    first, as a new visitor: each conversation gets a visitor cookie of its own)."""

    def __init__(self) -> None:
        self.next = 0

    def take(self) -> tuple[str, tuple[str, ...]]:
        index, self.next = self.next, self.next + 1
        return Conversations(index % LOAD_CUSTOMERS).take()


async def customer_loop(
    http: aiohttp.ClientSession, base: str, soak: Soak, customers: Customers, rng: random.Random
) -> None:
    """One customer's seat: a conversation, then the next customer's, until the end."""
    while time.monotonic() < soak.stop_at:
        sender, script = customers.take()
        driver = Driver(http, base, plain=False, run_id="soak")  # a new visitor cookie
        soak.conversations += 1
        for text in script:
            await asyncio.sleep(rng.uniform(*THINK_S))
            if time.monotonic() >= soak.stop_at:
                return
            level = soak.level  # the warm-up's, or the measured period's
            try:
                outcome = await driver.say(sender, text, level)
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                soak.errors += 1
                print(f"[soak] {sender}: {error!r}", flush=True)
                break
            if outcome == "handoff":
                level.handoffs += 1
            if outcome in ("handoff", "no_reply"):
                break


async def scrape_loop(http: aiohttp.ClientSession, base: str, token: str, soak: Soak) -> None:
    """Reads /metrics every SCRAPE_EVERY_S until the end, as Prometheus would."""
    while time.monotonic() + SCRAPE_EVERY_S < soak.stop_at:
        await asyncio.sleep(SCRAPE_EVERY_S)
        async with http.get(f"{base}/metrics", headers={"Authorization": f"Bearer {token}"}) as r:
            r.raise_for_status()
            await r.read()
        soak.scrapes += 1


async def drive(
    soak: Soak, seats: int, warm_up_s: float, seed: int, token: str
) -> dict[str, float]:
    """Runs the customers; samples memory after the warm-up, every minute, and at the end.
    Returns the first sample (the start)."""
    base = soak.stack.worker_urls[0]
    rng = random.Random(seed)
    customers = Customers()
    started = time.monotonic()
    timeout = aiohttp.ClientTimeout(total=60)
    jar = aiohttp.DummyCookieJar()  # each conversation sends its own visitor cookie
    async with aiohttp.ClientSession(
        timeout=timeout, connector=aiohttp.TCPConnector(limit=0), cookie_jar=jar
    ) as http:

        async def seat(index: int) -> None:
            # People do not all hit "send" at the same instant.
            await asyncio.sleep(THINK_S[1] * index / seats)
            await customer_loop(http, base, soak, customers, rng)

        tasks = [asyncio.create_task(seat(i)) for i in range(seats)]
        tasks.append(asyncio.create_task(scrape_loop(http, base, token, soak)))
        await asyncio.sleep(warm_up_s)
        soak.level = Level(seats)  # the measured period starts now
        measured_from = time.monotonic()
        start = soak.sample(started)
        while time.monotonic() + SAMPLE_EVERY_S < soak.stop_at:
            await asyncio.sleep(SAMPLE_EVERY_S)
            soak.sample(started)
        await asyncio.sleep(max(0.0, soak.stop_at - time.monotonic()))
        soak.sample(started)
        soak.level.wall_s = time.monotonic() - measured_from
        await asyncio.gather(*tasks)
    return start


def app_metrics(base: str, token: str) -> dict[str, float]:
    """A few totals from the app's /metrics (bot/prometheus.py), as Prometheus reads them."""
    answer = requests.get(
        f"{base}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    answer.raise_for_status()
    wanted = {
        "relais_messages_received_total": "messages_received",
        "relais_messages_sent_total": "messages_sent",
        "relais_handoffs_total": "handoffs",
    }
    totals: dict[str, float] = dict.fromkeys(wanted.values(), 0.0)
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            if sample.name in wanted:
                totals[wanted[sample.name]] += sample.value
    return totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--minutes", type=float, default=30.0, help="measured time, after the warm-up"
    )
    parser.add_argument("--conversations", type=int, default=20, help="customers at once")
    parser.add_argument("--warm-up", type=float, default=300.0, help="seconds before the start")
    parser.add_argument("--seed", type=int, default=18, help="seed of the customers' pauses")
    parser.add_argument("--out", default=str(ROOT / "reports" / "bench-soak.json"))
    args = parser.parse_args()
    if not MODEL.exists():
        print(f"{MODEL} is missing: `make bench-soak` trains it first", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="relais-soak-"))
    url = f"sqlite:///{workdir / 'relais.db'}"
    prepare_records(url, LOAD_CUSTOMERS)
    token = secrets.token_hex(16)
    stack = Stack(workdir, database_url=url, extra_env={**DEMO, "RELAIS_METRICS_TOKEN": token})
    print(f"[soak] starting {workdir}", flush=True)
    with stack:
        total_s = args.warm_up + args.minutes * 60
        soak = Soak(stack, Level(args.conversations), stop_at=time.monotonic() + total_s)
        print(
            f"[soak] {args.conversations} customers, {THINK_S[0]:g}-{THINK_S[1]:g} s before "
            f"each message, {args.warm_up:g} s warm-up, then {args.minutes:g} min",
            flush=True,
        )
        start = asyncio.run(drive(soak, args.conversations, args.warm_up, args.seed, token))
        end = soak.samples[-1]["rss_mib"]
        counted = app_metrics(stack.worker_urls[0], token)
    memory = {
        name: {
            "start_mib": start[name],
            "end_mib": end[name],
            "growth_pct": round((end[name] - start[name]) / start[name] * 100, 1)
            if start[name]
            else None,
        }
        for name in start
    }
    latency = soak.level.summary()
    report = {
        "date": str(date.today()),
        "machine": platform.node(),
        "cpus": len(os.sched_getaffinity(0)),
        "minutes": args.minutes,
        "warm_up_s": args.warm_up,
        "conversations_at_once": args.conversations,
        "think_s": list(THINK_S),
        "conversations": soak.conversations,
        "errors": soak.errors,
        "scrapes": soak.scrapes,
        "measured": latency,
        "app_metrics": counted,
        "memory": memory,
        "target_growth_pct_max": GROWTH_TARGET_PCT,
        "samples": soak.samples,
        "processes": [s.name for s in stack.services],
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"[soak] {latency['messages']} messages in the measured {args.minutes:g} min "
        f"({latency['msgs_per_s']:.2f}/s, p50 {latency['p50_ms']:.0f} ms, p99 "
        f"{latency['p99_ms']:.0f} ms, {latency['no_reply']} unanswered, {latency['handoffs']} "
        f"handoffs), {soak.conversations} conversations in all, {soak.errors} errors; "
        f"the app counted {counted['messages_received']:.0f} messages in "
        f"({soak.scrapes} scrapes of /metrics meanwhile)"
    )
    print(f"{'process':<12}{'start MiB':>11}{'end MiB':>10}{'growth':>9}")
    for name, found in memory.items():
        growth = found["growth_pct"]
        mark = "" if growth is None or growth <= GROWTH_TARGET_PCT else "  above the 5 % target"
        print(
            f"{name:<12}{found['start_mib']:>11.1f}{found['end_mib']:>10.1f}"
            f"{growth if growth is not None else float('nan'):>8.1f}%{mark}"
        )
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
