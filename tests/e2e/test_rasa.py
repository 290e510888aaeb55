"""Rasa's own checks: the training data validates, and the conversation tests pass."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.servers import MODEL, ROOT

pytestmark = pytest.mark.slow
RASA = str(Path(sys.executable).parent / "rasa")
ENV = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}


def test_training_data_validates() -> None:
    result = subprocess.run(
        [RASA, "data", "validate", "--fail-on-warnings"],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]


#: Our conversation tests, and the test stories designers exported (tests/stories/review).
STORIES = [
    "tests/test_stories.yml",
    *(["tests/stories"] if any(ROOT.glob("tests/stories/**/*.yml")) else []),
]


@pytest.mark.parametrize("stories", STORIES)
def test_conversation_stories_pass(tmp_path: Path, stories: str) -> None:
    result = subprocess.run(
        [
            RASA,
            "test",
            "core",
            "--stories",
            stories,
            "--model",
            str(MODEL),
            "--fail-on-prediction-errors",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=900,
    )
    failed = tmp_path / "failed_test_stories.yml"
    details = failed.read_text() if failed.exists() else ""
    assert result.returncode == 0, (details + result.stdout + result.stderr)[-6000:]
