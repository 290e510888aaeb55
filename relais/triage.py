"""`relais triage`: the trained model plus the live bot's escalation policy, one message at a time.

This module imports Rasa (it loads the model in-process); bot/ and handoff/ never import it.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

from relais.config import settings
from relais.policy import Signals, decide

logger = logging.getLogger(__name__)


class TriageError(Exception):
    """The model could not be found or loaded."""


def latest_model(models_dir: Path | None = None) -> Path:
    """The newest model archive in `models/`."""
    directory = models_dir or settings().repo_root / "models"
    archives = sorted(directory.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not archives:
        raise TriageError(f"no trained model in {directory}: run `make train` first")
    return archives[-1]


@dataclass
class Triage:
    """Parses messages with a Rasa model and applies the escalation policy to each."""

    agent: Any
    loop: asyncio.AbstractEventLoop

    @classmethod
    def load(cls, model: Path | None = None) -> "Triage":
        _quiet_rasa()
        from rasa.core.agent import Agent

        path = model or latest_model()
        if not path.exists():
            raise TriageError(f"model {path} does not exist")
        loop = asyncio.new_event_loop()
        agent = Agent.load(str(path))
        if not agent.is_ready():
            raise TriageError(f"model {path} could not be loaded")
        return cls(agent=agent, loop=loop)

    parse_ms: list[float] = field(default_factory=list)
    decide_ms: list[float] = field(default_factory=list)

    def parse(self, text: str) -> dict[str, Any]:
        """Rasa's own parse of `text` (intent, entities, language…)."""
        started = time.perf_counter()
        parse = self.loop.run_until_complete(self.agent.parse_message(text))
        self.parse_ms.append((time.perf_counter() - started) * 1000)
        return parse

    def timings(self, since: dict[str, int] | None = None) -> dict[str, Any]:
        """Medians of what Relais adds to a parse (language, anger, the parts of a message,
        the policy) and of the parse, which includes those components.

        With `since` (an earlier result), only the messages triaged after it count.
        """
        from relais.nlu import anger, intent, language

        start = since["_positions"] if since else [0, 0, 0, 0, 0]
        parse = self.parse_ms[start[0]:]
        added = [sum(step) for step in zip(
            anger.TIMINGS_MS[start[1]:], language.TIMINGS_MS[start[2]:], self.decide_ms[start[3]:],
            intent.PART_TIMINGS_MS[start[4]:],
        )]
        return {
            "messages": len(parse),
            "parse_ms_median": round(statistics.median(parse), 3) if parse else 0.0,
            "added_ms_median": round(statistics.median(added), 3) if added else 0.0,
            "added_ms_p95": round(sorted(added)[int(len(added) * 0.95)], 3) if added else 0.0,
            "_positions": [len(self.parse_ms), len(anger.TIMINGS_MS),
                           len(language.TIMINGS_MS), len(self.decide_ms),
                           len(intent.PART_TIMINGS_MS)],
        }

    def triage(self, text: str) -> dict[str, Any]:
        """One output line for `text`, from the same decision code the live bot uses."""
        parse = self.parse(text)
        started = time.perf_counter()
        result = row(text, parse)
        self.decide_ms.append((time.perf_counter() - started) * 1000)
        return result


def _quiet_rasa() -> None:
    """Rasa's structured debug log goes to stdout by default: keep stdout for the JSON lines."""
    import sys

    import structlog

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    for name in ("rasa", "tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)


def row(text: str, parse: dict[str, Any]) -> dict[str, Any]:
    """The triage record of one parsed message (shared with tests and the evaluation)."""
    signals = Signals.from_parse(text, parse)
    decision = decide(signals)
    return {
        "text": text,
        "lang": parse.get("language"),
        "intent": signals.intent,
        "confidence": round(signals.confidence, 4),
        "anger": round(signals.anger, 4),
        **decision.as_dict(),
    }


def read_inputs(stream: IO[str]) -> Iterator[tuple[str | None, str | None]]:
    """(text, None) per valid input line, (None, error) per invalid one; blank lines skipped."""
    for number, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            yield None, f"line {number}: not JSON ({error.msg})"
            continue
        if not isinstance(data, dict) or not isinstance(data.get("text"), str):
            yield None, f'line {number}: expected an object with a string "text"'
            continue
        yield data["text"], None


def run(inputs: Iterable[tuple[str | None, str | None]], out: IO[str], triage: Triage) -> int:
    """Writes one JSON line per input, in order; returns how many inputs were invalid."""
    errors = 0
    started = time.perf_counter()
    count = 0
    for text, error in inputs:
        if error is not None or text is None:
            errors += 1
            out.write(json.dumps({"error": error}, ensure_ascii=False) + "\n")
            continue
        out.write(json.dumps(triage.triage(text), ensure_ascii=False) + "\n")
        out.flush()
        count += 1
    logger.info("triaged %d messages in %.1fs", count, time.perf_counter() - started)
    return errors
