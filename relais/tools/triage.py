"""`relais triage`: the trained model plus the live bot's escalation policy, one message at a time.

The model is loaded in-process through `relais.nlu.runtime`, the tools' one door to Rasa.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from relais.core import timings
from relais.core.config import settings
from relais.core.errors import ModelError
from relais.core.policy import Signals, decide

logger = logging.getLogger(__name__)


class TriageError(ModelError):
    """The model could not be found or loaded."""


@dataclass
class Triage:
    """Parses messages with a Rasa model and applies the escalation policy to each."""

    model: Any  #: relais.nlu.runtime.LoadedModel

    @classmethod
    def load(cls, model: Path | None = None) -> Triage:
        """Relais's own model (`RELAIS_MODEL`, default models/relais.tar.gz), or `model`."""
        from relais.nlu.runtime import ModelNotLoaded, load_model

        try:
            loaded = load_model(model or settings().model_path)
        except ModelNotLoaded as error:
            raise TriageError(str(error)) from error
        timings.collect()  # this tool reports what each stage costs
        return cls(model=loaded)

    parse_ms: list[float] = field(default_factory=list)
    decide_ms: list[float] = field(default_factory=list)

    def parse(self, text: str) -> dict[str, Any]:
        """Rasa's own parse of `text` (intent, entities, language…)."""
        started = time.perf_counter()
        parse = self.model.parse(text)
        self.parse_ms.append((time.perf_counter() - started) * 1000)
        return parse

    def timings(self, since: dict[str, Any] | None = None) -> dict[str, Any]:
        """Medians of what Relais adds to a parse (language, anger, the parts of a message,
        the policy) and of the parse, which includes those components.

        With `since` (an earlier result), only the messages triaged after it count.
        """
        stages = timings.collect()
        lists = [
            self.parse_ms,
            stages.get("anger", []),
            stages.get("language", []),
            self.decide_ms,
            stages.get("parts", []),
        ]
        # The knowledge retriever is reported on its own: it is the brand's answers, not the
        # triage (the stage of relais/nlu/knowledge.py).
        lists.append(stages.get("knowledge", []))
        start = since["_positions"] if since else [0] * len(lists)
        parse = lists[0][start[0] :]
        knowledge = lists[-1][start[-1] :]
        since_start = (values[s:] for values, s in zip(lists[1:-1], start[1:-1], strict=True))
        # Not strict: a stage records only while timings are collected and only if its
        # component is in the pipeline, so the lists can differ in length.
        added = [sum(step) for step in zip(*since_start, strict=False)]
        return {
            "messages": len(parse),
            "parse_ms_median": round(statistics.median(parse), 3) if parse else 0.0,
            "added_ms_median": round(statistics.median(added), 3) if added else 0.0,
            "added_ms_p95": round(sorted(added)[int(len(added) * 0.95)], 3) if added else 0.0,
            "knowledge_ms_median": round(statistics.median(knowledge), 3) if knowledge else 0.0,
            "knowledge_ms_p95": (
                round(sorted(knowledge)[int(len(knowledge) * 0.95)], 3) if knowledge else 0.0
            ),
            "_positions": [len(values) for values in lists],
        }

    def triage(self, text: str) -> dict[str, Any]:
        """One output line for `text`, from the same decision code the live bot uses."""
        parse = self.parse(text)
        started = time.perf_counter()
        result = row(text, parse)
        self.decide_ms.append((time.perf_counter() - started) * 1000)
        return result


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
