"""`make bench-queue`: the agents' queue claim at scale on PostgreSQL: N waiting conversations,
M agents racing.

A fresh database (dropped first if it exists, dropped again at the end) is filled with
--conversations waiting escalations, made by the project's own intake (`conversation_for`,
`open_escalation`) with mixed priorities 1-4, channels and deadlines. --agents agents, online
and each with room for an equal share of the queue (so that together they can hold all of it,
and capacity stops each agent at the end), then start together, one thread and one database
connection each, and claim with `run_atomic(engine, lambda s: claim_next(s, agent, now))` until
the queue is empty or they are full. Each agent is read once before the race: `claim_next`
reads and locks the agent's row itself, so what is timed is the claim and its transaction.

Checked: every escalation claimed exactly once (double_claims: ids claimed more than once;
unclaimed: escalations nobody claimed, or left waiting), no agent holding more than their
capacity (over_capacity), and in the database each claimed escalation and its conversation are
held by the agent that claimed it (mismatched). Also measured: the CPU time per claim of this
process and, when the server runs on this machine, of the PostgreSQL sessions that served the
claims (`cpu_ms_per_claim`). Printed and written to reports/bench-queue.json; exits with 1 if
any check fails.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from handoff.intake import open_escalation
from handoff.queue import QueueError, claim_next
from relais.core.brand import load_brand
from relais.core.handoff import HandoffPayload
from relais.core.types import EscalationStatus, utcnow
from relais.storage.conversations import Conversation
from relais.storage.db import create_all, make_engine, run_atomic, session_scope
from relais.storage.escalations import Agent, Escalation
from relais.storage.messages import conversation_for

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/relais_bench_queue"
CHANNELS = ("web", "telegram", "x")
#: Conversations per intake transaction while filling the queue.
BATCH = 1000


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else 0.0


def recreate_database(url: str) -> None:
    """Drops the database of `url` if it exists and creates it empty."""
    name = make_url(url).database
    # FORCE: an earlier run that crashed may have left connections open.
    _on_server(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')


def drop_database(url: str) -> None:
    _on_server(url, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


def _on_server(url: str, *statements: str) -> None:
    """Runs `statements` outside a transaction from the server's `postgres` database."""
    admin = create_engine(
        make_url(url).set(database="postgres"),
        future=True,
        isolation_level="AUTOCOMMIT",
        poolclass=NullPool,
    )
    try:
        with admin.connect() as connection:
            for statement in statements:
                connection.execute(text(statement))
    finally:
        admin.dispose()


def fill(engine: Engine, conversations: int, agents: int, now: datetime) -> list[Agent]:
    """Queues `conversations` escalations as the intake makes them; returns the agents.

    Arrivals are spread over the last `conversations` seconds, with random priorities and
    channels (seeded, so every run has the same queue); the agents are online and each has
    room for an equal share of the queue, rounded up. The agents are returned detached from
    any session, to be handed to `claim_next` in the agents' own transactions.
    """
    brand = load_brand()
    chance = random.Random(0)
    for start in range(0, conversations, BATCH):
        with session_scope(engine) as session:
            for i in range(start, min(start + BATCH, conversations)):
                conversation = conversation_for(session, CHANNELS[i % len(CHANNELS)], f"bench-{i}")
                payload = HandoffPayload(
                    reasons=("human_request",),
                    priority=chance.randint(1, 4),
                    summary=f"Benchmark conversation {i}.",
                    intent="complaint",
                    language=chance.choice(("en", "fr")),
                )
                arrived = now - timedelta(seconds=conversations - i)
                _, created = open_escalation(session, conversation, payload, arrived, brand)
                assert created, f"conversation {conversation.id} was already in the queue"
    session = Session(engine, future=True, expire_on_commit=False)
    with session:
        added = [
            Agent(
                username=f"bench-agent-{i}",
                display_name=f"Agent {i}",
                password_hash="x",
                capacity=math.ceil(conversations / agents),
                last_seen_at=now,
            )
            for i in range(agents)
        ]
        session.add_all(added)
        session.commit()
    return added


@dataclass
class AgentRun:
    """What one agent's thread did."""

    agent: Agent
    claimed: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  #: seconds per successful claim
    error: BaseException | None = None


def agent_loop(engine: Engine, run: AgentRun, start: threading.Barrier) -> None:
    """Claims the next conversation, each in its own transaction, until the queue is empty or
    the agent is full."""

    def claim_one(session: Session) -> int | None:
        escalation = claim_next(session, run.agent, utcnow())
        return escalation.id if escalation is not None else None

    try:
        # Every agent's connection is open before the start (a console's would be), so the
        # race times claims, not connecting, and `ServerCpu` knows every session.
        connection = engine.connect()
        start.wait()
        connection.close()
        while True:
            began = time.perf_counter()
            try:
                escalation_id = run_atomic(engine, claim_one)
            except QueueError as error:
                if "capacity" in str(error):
                    return
                raise
            if escalation_id is None:
                return
            run.latencies.append(time.perf_counter() - began)
            run.claimed.append(escalation_id)
    except BaseException as error:  # noqa: BLE001 - reported by the caller
        run.error = error


class ServerCpu:
    """CPU seconds used by the PostgreSQL sessions of `engine`'s connections, read from /proc
    when the server runs on this machine (None otherwise)."""

    def __init__(self, engine: Engine) -> None:
        self.database = str(engine.url.database)
        self.pids: set[int] = set()
        event.listen(engine, "connect", self._connected)

    def _connected(self, dbapi_connection: Any, _record: object) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SELECT pg_backend_pid()")
        self.pids.add(int(cursor.fetchone()[0]))
        cursor.close()

    def seconds(self) -> float | None:
        total = 0
        for pid in sorted(self.pids):
            try:
                # A pid of this machine that is a session of this database, not a namesake
                # (the server may run elsewhere, or in a container with its own pids).
                if f" {self.database} ".encode() not in Path(f"/proc/{pid}/cmdline").read_bytes():
                    return None
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                return None
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / os.sysconf("SC_CLK_TCK")


def race(engine: Engine, agents: list[Agent]) -> tuple[list[AgentRun], float, dict[str, Any]]:
    """Every agent claims at once until the queue is empty; returns their runs, the wall time
    and the CPU time per claim of this process and of the server's sessions."""
    server = ServerCpu(engine)
    runs = [AgentRun(agent) for agent in agents]
    start = threading.Barrier(len(runs) + 1)
    threads = [
        threading.Thread(target=agent_loop, args=(engine, run, start), daemon=True) for run in runs
    ]
    for thread in threads:
        thread.start()
    start.wait()
    began, began_cpu, began_server = time.perf_counter(), time.process_time(), server.seconds()
    for thread in threads:
        thread.join()
    wall_s, cpu_s, ended_server = (
        time.perf_counter() - began,
        time.process_time() - began_cpu,
        server.seconds(),
    )
    claims = max(1, sum(len(run.claimed) for run in runs))
    cpu = {
        "bench": round(cpu_s / claims * 1000, 2),
        "postgresql": (
            round((ended_server - began_server) / claims * 1000, 2)
            if began_server is not None and ended_server is not None
            else None
        ),
    }
    return runs, wall_s, cpu


def check(engine: Engine, runs: list[AgentRun]) -> dict[str, int]:
    """Double claims, agents over capacity, unclaimed escalations, and claims the database does
    not agree with."""
    claimer: dict[int, int] = {}
    counts: Counter[int] = Counter()
    for run in runs:
        for escalation_id in run.claimed:
            counts[escalation_id] += 1
            claimer[escalation_id] = run.agent.id
    with session_scope(engine) as session:
        rows = session.execute(
            select(
                Escalation.id,
                Escalation.status,
                Escalation.agent_id,
                Conversation.agent_id.label("conversation_agent_id"),
            ).join(Conversation, Conversation.id == Escalation.conversation_id)
        ).all()
        held = (
            select(Escalation.agent_id, func.count().label("held"))
            .where(Escalation.status == EscalationStatus.CLAIMED)
            .group_by(Escalation.agent_id)
            .subquery()
        )
        over_capacity = session.execute(
            select(func.count())
            .select_from(Agent)
            .join(held, held.c.agent_id == Agent.id)
            .where(held.c.held > Agent.capacity)
        ).scalar_one()
    unclaimed = sum(
        1 for row in rows if row.id not in claimer or row.status == EscalationStatus.WAITING
    )
    mismatched = sum(
        1
        for row in rows
        if row.id in claimer
        and (
            row.status != EscalationStatus.CLAIMED
            or row.agent_id != claimer[row.id]
            or row.conversation_agent_id != claimer[row.id]
        )
    )
    return {
        "double_claims": sum(1 for n in counts.values() if n > 1),
        "over_capacity": int(over_capacity),
        "unclaimed": unclaimed,
        "mismatched": mismatched,
    }


def server_version(engine: Engine) -> str:
    with engine.connect() as connection:
        return str(connection.execute(text("SHOW server_version")).scalar()).split()[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=50, help="agents claiming at once")
    parser.add_argument("--conversations", type=int, default=10000, help="waiting at the start")
    parser.add_argument(
        "--database-url",
        default=DEFAULT_URL,
        help="PostgreSQL database to create, use and drop (dropped first if it exists)",
    )
    parser.add_argument("--out", default=str(ROOT / "reports" / "bench-queue.json"))
    args = parser.parse_args(argv)
    if make_url(args.database_url).get_backend_name() != "postgresql":
        parser.error("--database-url must be a PostgreSQL database")

    recreate_database(args.database_url)
    # One connection per agent, and a few spare for the checks.
    engine = make_engine(args.database_url, pool_size=args.agents, max_overflow=5)
    try:
        create_all(engine)
        began = time.perf_counter()
        agents = fill(engine, args.conversations, args.agents, utcnow())
        fill_s = time.perf_counter() - began
        print(f"filled {args.conversations} conversations in {fill_s:.1f} s", flush=True)
        runs, wall_s, cpu = race(engine, agents)
        checks = check(engine, runs)
        version = server_version(engine)
    finally:
        engine.dispose()
        drop_database(args.database_url)

    errors = [run.error for run in runs if run.error is not None]
    latencies = [seconds for run in runs for seconds in run.latencies]
    claims = len(latencies)
    result: dict[str, Any] = {
        "agents": args.agents,
        "conversations": args.conversations,
        "capacity": agents[0].capacity if agents else 0,
        "claims": claims,
        **checks,
        "errors": len(errors),
        "wall_s": round(wall_s, 2),
        "claims_per_s": round(claims / wall_s, 1) if wall_s else 0.0,
        "claim_p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "claim_p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "cpu_ms_per_claim": cpu,
        "cores": os.cpu_count(),
        "fill_s": round(fill_s, 1),
        "database": f"postgresql {version}",
        "date": date.today().isoformat(),
    }
    for error in errors[:3]:
        print(f"an agent stopped: {error!r}", file=sys.stderr)
    print(json.dumps(result, indent=2))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    failed = any(checks.values()) or errors
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
