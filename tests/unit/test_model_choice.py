"""Each command serves Relais's own model by name, never "the newest file in models/"."""

from __future__ import annotations

from pathlib import Path

import pytest

from relais.core.config import Settings
from relais.tools.triage import Triage, TriageError


def test_the_default_model_is_relais_own_archive() -> None:
    found = Settings.from_env({})
    assert found.model_path == found.repo_root / "models" / "relais.tar.gz"


def test_relais_model_picks_another_archive(tmp_path: Path) -> None:
    chosen = tmp_path / "other.tar.gz"
    assert Settings.from_env({"RELAIS_MODEL": str(chosen)}).model_path == chosen


def test_a_newer_archive_beside_it_is_not_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Another archive, written later (a benchmark's, say), must not be what triage serves.
    (tmp_path / "rasa-default.tar.gz").write_bytes(b"not relais")
    missing = tmp_path / "relais.tar.gz"
    monkeypatch.setenv("RELAIS_MODEL", str(missing))
    from relais.core.config import settings

    settings.cache_clear()
    try:
        with pytest.raises(TriageError, match="relais.tar.gz does not exist"):
            Triage.load()
    finally:
        monkeypatch.delenv("RELAIS_MODEL")
        settings.cache_clear()
