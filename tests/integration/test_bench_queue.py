"""bench/claims.py (make bench-queue), small: 8 agents empty a queue of 300 on PostgreSQL, each
taken exactly once, nobody over capacity."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url

from bench.claims import main
from tests.conftest import POSTGRES_URL


@pytest.fixture
def bench_url(postgres_admin: Engine) -> Iterator[str]:
    """The URL of a database the benchmark creates and drops; dropped here too if it failed."""
    name = f"relais_test_{uuid.uuid4().hex[:12]}"
    yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    with postgres_admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_every_conversation_is_claimed_exactly_once(bench_url: str, tmp_path: Path) -> None:
    out = tmp_path / "bench-queue.json"
    status = main(
        ["--agents", "8", "--conversations", "300", "--database-url", bench_url, "--out", str(out)]
    )
    result = json.loads(out.read_text())
    assert status == 0, result
    assert result["claims"] == result["conversations"] == 300
    checks = ("double_claims", "over_capacity", "unclaimed", "mismatched", "errors")
    assert [result[check] for check in checks] == [0, 0, 0, 0, 0]
    # Room for an equal share each, rounded up: together the agents can hold the whole queue.
    assert result["capacity"] == 38 and result["database"].startswith("postgresql ")
    assert result["claims_per_s"] > 0 and result["claim_p99_ms"] >= result["claim_p50_ms"]
    assert result["cpu_ms_per_claim"]["bench"] > 0
