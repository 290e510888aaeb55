"""`make bench-queue`: the agents' queue claim at scale on PostgreSQL: N waiting conversations,
M agents racing.

A fresh database (dropped first if it exists, dropped again at the end) is filled with
--conversations waiting escalations, made by the project's own intake (`conversation_for`,
`open_escalation`) with mixed priorities 1-4, channels and deadlines. --agents agents, online
and with room for the whole queue, then start together, one thread each, and claim with
`run_atomic(engine, lambda s: claim_next(s, agent, now))` until the queue is empty.

Checked: every escalation claimed exactly once (double_claims: ids claimed more than once;
unclaimed: escalations nobody claimed, or left waiting), and in the database each claimed
escalation and its conversation are held by the agent that claimed it (mismatched).
Printed and written to reports/bench-queue.json; exits with 1 if any check fails.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from handoff.intake import open_escalation
from handoff.queue import claim_next
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


def fill(engine: Engine, conversations: int, agents: int, now: datetime) -> list[int]:
    """Queues `conversations` escalations as the intake makes them; returns the agents' ids.

    Arrivals are spread over the last `conversations` seconds, with random priorities and
    channels (seeded, so every run has the same queue); the agents are online and each has
    room for the whole queue, so capacity never stops them.
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
    with session_scope(engine) as session:
        added = [
            Agent(
                username=f"bench-agent-{i}",
                display_name=f"Agent {i}",
                password_hash="x",
                capacity=conversations,
                last_seen_at=now,
            )
            for i in range(agents)
        ]
        session.add_all(added)
        session.flush()
        return [agent.id for agent in added]


@dataclass
class AgentRun:
    """What one agent's thread did."""

    agent_id: int
    claimed: list[int] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  #: seconds per successful claim
    error: BaseException | None = None


def agent_loop(engine: Engine, run: AgentRun, start: threading.Barrier) -> None:
    """Claims the next conversation, each in its own transaction, until the queue is empty."""

    def claim_one(session: Session) -> int | None:
        agent = session.get(Agent, run.agent_id)
        assert agent is not None
        escalation = claim_next(session, agent, utcnow())
        return escalation.id if escalation is not None else None

    try:
        start.wait()
        while True:
            began = time.perf_counter()
            escalation_id = run_atomic(engine, claim_one)
            if escalation_id is None:
                return
            run.latencies.append(time.perf_counter() - began)
            run.claimed.append(escalation_id)
    except BaseException as error:  # noqa: BLE001 - reported by the caller
        run.error = error


def race(engine: Engine, agent_ids: list[int]) -> tuple[list[AgentRun], float]:
    """Every agent claims at once until the queue is empty; returns their runs and the wall time."""
    runs = [AgentRun(agent_id) for agent_id in agent_ids]
    start = threading.Barrier(len(runs) + 1)
    threads = [
        threading.Thread(target=agent_loop, args=(engine, run, start), daemon=True) for run in runs
    ]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return runs, time.perf_counter() - began


def check(engine: Engine, runs: list[AgentRun]) -> dict[str, int]:
    """Double claims, unclaimed escalations, and claims the database does not agree with."""
    claimer: dict[int, int] = {}
    counts: Counter[int] = Counter()
    for run in runs:
        for escalation_id in run.claimed:
            counts[escalation_id] += 1
            claimer[escalation_id] = run.agent_id
    with session_scope(engine) as session:
        rows = session.execute(
            select(
                Escalation.id,
                Escalation.status,
                Escalation.agent_id,
                Conversation.agent_id.label("conversation_agent_id"),
            ).join(Conversation, Conversation.id == Escalation.conversation_id)
        ).all()
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
        agent_ids = fill(engine, args.conversations, args.agents, utcnow())
        fill_s = time.perf_counter() - began
        print(f"filled {args.conversations} conversations in {fill_s:.1f} s", flush=True)
        runs, wall_s = race(engine, agent_ids)
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
        "claims": claims,
        **checks,
        "errors": len(errors),
        "wall_s": round(wall_s, 2),
        "claims_per_s": round(claims / wall_s, 1) if wall_s else 0.0,
        "claim_p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "claim_p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
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
    failed = checks["double_claims"] or checks["unclaimed"] or checks["mismatched"] or errors
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
