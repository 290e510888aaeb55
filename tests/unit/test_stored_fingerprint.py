"""A Relais NLU component is retrained when the code or word lists it is built from change."""

from __future__ import annotations

import pytest

from relais.core.config import settings
from relais.nlu.anger import AngerDetector
from relais.nlu.stored import RUNTIME_ONLY, code_fingerprint, trained_from


def test_the_fingerprint_covers_the_features_code_and_lexicons() -> None:
    names = {p.name for p in trained_from()}
    assert {
        "anger_model.py",
        "social_emotions.py",
        "encoder.py",
        "emotions_en.txt",
        "emotions_fr.txt",
        "cues.py",
    } <= names
    # What only a running Rasa server uses retrains nothing, here as in the Makefile.
    assert not names & RUNTIME_ONLY
    makefile = (settings().repo_root / "Makefile").read_text(encoding="utf-8")
    assert all(f"%/{name}" in makefile for name in RUNTIME_ONLY)


def test_an_edit_changes_the_fingerprint(tmp_path) -> None:
    code = tmp_path / "anger_model.py"
    code.write_text("WEIGHT = 1\n", encoding="utf-8")
    before = code_fingerprint([code])
    assert code_fingerprint([code]) == before
    code.write_text("WEIGHT = 2\n", encoding="utf-8")
    assert code_fingerprint([code]) != before


def test_rasa_reads_it_as_the_components_cache_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RELAIS_MODEL_KEY", "key-one")
    settings.cache_clear()
    first = AngerDetector.fingerprint_addon({})
    assert first.startswith(code_fingerprint() + ":") and "key-one" not in first
    # Files signed with another key must not come back from Rasa's training cache.
    monkeypatch.setenv("RELAIS_MODEL_KEY", "key-two")
    settings.cache_clear()
    assert AngerDetector.fingerprint_addon({}) != first
    settings.cache_clear()
