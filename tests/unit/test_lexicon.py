"""Our emotion lexicons: the file format, matching, and the features the anger model reads."""

from __future__ import annotations

from collections import Counter

import pytest

from relais.core.lexicon import (
    CATEGORIES,
    FILES,
    LexiconError,
    default_lexicon,
    feelings,
    read,
    tokens,
)

SAMPLE = """# a comment line
anger\tfurious\t3
anger\tinfuriat*\t3
anger\thow dare you\t3
anger\tfed up with*\t2
anger\t😡\t3
anger\tincompét*\t2
sadness\tsad\t2
fear\tj'ai peur\t3
joy\tdelighted\t2
"""


@pytest.fixture(scope="module")
def sample():
    return read(SAMPLE.splitlines(), "sample")


def category(name: str) -> int:
    return CATEGORIES.index(name)


def test_words_stems_phrases_hashtags_and_emoji(sample) -> None:
    assert sample.matches("I am FURIOUS") == [("anger", 3)]
    assert sample.matches("this is infuriating") == [("anger", 3)]
    assert sample.matches("#infuriated again") == [("anger", 3)]
    assert sample.matches("How dare you!") == [("anger", 3)]
    assert sample.matches("so fed up with waiting") == [("anger", 2)]
    assert sample.matches("😡😡") == [("anger", 3), ("anger", 3)]
    assert sample.matches("nothing to see here") == []


def test_french_elision_and_curly_apostrophes(sample) -> None:
    assert sample.matches("quelle l'incompétence") == [("anger", 2)]
    assert sample.matches("J’ai peur") == [("fear", 3)]


def test_a_phrase_word_is_not_counted_again_alone() -> None:
    lexicon = read(
        ["anger\tfed up\t2", "anger\tup\t1", "anger\tfed up with*\t3", "sadness\tfed up with*\t1"],
        "overlap",
    )
    assert lexicon.matches("fed up") == [("anger", 2)]
    assert lexicon.matches("get up") == [("anger", 1)]
    assert lexicon.matches("fed up with this") == [("anger", 3), ("sadness", 1)]


def test_stems_match_only_word_starts(sample) -> None:
    assert sample.matches("uninfuriating") == []


def test_feelings_saturate_and_do_not_grow_with_length(sample) -> None:
    one = feelings("furious", sample)
    assert 0.6 < one[category("anger")] < 1.0
    assert feelings("furious furious furious", sample)[category("anger")] > one[category("anger")]
    padded = feelings("furious " + "and then we went home " * 30, sample)
    assert padded == one
    assert feelings("so sad", sample)[category("sadness")] > 0
    assert feelings("so sad", sample)[category("anger")] == 0


@pytest.mark.parametrize(
    "line, message",
    [
        ("anger furious 3", "expected category"),
        ("rage\tfurious\t3", "unknown category"),
        ("anger\tfurious\t5", "weight must be"),
        ("anger\tfu*ious\t2", "may only end"),
        ("anger\t!!!\t2", "has no word"),
    ],
)
def test_bad_lines_are_refused_with_their_place(line: str, message: str) -> None:
    with pytest.raises(LexiconError, match=message):
        read(["# fine", line], "bad.txt")
    with pytest.raises(LexiconError, match="bad.txt:2"):
        read(["# fine", line], "bad.txt")


def test_tokens_keep_hashtags_and_emoji() -> None:
    assert tokens("Ugh #fail 😤 l'avion") == ["ugh", "#fail", "😤", "l'avion"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_shipped_lexicons_cover_every_category_without_duplicates(path) -> None:
    entries = []
    with path.open(encoding="utf-8") as f:
        read(f, path.name)  # raises on any bad line
        f.seek(0)
        entries = [
            tuple(line.rstrip("\n").split("\t")[:2])
            for line in f
            if line.strip() and not line.startswith("#")
        ]
    counts = Counter(c for c, _ in entries)
    assert set(counts) == set(CATEGORIES)
    assert min(counts.values()) >= 50
    duplicated = [entry for entry, n in Counter(entries).items() if n > 1]
    assert duplicated == []


def test_shipped_lexicons_tell_anger_from_other_feelings() -> None:
    lexicon = default_lexicon()
    examples = {
        "anger": ["this is an absolute disgrace, I'm furious", "c'est scandaleux, je suis furieux"],
        "sadness": ["I miss her so much, heartbroken", "j'ai le cœur brisé, elle me manque"],
        "fear": ["I'm scared something bad will happen", "j'ai peur, je suis très inquiète"],
        "gratitude": ["thank you so much for your help", "merci beaucoup pour votre aide"],
    }
    for expected, texts in examples.items():
        for text in texts:
            scores = feelings(text, lexicon)
            assert max(range(len(CATEGORIES)), key=scores.__getitem__) == category(expected), text


NEGATION = """joy\thappy\t2
joy\tcontent*\t2
gratitude\tthanks\t2
gratitude\tcan't thank you enough\t3
problem\tproblem\t1
problem\tdelayed\t3
anger\tfurious\t3
"""


@pytest.fixture(scope="module")
def negation():
    return read(NEGATION.splitlines(), "negation")


@pytest.mark.parametrize(
    "text, expected",
    [
        ("not happy", [("annoyance", 2)]),
        ("I'm not at all happy", [("annoyance", 2)]),
        ("je ne suis pas du tout content", [("annoyance", 2)]),
        ("never happy with you", [("annoyance", 2)]),
        ("we weren't happy", [("annoyance", 2)]),
        ("no problem", []),
        ("pas delayed", []),
        ("no thanks", []),
    ],
)
def test_a_negator_turns_positive_words_and_denies_problems(negation, text, expected) -> None:
    assert negation.matches(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("not sure, thanks", [("gratitude", 2)]),  # punctuation ends the negation's reach
        ("not that I mind but we were very very happy", [("joy", 2)]),  # too far away
        ("can't thank you enough", [("gratitude", 3)]),  # a phrase is taken as written
        ("not furious", [("anger", 3)]),  # only positive feelings and problems turn
        ("happy", [("joy", 2)]),
    ],
)
def test_negation_stays_within_its_reach(negation, text, expected) -> None:
    assert negation.matches(text) == expected


def test_a_term_listed_twice_counts_once_at_its_larger_weight() -> None:
    lexicon = read(
        [
            "anger\twtf\t2",
            "anger\twtf\t3",
            "anger\tfurie*\t1",
            "anger\tfurie*\t2",
            "anger\thow dare\t2",
            "anger\thow dare\t3",
            "sadness\twtf\t1",
        ],
        "twice",
    )
    assert sorted(lexicon.matches("wtf")) == [("anger", 3), ("sadness", 1)]
    assert lexicon.matches("furieux") == [("anger", 2)]
    assert lexicon.matches("how dare") == [("anger", 3)]
