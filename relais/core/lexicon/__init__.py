"""Relais's own emotion lexicons (English, French) and the features the anger model reads from them.

The word lists are written by the team (`emotions_en.txt`, `emotions_fr.txt` beside this file).
Each line is `category<TAB>term<TAB>weight`:

- `category`: one of `CATEGORIES`;
- `term`: a word, a stem ending in `*` ("any ending"), a phrase of several words (only its
  last word may end in `*`), a hashtag or an emoji;
- `weight`: 1-3, how strongly the term signals its category.

Why a lexicon beside the learned parts: the anger model's word n-grams only know the words of
our own examples, and the sentence embedding reads any negative text as close to anger.
A lexicon says *which* feeling a word carries (anger, not sadness or fear) for words our
examples never used, in both languages, so the model can learn one weight per feeling that
holds in English and in French alike.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from relais.core.errors import ConfigError

#: The feelings and the one non-feeling (`problem`: a service failure reported) a lexicon names.
CATEGORIES = ("anger", "annoyance", "sadness", "fear", "joy", "gratitude", "problem")
FILES = tuple(Path(__file__).with_name(f"emotions_{lang}.txt") for lang in ("en", "fr"))

#: Words: letters (with accents), digits, apostrophes and hyphens inside; hashtags keep their `#`.
_TOKEN = re.compile(r"#?[\w]+(?:['’-][\w]+)*", re.UNICODE)
#: Punctuation that ends the reach of a "not": "not sure, thanks" thanks all the same.
_CLAUSE_END = re.compile(r"[.,;:!?…()\n]")
#: Words that turn the feeling of the next few words around ("not happy", "pas content").
#: French "ne" is left out: "je ne suis que content" is not a negation, and "pas" follows it anyway.
_NEGATORS = frozenset(
    {
        "not",
        "no",
        "never",
        "hardly",
        "nothing",
        "nobody",
        "pas",
        "jamais",
        "aucun",
        "aucune",
        "guère",
        "dont",
        "cant",
        "isnt",
        "wasnt",
        "didnt",
        "doesnt",
        "wont",
        "aint",
        "arent",
        "werent",
        "havent",
        "hasnt",
        "couldnt",
        "wouldnt",
        "shouldnt",
        "cannot",
    }
)
#: How many words before a term a negator still reaches ("not at all happy", "pas du tout content").
NEGATION_REACH = 3
#: Positive feelings read as displeasure when negated: "not happy" is annoyance, not joy.
_NEGATED_AS = {"joy": "annoyance", "gratitude": "annoyance"}
#: Service failures denied: "no problem", "pas de retard", "not delayed" report none.
_DENIED = frozenset({"problem"})
#: "no thanks", "non merci": a polite no, neither thanks nor displeasure.
_DECLINES = frozenset({"no", "non"})


class LexiconError(ConfigError):
    """A lexicon file has a line that cannot be read."""


def fold(text: str) -> str:
    """Lower case, curly apostrophes made straight: how both texts and terms are compared."""
    return unicodedata.normalize("NFC", text).lower().replace("’", "'")


def tokens(text: str) -> list[str]:
    """The words of `text`, folded; emoji count as words of their own."""
    return [word for word, _ in clause_tokens(text)]


def clause_tokens(text: str) -> list[tuple[str, int]]:
    """(word, clause number) for each word of `text`: punctuation starts a new clause."""
    out: list[tuple[str, int]] = []
    folded = fold(text)
    position = 0
    clause = 0
    for match in _TOKEN.finditer(folded):
        clause = _gap(folded[position : match.start()], clause, out)
        out.append((match.group(), clause))
        position = match.end()
    _gap(folded[position:], clause, out)
    return out


def _gap(gap: str, clause: int, out: list[tuple[str, int]]) -> int:
    """Adds the emoji of the text between two words; returns the clause number after it."""
    out.extend((ch, clause) for ch in _emoji(gap))
    return clause + len(_CLAUSE_END.findall(gap))


def _is_negator(word: str) -> bool:
    return word in _NEGATORS or word.endswith(("n't", "n’t"))


def _emoji(gap: str) -> list[str]:
    # "Cn": emoji newer than this Python's Unicode tables are still symbols to us.
    return [ch for ch in gap if ord(ch) > 0x2000 and unicodedata.category(ch) in ("So", "Cn")]


@dataclass
class Lexicon:
    """Terms by category, indexed for matching word by word."""

    #: word -> [(category, weight)]
    words: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    #: stem -> [(category, weight)], for terms ending in `*`
    stems: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    #: first word -> [(rest of the words, last word is a stem, category, weight)]
    phrases: dict[str, list[tuple[tuple[str, ...], bool, str, int]]] = field(default_factory=dict)
    _stem_lengths: tuple[int, ...] = ()

    def add(self, category: str, term: str, weight: int) -> None:
        """Adds a term; a term both languages list ("wtf", an emoji) counts once, at the
        larger of its weights."""
        parts = tokens(term.rstrip("*"))
        wildcard = term.endswith("*")
        if not parts:
            raise LexiconError(f"term {term!r} has no word")
        if len(parts) == 1:
            index = self.stems if wildcard else self.words
            _keep_larger(index.setdefault(parts[0], []), (category, weight), key=(category,))
            if wildcard:
                self._stem_lengths = tuple(sorted({len(s) for s in self.stems}))
        else:
            rest = tuple(parts[1:])
            _keep_larger(
                self.phrases.setdefault(parts[0], []),
                (rest, wildcard, category, weight),
                key=(rest, wildcard, category),
            )

    def _single(self, word: str) -> list[tuple[str, int]]:
        found = self._lookup(word)
        if not found:
            # "#furious" reads as "furious"; French elision: "l'incompétence" as "incompétence".
            bare = word[1:] if word.startswith("#") else word.rpartition("'")[2]
            if bare and bare != word:
                found = self._lookup(bare)
        return found

    def _lookup(self, word: str) -> list[tuple[str, int]]:
        found = list(self.words.get(word, ()))
        for length in self._stem_lengths:
            if length > len(word):
                break
            found.extend(self.stems.get(word[:length], ()))
        return found

    def matches(self, text: str) -> list[tuple[str, int]]:
        """(category, weight) of every term found in `text`. Where phrases start, the longest
        one that matches is taken, and its words count for it alone.

        A single word up to `NEGATION_REACH` words after a negator in the same clause is
        read negated: joy and gratitude become annoyance ("not happy", "pas satisfait"),
        a problem word is dropped ("no problem"). Phrases are taken as written, so a
        lexicon can list the exceptions ("can't thank you enough").
        """
        tagged = clause_tokens(text)
        words = [word for word, _ in tagged]
        found: list[tuple[str, int]] = []
        i = 0
        while i < len(words):
            longest: list[tuple[str, int]] = []
            taken = 1
            for rest, wildcard, category, weight in self.phrases.get(words[i], ()):
                end = i + 1 + len(rest)
                if (
                    1 + len(rest) >= taken
                    and end <= len(words)
                    and _phrase_matches(words[i + 1 : end], rest, wildcard)
                ):
                    if 1 + len(rest) > taken:
                        longest, taken = [], 1 + len(rest)
                    longest.append((category, weight))
            if taken > 1:
                found.extend(longest)
            elif _negated(tagged, i):
                declined = i > 0 and words[i - 1] in _DECLINES  # "no thanks" is no feeling
                found.extend(
                    (_NEGATED_AS.get(c, c), w)
                    for c, w in self._single(words[i])
                    if c not in _DENIED and not (declined and c == "gratitude")
                )
            else:
                found.extend(self._single(words[i]))
            i += taken
        return found


def _keep_larger(entries: list, entry: tuple, key: tuple) -> None:
    """Appends `entry` (its weight last) unless an entry with the same `key` (its first
    fields) is there; then the larger weight stays."""
    for i, old in enumerate(entries):
        if old[:-1] == key:
            entries[i] = old[:-1] + (max(old[-1], entry[-1]),)
            return
    entries.append(entry)


def _negated(tagged: list[tuple[str, int]], i: int) -> bool:
    """Whether a negator in the same clause stands up to NEGATION_REACH words before word i."""
    clause = tagged[i][1]
    return any(
        _is_negator(word) and where == clause
        for word, where in tagged[max(0, i - NEGATION_REACH) : i]
    )


def _phrase_matches(words: list[str], rest: tuple[str, ...], wildcard: bool) -> bool:
    if wildcard:
        return list(words[:-1]) == list(rest[:-1]) and words[-1].startswith(rest[-1])
    return tuple(words) == rest


def read(lines: Iterable[str], source: str, lexicon: Lexicon | None = None) -> Lexicon:
    """Adds the entries of a lexicon file to `lexicon` (a new one by default)."""
    lexicon = lexicon or Lexicon()
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\n")
        if not line.strip() or line.startswith("# ") or line == "#":
            continue
        fields_ = line.split("\t")
        if len(fields_) != 3:
            raise LexiconError(f"{source}:{number}: expected category<TAB>term<TAB>weight")
        category, term, weight = (f.strip() for f in fields_)
        if category not in CATEGORIES:
            raise LexiconError(f"{source}:{number}: unknown category {category!r}")
        if weight not in ("1", "2", "3"):
            raise LexiconError(f"{source}:{number}: weight must be 1, 2 or 3, not {weight!r}")
        if "*" in term.rstrip("*") or term.endswith("**"):
            raise LexiconError(f"{source}:{number}: `*` may only end a term: {term!r}")
        try:
            lexicon.add(category, term, int(weight))
        except LexiconError as error:
            raise LexiconError(f"{source}:{number}: {error}") from None
    return lexicon


@lru_cache(maxsize=1)
def default_lexicon() -> Lexicon:
    """Both languages' lexicons in one: a French text rarely matches an English term, and one
    weight per feeling then serves both languages."""
    lexicon = Lexicon()
    for path in FILES:
        with path.open(encoding="utf-8") as f:
            read(f, path.name, lexicon)
    return lexicon


@lru_cache(maxsize=1)
def files_digest() -> str:
    """A fingerprint of the shipped lexicon files: a model trained on other files reads its
    own copy."""
    digest = hashlib.sha256()
    for path in FILES:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def feelings(text: str, lexicon: Lexicon | None = None) -> list[float]:
    """One number per category in `CATEGORIES`, 0-1: how much of that feeling the words carry.

    The weights found are added up and squashed (1 - e^(-sum/3)): one strong word counts,
    more words count a little more, and a long text does not score higher for being long.
    """
    found = totals(text, lexicon)
    return [1.0 - math.exp(-found[c] / 3.0) for c in CATEGORIES]


def totals(text: str, lexicon: Lexicon | None = None) -> dict[str, int]:
    """The weights of the terms found in `text`, added up per category."""
    if lexicon is None and len(text) <= _CACHED_LENGTH:
        # The anger model and the policy both read a message: it is matched once.
        return dict(zip(CATEGORIES, _shipped_totals(text), strict=True))
    found = dict.fromkeys(CATEGORIES, 0)
    for category, weight in (lexicon or default_lexicon()).matches(text):
        found[category] += weight
    return found


#: Longer texts are matched each time rather than kept (4,096 of them at most are kept).
_CACHED_LENGTH = 2000


@lru_cache(maxsize=4096)
def _shipped_totals(text: str) -> tuple[int, ...]:
    found = totals(text, default_lexicon())
    return tuple(found[c] for c in CATEGORIES)
