"""The fast TF-IDF transform gives scikit-learn's matrix (relais/ml/tfidf.py)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_union

from relais.ml.tfidf import transform_any

TRAIN = [
    "where is my bag",
    "my flight XY123 is late again!!",
    "je veux un remboursement",
    "où est mon bagage ?",
    "can I change my seat",
    "merci beaucoup",
    "thanks a lot",
]
UNSEEN = ["my bag is late", "", "remboursement de mon vol XY221 svp", "zzz qqq", "SEAT seat seat"]


@pytest.mark.parametrize(
    "vectorizer",
    [
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=1),
        TfidfVectorizer(norm="l1", use_idf=False),
        TfidfVectorizer(norm=None, smooth_idf=False),
    ],
)
def test_same_matrix_as_scikit_learn(vectorizer: TfidfVectorizer) -> None:
    vectorizer.fit(TRAIN)
    for texts in (UNSEEN, UNSEEN[:1], TRAIN):
        ours, theirs = transform_any(vectorizer, texts), vectorizer.transform(texts)
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours.toarray(), theirs.toarray(), rtol=1e-12, atol=1e-12)


def test_a_union_of_vectorizers_too() -> None:
    union = make_union(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
        TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4)),
    )
    union.fit(TRAIN)
    np.testing.assert_allclose(
        transform_any(union, UNSEEN).toarray(),
        union.transform(UNSEEN).toarray(),
        rtol=1e-12,
        atol=1e-12,
    )
