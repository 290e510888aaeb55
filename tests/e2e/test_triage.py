"""`relais triage` and the live bot make the same handoff decisions on the same messages."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from tests.e2e.servers import MODEL, ROOT, Servers

pytestmark = pytest.mark.slow

MESSAGES = [
    "is my flight XY123 on time?",
    "I want to talk to a human right now",
    "je veux parler à un vrai conseiller",
    "this airline is a joke, worst service I've ever had",
    "service client lamentable, je suis furieux",
    "where is my refund for XY7T2M",
    "how many bags can I check",
    "what's the best pizza in Naples",
    "quelle est la recette du bœuf bourguignon",
    "thanks!",
    "bonjour",
    "can I change my booking to friday",
    "my suitcase never showed up at the belt",
    "the seat screen didn't work for the whole 9 hour flight",
    "merci pour l'annulation surprise, j'adore dormir par terre à l'aéroport",
]


def triage_lines(lines: str) -> list[dict]:
    result = subprocess.run(
        [sys.executable, "-m", "relais.tools.cli", "triage", "--model", str(MODEL)],
        input=lines,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert result.returncode in (0, 1), result.stderr[-2000:]
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_triage_and_live_bot_agree(servers: Servers) -> None:
    rows = triage_lines("".join(json.dumps({"text": m}) + "\n" for m in MESSAGES))
    assert [r["text"] for r in rows] == MESSAGES
    for row in rows:
        assert set(row) == {
            "text",
            "lang",
            "intent",
            "confidence",
            "anger",
            "handoff",
            "reasons",
            "priority",
        }
        replies = servers.say(f"web:triage-{uuid.uuid4().hex[:8]}", row["text"])
        payloads = [
            r["custom"]["relais_handoff"]
            for r in replies
            if "relais_handoff" in r.get("custom", {})
        ]
        assert bool(payloads) == row["handoff"], (row, replies)
        if payloads:
            assert payloads[0]["reasons"] == row["reasons"]
            assert payloads[0]["priority"] == row["priority"]
    assert any(r["handoff"] for r in rows) and not all(r["handoff"] for r in rows)
    assert {r["lang"] for r in rows} == {"en", "fr"}


def test_triage_keeps_order_and_reports_bad_lines() -> None:
    rows = triage_lines(
        '{"text": "bonjour"}\nnot json\n{"txt": 1}\n{"text": ""}\n{"text": "bye"}\n'
    )
    assert rows[0]["text"] == "bonjour"
    assert "not JSON" in rows[1]["error"] and "string" in rows[2]["error"]
    assert rows[3]["text"] == "" and rows[4]["text"] == "bye"


def test_sarcastic_thanks_and_failures_the_bot_cannot_fix_are_complaints() -> None:
    complaints = [
        "@CelesteAir wow, great job cancelling the only flight home tonight 👏",
        "merci pour l'annulation surprise, j'adore dormir par terre à l'aéroport",
        "the seat screen didn't work for the whole 9 hour flight",
        "le wifi à bord était coupé pendant tout le trajet",
    ]
    thanks = [
        "thank you so much for finding my bag, you saved my holiday!",
        "merci beaucoup à l'équipe de Nice, super accueil ce matin",
    ]
    rows = triage_lines("".join(json.dumps({"text": m}) + "\n" for m in complaints + thanks))
    for row in rows[: len(complaints)]:
        assert row["handoff"] and "complaint" in row["reasons"] and row["priority"] == 1, row
    for row in rows[len(complaints) :]:
        assert not row["handoff"] and row["intent"] == "thank" and row["priority"] == 4, row
