"""Function-word cues used alongside the trained language model."""

from __future__ import annotations

from relais.core.language import EN, FR, OTHER, cue_language


def test_cues_tell_english_from_french() -> None:
    assert cue_language("where is my bag, it's still not here") == EN
    assert cue_language("ma valise est pas arrivée et j'ai rien") == FR


def test_other_languages_are_flagged() -> None:
    assert cue_language("hola, dónde está mi maleta por favor") == OTHER
    assert cue_language("wo ist mein koffer bitte, ich habe keine info") == OTHER


def test_no_evidence_gives_none() -> None:
    assert cue_language("XY4K2P") is None
    assert cue_language("👍") is None
