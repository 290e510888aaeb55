"""NADE's pretrained emotion model, read from its installed package
(relais/ml/social_emotions.py)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

import relais.ml.social_emotions as social
from relais.ml.social_emotions import EMOTIONS, SocialEmotionsError, prepare, social_emotions

ANGER, SADNESS = EMOTIONS.index("anger"), EMOTIONS.index("sadness")


def test_prepare_sets_punctuation_apart_and_lowers() -> None:
    assert prepare("Awful!!  Where is my BAG?") == "awful !! where is my bag ?"
    assert prepare("(late) again...") == "( late ) again ..."
    assert prepare("  ") == ""


def test_model_loads_from_the_installed_package() -> None:
    folder = social.model_dir()
    assert (folder / "nade_250k_hp.ftz").is_file()
    assert "site-packages" in str(folder) or "dist-packages" in str(folder)


def test_anger_sadness_and_calm_are_told_apart() -> None:
    scores = social_emotions(
        [
            "I am furious, you lost my bag AGAIN and nobody answers. Disgraceful!!",
            "Thank you so much, the crew was lovely and we landed early :)",
            "I miss my grandmother so much, I cried all night",
        ]
    )
    assert scores.shape == (3, len(EMOTIONS))
    assert ((scores >= 0) & (scores <= 1)).all()
    angry, happy, sad = scores
    assert angry[ANGER] > happy[ANGER] + 0.1
    assert angry[ANGER] > sad[ANGER]
    assert sad[SADNESS] > angry[SADNESS] and sad[SADNESS] > happy[SADNESS] + 0.1


def test_blank_texts_get_zeros_and_keep_their_place() -> None:
    scores = social_emotions(["", "I hate this airline", "   "])
    assert not scores[0].any() and not scores[2].any()
    assert scores[1][ANGER] > 0


def test_a_missing_package_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setattr(social.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SocialEmotionsError, match="make install"):
        social.model_dir()


def test_regressions_are_read_from_the_gzipped_copy(tmp_path) -> None:
    text = "tree\nversion=v3\n"
    with gzip.open(tmp_path / "reg_anger.txt.gz", "wt", encoding="utf-8") as f:
        f.write(text)
    assert social._read_text(tmp_path / "reg_anger.txt") == text
    with pytest.raises(SocialEmotionsError, match="reg_joy.txt"):
        social._read_text(tmp_path / "reg_joy.txt")


def test_batch_and_single_messages_agree() -> None:
    texts = ["where is my refund??", "merci beaucoup", "this is a joke, 3 hours on the tarmac"]
    together = social_emotions(texts)
    alone = np.vstack([social_emotions([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-9)


def test_one_message_path_gives_the_batch_numbers() -> None:
    model = social._model()
    texts = ["you lost my luggage AGAIN #fail", "is my flight on time?"]
    likelihoods = model.emoji_likelihoods(texts)
    for i in range(len(texts)):
        batch = [regression.predict(likelihoods[i : i + 1])[0] for regression in model._regressions]
        assert np.allclose(model._one_row.predict(likelihoods[i]), batch, atol=1e-12)
