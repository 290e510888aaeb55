"""`relais triage`: the trained model plus the live bot's escalation policy, one message at a time.

This module imports Rasa (it loads the model in-process); bot/ and handoff/ never import it.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
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

    def parse(self, text: str) -> dict[str, Any]:
        """Rasa's own parse of `text` (intent, entities, language…)."""
        return self.loop.run_until_complete(self.agent.parse_message(text))

    def triage(self, text: str) -> dict[str, Any]:
        """One output line for `text`, from the same decision code the live bot uses."""
        parse = self.parse(text)
        return row(text, parse)


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
    intent = parse.get("intent") or {}
    name = str(intent.get("name") or "")
    confidence = float(intent.get("confidence") or 0.0)
    decision = decide(Signals(text=text, intent=name, confidence=confidence))
    return {
        "text": text,
        "lang": parse.get("language"),
        "intent": name,
        "confidence": round(confidence, 4),
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
