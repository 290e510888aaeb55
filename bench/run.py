"""`make bench`: Relais against plain Rasa, on the same messages, in one run on this machine.

Stacks, one after the other (each alone on the machine while it is measured):

- `rasa_default`: plain Rasa (`rasa init`'s default pipeline and policies, trained on the same
  domain and data), REST channel only, no action server. Messages go straight to its REST
  webhook.
- `relais`: the whole of Relais as `make run` starts it (SQLite): the web chat's HTTP API
  (`POST /api/chat/messages`, then a long poll of `GET /api/chat/messages`) → router →
  Rasa → action server → database → the reply read back by the customer's poll.
- `relais_pg_1` and `relais_pg_2` (skip with --no-scale-out): the scale-out configuration
  (README, "Scale-out"): PostgreSQL for the application data and Rasa's tracker store
  (--tracker-store picks another, docs/tracker-store.md), Redis for Rasa's lock store; one,
  then two, Rasa servers, action servers and Relais workers.

Load: N customers write at once (N = each level of --levels); each sends a message as soon
as the previous one is answered (no pause), so N is the number of conversations in flight.
Conversations are scripted, multi-turn, English and French, three routine for one angry
(which ends in a handoff). Latency is from sending a message to reading its reply.
Then, at 20 conversations, the same again with each customer pausing PACED_THINK_S between
a reply and their next message ("paced"), closer to people typing in a DM.

Over each level, the CPU time of every process is read from /proc before and after and divided
by the messages answered: CPU milliseconds per message for each Rasa server, action server and
Relais worker, the PostgreSQL server processes serving the stack's databases, Redis, and this
load generator (which shares the machine). One table at the end puts the stacks side by side,
with the ratios the targets are about. Written to reports/bench.json, with a latency plot in
reports/bench-latency.png.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.customers import add_load_customers, load_sender  # noqa: E402
from bench.stack import (  # noqa: E402
    DEFAULT_MODEL,
    DEFAULT_TRACKER_STORE,
    MODEL,
    TRACKER_STORES,
    Stack,
)
from bot.web_identity import COOKIE as VISITOR_COOKIE  # noqa: E402
from relais.core.config import MATH_THREAD_VARIABLES, settings  # noqa: E402

#: Relais runs as `make run` starts it: in demo mode, where a web chat visitor may pick a
#: customer (each load customer is picked once, before their first message is timed).
DEMO = {"RELAIS_DEMO": "1"}
#: The target the issue sets at this concurrency.
HEADLINE_CONCURRENCY = 20
#: What the figures are held to (issue 18): Relais on SQLite against plain Rasa, a PostgreSQL
#: node against the SQLite one, two nodes against one.
TARGETS = {
    "throughput_ratio_min": 2.0,
    "relais_p99_ms_max": 250,
    "pg_1_over_sqlite_min": 1.0,
    "pg_2_over_pg_1_min": 1.8,
}
#: The stacks, in the order they run and are shown.
STACKS = {
    "rasa_default": "plain Rasa (default pipeline)",
    "relais": "Relais, SQLite",
    "relais_pg_1": "Relais, PostgreSQL + Redis, 1 of each",
    "relais_pg_2": "Relais, PostgreSQL + Redis, 2 of each",
}
#: For the "paced" figures: seconds a customer takes between reading a reply and sending
#: the next message (people in a DM take longer; the headline figures use no pause at all).
PACED_THINK_S = 1.0

# Scripted conversations, written for this benchmark. Routine ones are asked by the load
# customer (who has a booking); angry ones come from a new sender each time and end with the
# message that should be handed to a person.
ROUTINE = {
    "en": [
        (
            "hi there",
            "when does my flight leave?",
            "how many bags can I check in?",
            "can I pick my seat?",
            "thanks, that's all",
        ),
        (
            "hello",
            "what's the status of my booking?",
            "is there wifi on board?",
            "what time does check-in open?",
            "great, thank you",
        ),
        (
            "good morning",
            "which terminal do I leave from?",
            "can I bring my bike?",
            "how many points do I have?",
            "perfect, bye",
        ),
    ],
    "fr": [
        (
            "bonjour",
            "à quelle heure part mon vol ?",
            "combien de bagages en soute ?",
            "je peux choisir ma place ?",
            "merci beaucoup",
        ),
        (
            "salut",
            "où en est ma réservation ?",
            "y a-t-il le wifi à bord ?",
            "quand ouvre l'enregistrement ?",
            "super, merci",
        ),
        (
            "bonsoir",
            "de quel terminal je pars ?",
            "je peux prendre mon vélo ?",
            "combien de points fidélité j'ai ?",
            "parfait, au revoir",
        ),
    ],
}
ANGRY = {
    "en": [
        (
            "hello",
            "this is the third time my flight gets cancelled with no warning, "
            "absolutely disgraceful, I am furious",
        )
    ],
    "fr": [
        (
            "bonjour",
            "c'est scandaleux, troisième vol annulé sans prévenir, je suis "
            "furieux contre votre compagnie",
        )
    ],
}


@dataclass
class Level:
    """What one level of concurrency measured."""

    concurrency: int
    latencies_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    no_reply: int = 0
    handoffs: int = 0

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)
        return {
            "concurrency": self.concurrency,
            "messages": len(ordered),
            "no_reply": self.no_reply,
            "handoffs": self.handoffs,
            "p50_ms": round(percentile(ordered, 0.50), 1),
            "p90_ms": round(percentile(ordered, 0.90), 1),
            "p99_ms": round(percentile(ordered, 0.99), 1),
            "mean_ms": round(statistics.fmean(ordered), 1) if ordered else 0.0,
            "msgs_per_s": round(len(ordered) / self.wall_s, 2) if self.wall_s else 0.0,
            "wall_s": round(self.wall_s, 2),
        }


def percentile(ordered: list[float], share: float) -> float:
    """The nearest-rank percentile of sorted values."""
    if not ordered:
        return 0.0
    rank = max(1, int(-(-share * len(ordered) // 1)))  # ceil(share * n)
    return ordered[min(rank, len(ordered)) - 1]


#: Load customers made for a run: each conversation is a new customer (a customer asking the
#: same five questions again and again is rightly seen as going in circles and handed over).
LOAD_CUSTOMERS = 1000


class Conversations:
    """Hands out the next scripted conversation: (sender, messages), a new customer each."""

    def __init__(self, first: int = 0) -> None:
        self.next = first

    def take(self) -> tuple[str, tuple[str, ...]]:
        index = self.next
        if index >= LOAD_CUSTOMERS:
            raise RuntimeError("out of load customers: lower --messages or the levels")
        self.next += 1
        lang = "en" if index % 2 == 0 else "fr"  # load customers alternate EN, FR
        if index % 4 == 3:
            scripts = ANGRY[lang]
        else:
            scripts = ROUTINE[lang]
        return load_sender(index), scripts[(index // 4) % len(scripts)]


class Driver:
    """Sends one customer's messages and waits for each reply: Relais or plain Rasa."""

    def __init__(self, http: aiohttp.ClientSession, base: str, plain: bool, run_id: str) -> None:
        self.http, self.base, self.plain, self.run_id = http, base, plain, run_id
        self.after: dict[str, int] = {}
        #: Each load customer's web chat visitor cookie (the session keeps none: it is shared).
        self.cookies: dict[str, str] = {}

    async def identity(self, sender: str) -> dict[str, str]:
        """The Cookie header of load customer `sender` in the web chat: picked once as a demo
        customer (the stack runs in demo mode, as `make run`), as the chat page picks one."""
        if sender not in self.cookies:
            async with self.http.post(
                f"{self.base}/api/chat/customers", json={"customer": sender}
            ) as r:
                r.raise_for_status()
                self.cookies[sender] = r.cookies[VISITOR_COOKIE].value
        return {"Cookie": f"{VISITOR_COOKIE}={self.cookies[sender]}"}

    async def say(self, sender: str, text: str, level: Level) -> str:
        """Sends `text`; returns "answered", "handoff" or "no_reply" (and records the latency)."""
        cookie = {} if self.plain else await self.identity(sender)
        started = time.perf_counter()
        if self.plain:
            async with self.http.post(
                f"{self.base}/webhooks/rest/webhook",
                json={"sender": f"{self.run_id}-{sender}", "message": text},
            ) as r:
                r.raise_for_status()
                await r.read()
            level.latencies_ms.append((time.perf_counter() - started) * 1000)
            return "answered"
        async with self.http.post(
            f"{self.base}/api/chat/messages", json={"text": text}, headers=cookie
        ) as r:
            r.raise_for_status()
            posted = (await r.json())["message_id"]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            async with self.http.get(
                f"{self.base}/api/chat/messages",
                params={"after": str(posted), "wait": "10"},
                headers=cookie,
            ) as r:
                r.raise_for_status()
                data = await r.json()
            if any(m["author"] != "customer" for m in data["messages"]):
                level.latencies_ms.append((time.perf_counter() - started) * 1000)
                return "handoff" if data["state"] in ("waiting", "with_agent") else "answered"
            if data["state"] in ("waiting", "with_agent"):
                break  # a person holds the conversation: the bot rightly says nothing
        level.no_reply += 1
        return "no_reply"


async def run_level(
    bases: list[str],
    plain: bool,
    concurrency: int,
    messages: int,
    run_id: str,
    scripts: Conversations,
    think_s: float = 0.0,
) -> Level:
    """`concurrency` customers writing at once until `messages` messages were answered;
    each waits `think_s` seconds after a reply before writing again (0: at once)."""
    level = Level(concurrency)
    budget = {"left": messages}
    timeout = aiohttp.ClientTimeout(total=60)
    connector = aiohttp.TCPConnector(limit=0)
    # No shared cookie jar: each conversation sends its own visitor cookie (Driver.identity).
    jar = aiohttp.DummyCookieJar()
    async with aiohttp.ClientSession(timeout=timeout, connector=connector, cookie_jar=jar) as http:

        async def writer(index: int) -> None:
            # Sticky: a writer's requests go to one worker, as behind a load balancer.
            driver = Driver(http, bases[index % len(bases)], plain, run_id)
            while budget["left"] > 0:
                sender, script = scripts.take()
                for text in script:
                    if budget["left"] <= 0:
                        return
                    budget["left"] -= 1
                    if think_s:
                        await asyncio.sleep(think_s)
                    outcome = await driver.say(sender, text, level)
                    if outcome == "handoff":
                        level.handoffs += 1
                        break
                    if outcome == "no_reply":
                        break

        started = time.perf_counter()
        # Paced writers start spread over one pause, as people who did not all hit "send"
        # at the same instant.
        await asyncio.gather(
            *(delayed(writer(i), think_s * i / concurrency) for i in range(concurrency))
        )
        level.wall_s = time.perf_counter() - started
    return level


async def delayed(job: Any, seconds: float) -> None:
    await asyncio.sleep(seconds)
    await job


def measured_level(
    stack: Stack,
    concurrency: int,
    messages: int,
    run_id: str,
    scripts: Conversations,
    think_s: float = 0.0,
    to_rasa: bool = False,
) -> dict[str, Any]:
    """One level on `stack` (run_level), summarised, with the CPU each process used on it.
    `to_rasa`: the messages go to the Rasa servers' REST channel, as for plain Rasa."""
    plain = stack.plain or to_rasa
    bases = stack.rasa_urls if plain else stack.worker_urls
    before, load_before = stack.cpu_seconds(), time.process_time()
    level = asyncio.run(run_level(bases, plain, concurrency, messages, run_id, scripts, think_s))
    after, load_after = stack.cpu_seconds(), time.process_time()
    summary = level.summary()
    after["load"], before["load"] = load_after, load_before
    summary["cpu_ms_per_message"] = cpu_ms_per_message(before, after, summary["messages"])
    return summary


def cpu_ms_per_message(
    before: dict[str, float], after: dict[str, float], messages: int
) -> dict[str, float]:
    """CPU milliseconds per message of each process between two readings of
    `Stack.cpu_seconds`; the PostgreSQL server processes ("postgres:<pid>") add up to one."""
    used: dict[str, float] = {}
    for key, seconds in after.items():
        name = key.split(":")[0]
        used[name] = used.get(name, 0.0) + seconds - before.get(key, 0.0)
    return {name: round(1000 * s / messages, 2) for name, s in used.items()} if messages else {}


def measure(
    name: str,
    stack: Stack,
    levels: list[int],
    per_level: int,
    run_id: str,
    to_rasa: bool = False,
) -> dict[str, Any]:
    plain = stack.plain or to_rasa
    bases = stack.rasa_urls if plain else stack.worker_urls
    scripts = Conversations()
    print(f"[{name}] warming up", flush=True)
    asyncio.run(run_level(bases, plain, 4, 40, run_id, scripts))
    results = []
    for concurrency in levels:
        count = max(per_level, concurrency * 10)
        summary = measured_level(stack, concurrency, count, run_id, scripts, to_rasa=to_rasa)
        results.append(summary)
        print(
            f"[{name}] c={concurrency:>3}  {summary['msgs_per_s']:>7.2f} msgs/s  "
            f"p50 {summary['p50_ms']:>8.1f} ms  p99 {summary['p99_ms']:>8.1f} ms  "
            f"({summary['messages']} msgs, {summary['no_reply']} unanswered, "
            f"{summary['handoffs']} handoffs)  CPU ms/msg: {cpu_line(summary)}",
            flush=True,
        )
    # The same 20 conversations, each customer taking PACED_THINK_S to read and type.
    paced = measured_level(
        stack, HEADLINE_CONCURRENCY, per_level, run_id, scripts, PACED_THINK_S, to_rasa
    )
    print(
        f"[{name}] c={HEADLINE_CONCURRENCY:>3}, {PACED_THINK_S:g} s between a reply and the "
        f"next message: {paced['msgs_per_s']:.2f} msgs/s  p50 {paced['p50_ms']:.1f} ms  "
        f"p99 {paced['p99_ms']:.1f} ms",
        flush=True,
    )
    return {
        "levels": results,
        "paced": {**paced, "think_s": PACED_THINK_S},
        "peak_memory_mib": stack.peak_memory(),
        "processes": [s.name for s in stack.services],
    }


def cpu_line(summary: dict[str, Any]) -> str:
    return ", ".join(f"{name} {ms:.1f}" for name, ms in summary["cpu_ms_per_message"].items())


#: The table's CPU columns: processes of a kind add up (rasa-1 and rasa-2 are "rasa").
KINDS = ("rasa", "actions", "relais", "postgres", "redis")


def by_kind(cpu: dict[str, float]) -> dict[str, float]:
    """CPU ms per message per kind of process the stack has, plus the stack's "total" (the
    load generator, "load", is apart: it is the benchmark, not the stack)."""
    kinds: dict[str, float] = {}
    for name, ms in cpu.items():
        kind = name.split("-")[0]
        if kind in KINDS:
            kinds[kind] = kinds.get(kind, 0.0) + ms
    kinds = {kind: round(ms, 1) for kind, ms in kinds.items()}
    return {**kinds, "total": round(sum(kinds.values()), 1), "load": cpu.get("load", 0.0)}


def ratio(a: float, b: float) -> float | None:
    return round(a / b, 2) if b else None


#: The ratios printed under the table: (key, numerator, denominator, label, TARGETS key).
RATIOS = (
    (
        "relais_over_rasa",
        "relais",
        "rasa_default",
        "Relais on SQLite / plain Rasa",
        "throughput_ratio_min",
    ),
    (
        "pg_1_over_sqlite",
        "relais_pg_1",
        "relais",
        "one PostgreSQL node / SQLite",
        "pg_1_over_sqlite_min",
    ),
    ("pg_2_over_pg_1", "relais_pg_2", "relais_pg_1", "two nodes / one node", "pg_2_over_pg_1_min"),
)


def side_by_side(results: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """The stacks in one table at HEADLINE_CONCURRENCY, and the ratios the targets are about."""
    head = {name: headline(result) for name, result in results.items()}
    columns = ["msgs/s", "p50 ms", "p99 ms", "p99 paced", *KINDS, "total", "load"]
    lines = [
        f"At {HEADLINE_CONCURRENCY} conversations; CPU in ms per message, per kind of process "
        "(total: the stack; load: the load generator)",
        f"{'':<40}" + "".join(f"{c:>10}" for c in columns),
    ]
    for name, top in head.items():
        cpu = by_kind(top["cpu_ms_per_message"])
        cells = [
            top["msgs_per_s"],
            top["p50_ms"],
            top["p99_ms"],
            results[name]["paced"]["p99_ms"],
            *(cpu.get(c) for c in [*KINDS, "total", "load"]),
        ]
        lines.append(
            f"{STACKS[name]:<40}"
            + "".join("—".rjust(10) if c is None else f"{c:>10,.1f}" for c in cells)
        )
    ratios: dict[str, Any] = {}
    for key, a, b, label, target in RATIOS:
        if a in head and b in head:
            ratios[key] = {
                "msgs_per_s": ratio(head[a]["msgs_per_s"], head[b]["msgs_per_s"]),
                "p99_ms": ratio(head[a]["p99_ms"], head[b]["p99_ms"]),
                "cpu_ms_per_message": ratio(
                    by_kind(head[a]["cpu_ms_per_message"])["total"],
                    by_kind(head[b]["cpu_ms_per_message"])["total"],
                ),
            }
            met = (ratios[key]["msgs_per_s"] or 0) >= TARGETS[target]
            lines.append(
                f"{label}: {ratios[key]['msgs_per_s']}× the messages per second "
                f"(target ≥ {TARGETS[target]}×: {'met' if met else 'missed'}), "
                f"{ratios[key]['p99_ms']}× the p99, {ratios[key]['cpu_ms_per_message']}× the "
                "CPU per message"
            )
    if "relais" in head:
        p99, limit = head["relais"]["p99_ms"], TARGETS["relais_p99_ms_max"]
        lines.append(
            f"Relais on SQLite, p99 {p99:,.0f} ms (target ≤ {limit} ms: "
            f"{'met' if p99 <= limit else 'missed'})"
        )
    return "\n".join(lines), ratios


def fresh_database(url: str) -> None:
    """Drops and creates the PostgreSQL database of `url` (a benchmark starts from nothing)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    admin.dispose()


def prepare_records(url: str, customers: int) -> None:
    from handoff.seed import seed_agents
    from relais.storage.db import create_all, make_engine, session_scope
    from relais.tools.seed import seed

    engine = make_engine(url)
    create_all(engine)
    with session_scope(engine) as session:
        seed(session, anchor=date.today())
        seed_agents(session)
        add_load_customers(session, customers)
    engine.dispose()


def headline(result: dict[str, Any]) -> dict[str, Any]:
    """The level at HEADLINE_CONCURRENCY (or the nearest measured)."""
    levels = result["levels"]
    return min(levels, key=lambda lv: abs(lv["concurrency"] - HEADLINE_CONCURRENCY))


def plot(results: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (p50, p99) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, result in results.items():
        xs = [lv["concurrency"] for lv in result["levels"]]
        p50.plot(xs, [lv["p50_ms"] for lv in result["levels"]], marker="o", label=name)
        p99.plot(xs, [lv["p99_ms"] for lv in result["levels"]], marker="o", label=name)
    for axis, title in ((p50, "median latency"), (p99, "p99 latency")):
        axis.set_xlabel("concurrent conversations")
        axis.set_ylabel("ms")
        axis.set_title(title)
        axis.grid(alpha=0.3)
        axis.legend()
    p99.axhline(250, color="grey", linestyle="--", linewidth=1)
    figure.suptitle(f"Relais vs plain Rasa, {platform.node()}, {date.today()}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--levels", default="1,5,10,20", help="concurrent conversations to measure, comma-separated"
    )
    parser.add_argument(
        "--messages",
        type=int,
        default=300,
        help="messages per level (at least 10 per conversation)",
    )
    parser.add_argument(
        "--no-scale-out",
        action="store_true",
        help="skip the PostgreSQL + Redis runs with one and two of each server",
    )
    parser.add_argument(
        "--only",
        choices=list(STACKS),
        action="append",
        help="run only these stacks (repeatable)",
    )
    parser.add_argument(
        "--tracker-store",
        choices=TRACKER_STORES,
        default=DEFAULT_TRACKER_STORE,
        help="Rasa's tracker store in the scale-out runs (docs/tracker-store.md)",
    )
    parser.add_argument(
        "--straight-to-rasa",
        action="store_true",
        help="send the scale-out runs' messages to the Rasa servers' REST channel, past the "
        "Relais workers: what Rasa itself handles with the tracker store (docs/tracker-store.md)",
    )
    parser.add_argument(
        "--plain-math-threads",
        action="store_true",
        help="start plain Rasa with Relais's thread limit for NumPy/OpenMP (RELAIS_MATH_THREADS) "
        "instead of the libraries' default",
    )
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/relais_bench")
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/1",
        help="Redis for Rasa's lock store (and trackers with --tracker-store rasa-redis)",
    )
    parser.add_argument("--out", default=str(ROOT / "reports" / "bench.json"))
    args = parser.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    wanted = [
        name
        for name in STACKS
        if (name in args.only if args.only else not (args.no_scale_out and "_pg_" in name))
    ]
    needed = [DEFAULT_MODEL] if "rasa_default" in wanted else []
    needed += [MODEL] if any(name.startswith("relais") for name in wanted) else []
    for model in needed:
        if not model.exists():
            print(f"{model} is missing: `make bench` trains it first", file=sys.stderr)
            return 2
    customers = LOAD_CUSTOMERS
    work = Path(tempfile.mkdtemp(prefix="relais-bench-"))
    run_id = datetime.now().strftime("%H%M%S")
    results: dict[str, dict[str, Any]] = {}
    for name in wanted:
        workdir = work / name
        if name == "rasa_default":
            # Plain Rasa as `rasa run` starts it: the numerical libraries pick their own thread
            # count, unless --plain-math-threads gives it Relais's setting too.
            shared = settings().shared_environment()
            if not args.plain_math_threads:
                shared = {k: v for k, v in shared.items() if k not in MATH_THREAD_VARIABLES}
            stack = Stack(workdir, plain=True, shared=shared)
        elif name == "relais":
            url = f"sqlite:///{workdir / 'relais.db'}"
            workdir.mkdir(parents=True)
            prepare_records(url, customers)
            stack = Stack(workdir, database_url=url, extra_env=DEMO)
        else:
            n = int(name[-1])
            fresh_database(args.pg_url)
            fresh_database(args.pg_url + "_rasa")
            prepare_records(args.pg_url, customers)
            stack = Stack(
                workdir,
                database_url=args.pg_url,
                rasa_servers=n,
                action_servers=n,
                workers=n,
                shared_rasa=True,
                tracker_store=args.tracker_store,
                tracker_database_url=args.pg_url + "_rasa",
                redis_url=args.redis_url,
                extra_env=DEMO,
            )
            if args.tracker_store == "rasa-redis":
                _empty_redis_trackers(args.redis_url)
        print(f"[{name}] starting {workdir}", flush=True)
        with stack:
            to_rasa = args.straight_to_rasa and "_pg_" in name
            results[name] = measure(name, stack, levels, args.messages, run_id, to_rasa)
    report: dict[str, Any] = {
        "date": str(date.today()),
        "machine": platform.node(),
        "cpus": _cpus(),
        "levels": levels,
        "tracker_store": args.tracker_store,
        "straight_to_rasa": args.straight_to_rasa,
        "stacks": results,
    }
    table, ratios = side_by_side(results)
    report["cpu_ms_per_message"] = {
        name: by_kind(headline(result)["cpu_ms_per_message"]) for name, result in results.items()
    }
    report["ratios"] = ratios
    report["targets"] = TARGETS
    if "relais" in results and "rasa_default" in results:
        relais, rasa = headline(results["relais"]), headline(results["rasa_default"])
        report.update(
            {
                "concurrency": relais["concurrency"],
                "messages": relais["messages"],
                "relais_p50_ms": relais["p50_ms"],
                "relais_p99_ms": relais["p99_ms"],
                "relais_msgs_per_s": relais["msgs_per_s"],
                "rasa_default_p50_ms": rasa["p50_ms"],
                "rasa_default_p99_ms": rasa["p99_ms"],
                "rasa_default_msgs_per_s": rasa["msgs_per_s"],
                "throughput_ratio": round(relais["msgs_per_s"] / rasa["msgs_per_s"], 2)
                if rasa["msgs_per_s"]
                else None,
                "relais_paced_p99_ms": results["relais"]["paced"]["p99_ms"],
                "rasa_default_paced_p99_ms": results["rasa_default"]["paced"]["p99_ms"],
            }
        )
    for name in ("relais_pg_1", "relais_pg_2"):
        if name in results:
            top = headline(results[name])
            report[f"{name}_msgs_per_s"] = top["msgs_per_s"]
            report[f"{name}_p99_ms"] = top["p99_ms"]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    plot(results, out.with_name("bench-latency.png"))
    print(f"\n{table}\n", flush=True)
    print(f"written: {out} and {out.with_name('bench-latency.png')}")
    return 0


def _empty_redis_trackers(url: str) -> None:
    """Removes the trackers an earlier run left in Redis (a benchmark starts from nothing)."""
    import redis

    client = redis.Redis.from_url(url)
    for key in client.scan_iter("relais:tracker:*"):
        client.delete(key)


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    sys.exit(main())
