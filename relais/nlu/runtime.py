"""Rasa in-process, for the tools: a trained model that parses text, and our tagged examples.

The tools (`relais triage`, `make eval`, `relais anger-check`) reach Rasa only through here.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relais.core.errors import ModelError


class ModelNotLoaded(ModelError):
    """The model archive does not exist or Rasa could not load it."""


def quiet_rasa() -> None:
    """Rasa's structured debug log goes to stdout by default: keep stdout for the tools' output."""
    import structlog

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    for name in ("rasa", "tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)


@dataclass
class LoadedModel:
    """A trained Rasa model loaded in this process, with its own event loop."""

    agent: Any
    loop: asyncio.AbstractEventLoop

    def parse(self, text: str) -> dict[str, Any]:
        """Rasa's own parse of `text` (intent, entities, language, anger…)."""
        return self.loop.run_until_complete(self.agent.parse_message(text))  # type: ignore[no-any-return]


def load_model(path: Path) -> LoadedModel:
    """Loads the model archive at `path`; raises ModelNotLoaded if it cannot."""
    if not path.exists():
        raise ModelNotLoaded(f"model {path} does not exist: run `make train` first")
    quiet_rasa()
    from rasa.core.agent import Agent

    from relais.nlu.stored import ModelSignatureError

    loop = asyncio.new_event_loop()
    try:
        agent = Agent.load(str(path))
    except ModelSignatureError as error:
        # The tools say what to do (retrain, or set the key) instead of a traceback.
        raise ModelNotLoaded(f"model {path}: {error}") from error
    if not agent.is_ready():
        raise ModelNotLoaded(f"model {path} could not be loaded")
    return LoadedModel(agent=agent, loop=loop)


@dataclass(frozen=True)
class TaggedExample:
    """One training example as the anger detector reads it."""

    text: str
    intent: str
    label: int | None  #: 1 angry, 0 calm, None untagged
    lang: str  #: from `metadata: {lang: …}`, "?" if absent


def anger_examples(path: Path) -> Iterator[TaggedExample]:
    """The examples of one NLU file that the anger detector trains on."""
    from rasa.shared.nlu.training_data.loading import load_data

    from relais.nlu.anger import UNLABELLED_INTENTS, anger_label

    for message in load_data(str(path)).intent_examples:
        text, intent = message.get("text"), message.get("intent")
        label = anger_label(message)
        if not text or (label is None and intent in UNLABELLED_INTENTS):
            continue
        metadata = (message.get("metadata") or {}).get("intent") or {}
        lang = metadata.get("lang", "?") if isinstance(metadata, dict) else "?"
        yield TaggedExample(text, intent, label, lang)
