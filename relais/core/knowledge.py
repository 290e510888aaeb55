"""The brand's knowledge: short articles, in English and French, that the bot answers from.

Bot designers write them in the folder brand.yml names (`knowledge/`, see its README): one
YAML file per article and language, `knowledge/en/pets.yml` and `knowledge/fr/pets.yml`. Each
article has a title, a link on the brand's site, and passages: what the bot may say, each
with the questions customers ask for it. The NLU pipeline ranks the passages for every
message (relais/nlu/knowledge.py) and puts the ranking in the parse under `knowledge`; the
action server says the chosen passage from these files, in the customer's language.

Nothing here needs machine learning or Rasa: the loader checks the files (`problems`, run by
`make validate`), and `ranking` reads the parse.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import yaml

from relais.core.errors import ConfigError
from relais.core.language import SUPPORTED

#: The parse key the retriever fills: {"articles": [{article, passage, score}, …],
#: "outside": score} (relais/nlu/knowledge.py).
KNOWLEDGE = "knowledge"
ARTICLE_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
#: A passage is said in a chat message, with the article's link after it.
MAX_PASSAGE_CHARS = 320
MIN_QUESTIONS = 2
_KEYS = {"title", "link", "intents", "checks", "passages", "questions"}
#: Questions the knowledge does not answer (`outside.yml`, by language): the retriever keeps
#: messages like these from being answered with the nearest article.
OUTSIDE_FILE = "outside.yml"
_PASSAGE_KEYS = {"id", "text", "questions"}


class KnowledgeError(ConfigError):
    """The knowledge folder has files the bot cannot use; the message lists every problem."""


@dataclass(frozen=True)
class Passage:
    """One thing the bot may say, and how customers ask for it."""

    id: str
    text: str
    questions: tuple[str, ...]


@dataclass(frozen=True)
class Article:
    """One article in one language."""

    id: str
    lang: str
    title: str
    link: str
    #: Intents whose answer from the customer's records covers this article's topic.
    intents: tuple[str, ...]
    #: What the bot can check on the customer's booking ("your flight's check-in times");
    #: None when the booking adds nothing to the article.
    checks: str | None
    passages: tuple[Passage, ...]
    #: How customers ask about the article as a whole (no passage in particular).
    questions: tuple[str, ...] = ()

    def passage(self, passage_id: str) -> Passage | None:
        return next((p for p in self.passages if p.id == passage_id), None)


@dataclass(frozen=True)
class Knowledge:
    """Every article, by language then id (the same ids in every language)."""

    articles: Mapping[str, Mapping[str, Article]]
    #: A digest of the files' contents: a model trained on other files says so.
    digest: str
    #: Questions the knowledge does not answer, in every language (outside.yml).
    outside: tuple[str, ...] = ()

    def article(self, article_id: str, lang: str) -> Article | None:
        return self.articles.get(lang, {}).get(article_id)

    @property
    def ids(self) -> list[str]:
        first = next(iter(self.articles.values()), {})
        return list(first)

    def examples(self) -> list[tuple[str, str, str]]:
        """(article, passage, text) to retrieve passages by: every language's questions,
        and each passage's own words under its article's title. A question about the
        article as a whole has the passage "" (it names the article, not a passage)."""
        found = []
        for by_id in self.articles.values():
            for article in by_id.values():
                for passage in article.passages:
                    found.append((article.id, passage.id, f"{article.title}. {passage.text}"))
                    found += [(article.id, passage.id, q) for q in passage.questions]
                found += [(article.id, "", q) for q in article.questions]
        return found


@dataclass(frozen=True)
class Match:
    """An article the retriever ranked for a message, with its best passage and its score."""

    article: str
    passage: str
    score: float


def ranking(parse: Mapping[str, Any] | None) -> list[Match]:
    """The articles ranked for a parsed message, best first ([] when none were ranked)."""
    found = (parse or {}).get(KNOWLEDGE) or {}
    matches = []
    for item in found.get("articles") or [] if isinstance(found, Mapping) else []:
        try:
            matches.append(Match(str(item["article"]), str(item["passage"]), float(item["score"])))
        except (KeyError, TypeError, ValueError):
            continue
    return sorted(matches, key=lambda m: -m.score)


#: How long the files' modification times are trusted before they are looked at again: the
#: action server asks for the knowledge on most messages, and listing and stat-ing every
#: article each time cost more than answering.
STAMP_TTL_S = 5.0
_stamps: dict[Path, tuple[float, tuple[tuple[str, int], ...]]] = {}


def load_knowledge(directory: Path, website: str) -> Knowledge:
    """The checked articles of `directory` (re-read within a few seconds of a file changing);
    KnowledgeError lists every problem found."""
    now = time.monotonic()
    seen = _stamps.get(directory)
    if seen is None or now - seen[0] > STAMP_TTL_S:
        seen = (now, _stamp(directory))
        _stamps[directory] = seen
    return _load(directory, website, seen[1])


@lru_cache(maxsize=4)
def _load(directory: Path, website: str, _stamp: tuple[tuple[str, int], ...]) -> Knowledge:
    knowledge, found = _read(directory, website)
    if found:
        raise KnowledgeError(f"{directory}: " + "; ".join(found))
    return knowledge


def problems(directory: Path, website: str, intents: Iterable[str] | None = None) -> list[str]:
    """Every problem of the knowledge folder, as lines for a designer ([] when it is usable).

    With `intents` (the domain's), articles naming another intent are reported too."""
    knowledge, found = _read(directory, website)
    if intents is not None:
        known = set(intents)
        for article in next(iter(knowledge.articles.values()), {}).values():
            for intent in article.intents:
                if intent not in known:
                    found.append(f"{article.id}: intent {intent!r} is not in the domain")
    return found


def _stamp(directory: Path) -> tuple[tuple[str, int], ...]:
    paths = sorted(directory.glob("*/*.yml")) + sorted(directory.glob(OUTSIDE_FILE))
    return tuple((str(path), path.stat().st_mtime_ns) for path in paths)


def _read(directory: Path, website: str) -> tuple[Knowledge, list[str]]:
    """The articles that could be read, and the problems found on the way."""
    found: list[str] = []
    digest = hashlib.sha256()
    articles: dict[str, dict[str, Article]] = {}
    if not directory.is_dir():
        return Knowledge(MappingProxyType({}), ""), [f"no knowledge folder at {directory}"]
    for lang in SUPPORTED:
        articles[lang] = {}
        folder = directory / lang
        paths = sorted(folder.glob("*.yml"))
        if not paths:
            found.append(f"{lang}/: no articles")
        for path in paths:
            raw = path.read_bytes()
            digest.update(f"{lang}/{path.name}\0".encode() + raw)
            article = _article(path.stem, lang, raw, found.append)
            if article is not None:
                articles[lang][article.id] = article
    outside = _outside(directory / OUTSIDE_FILE, digest, found.append)
    _compare_languages(articles, found)
    for by_id in articles.values():
        for article in by_id.values():
            problem = _link_problem(article.link, website)
            if problem:
                found.append(f"{article.lang}/{article.id}.yml: link {article.link!r} {problem}")
    frozen = MappingProxyType({lang: MappingProxyType(a) for lang, a in articles.items()})
    return Knowledge(frozen, digest.hexdigest(), outside), found


def _outside(path: Path, digest: hashlib._Hash, report: Callable[[str], None]) -> tuple[str, ...]:
    """The questions of outside.yml ({lang: [question, …]}); none when there is no file."""
    if not path.is_file():
        return ()
    raw = path.read_bytes()
    digest.update(b"outside\0" + raw)
    try:
        data = yaml.safe_load(raw.decode("utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        report(f"{OUTSIDE_FILE}: not valid YAML: {error}")
        return ()
    if not isinstance(data, dict) or set(data) - set(SUPPORTED):
        report(f"{OUTSIDE_FILE}: expected lists of questions under {', '.join(SUPPORTED)}")
        return ()
    found: list[str] = []
    for lang, questions in data.items():
        if not isinstance(questions, list) or not all(isinstance(q, str) for q in questions):
            report(f"{OUTSIDE_FILE}: {lang}: expected a list of questions")
            continue
        found += [q.strip() for q in questions if q.strip()]
    return tuple(found)


def _article(
    article_id: str, lang: str, raw: bytes, report: Callable[[str], None]
) -> Article | None:
    where = f"{lang}/{article_id}.yml"

    def bad(problem: str) -> None:
        report(f"{where}: {problem}")

    if not ARTICLE_ID.fullmatch(article_id):
        bad("file names are lower-case words joined by dashes, like special-baggage.yml")
        return None
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        bad(f"not valid YAML: {error}")
        return None
    if not isinstance(data, dict):
        bad("expected a mapping with title, link, intents, checks and passages")
        return None
    unknown = sorted(str(k) for k in data if k not in _KEYS)
    if unknown:
        bad(f"unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))})")
    title, link = data.get("title"), data.get("link")
    checks, intents = data.get("checks"), data.get("intents") or []
    if not isinstance(title, str) or not title.strip():
        bad("title: missing")
    if not isinstance(link, str) or not link.strip():
        bad("link: missing")
    if checks is not None and (not isinstance(checks, str) or not checks.strip()):
        bad("checks: expected some text, or leave it out")
    if not isinstance(intents, list) or not all(isinstance(i, str) for i in intents):
        bad("intents: expected a list of intent names")
        intents = []
    passages = _passages(data.get("passages"), bad)
    questions = data.get("questions") or []
    if not isinstance(questions, list) or not all(isinstance(q, str) for q in questions):
        bad("questions: expected a list of questions about the article as a whole")
        questions = []
    if not isinstance(title, str) or not isinstance(link, str) or not passages:
        return None
    return Article(
        id=article_id,
        lang=lang,
        title=title.strip(),
        link=link.strip(),
        intents=tuple(intents),
        checks=checks.strip() if isinstance(checks, str) and checks.strip() else None,
        passages=tuple(passages),
        questions=tuple(q.strip() for q in questions if q.strip()),
    )


def _passages(value: object, bad: Callable[[str], None]) -> list[Passage]:
    if not isinstance(value, list) or not value:
        bad("passages: expected a list of passages (id, text, questions)")
        return []
    passages: list[Passage] = []
    for index, item in enumerate(value, start=1):
        if not isinstance(item, dict):
            bad(f"passage {index}: expected id, text and questions")
            continue
        unknown = sorted(str(k) for k in item if k not in _PASSAGE_KEYS)
        if unknown:
            bad(f"passage {index}: unknown key(s) {', '.join(unknown)}")
        pid, text, questions = item.get("id"), item.get("text"), item.get("questions")
        if not isinstance(pid, str) or not ARTICLE_ID.fullmatch(pid):
            bad(f"passage {index}: id must be lower-case words joined by dashes")
            continue
        if any(p.id == pid for p in passages):
            bad(f"passage {pid}: id used twice")
            continue
        if not isinstance(text, str) or not text.strip():
            bad(f"passage {pid}: text missing")
            continue
        text = " ".join(text.split())
        if len(text) > MAX_PASSAGE_CHARS:
            bad(f"passage {pid}: text is {len(text)} characters (at most {MAX_PASSAGE_CHARS})")
        if (
            not isinstance(questions, list)
            or len(questions) < MIN_QUESTIONS
            or not all(isinstance(q, str) and q.strip() for q in questions)
        ):
            bad(f"passage {pid}: questions: give at least {MIN_QUESTIONS}, as texts")
            questions = []
        passages.append(Passage(pid, text, tuple(q.strip() for q in questions)))
    return passages


def _compare_languages(articles: dict[str, dict[str, Article]], found: list[str]) -> None:
    """Every article exists in every language, with the same passages, link and intents."""
    every = sorted({article_id for by_id in articles.values() for article_id in by_id})
    for article_id in every:
        versions = {lang: by_id.get(article_id) for lang, by_id in articles.items()}
        missing = sorted(lang for lang, article in versions.items() if article is None)
        if missing:
            found.append(
                f"{article_id}: no {' or '.join(missing)} version "
                f"({', '.join(f'{lang}/{article_id}.yml' for lang in missing)})"
            )
            continue
        present = [a for a in versions.values() if a is not None]
        first = present[0]
        for other in present[1:]:
            pair = f"{article_id}: {first.lang} and {other.lang}"
            if [p.id for p in first.passages] != [p.id for p in other.passages]:
                found.append(f"{pair} have different passages (same ids, same order)")
            if first.link != other.link:
                found.append(f"{pair} have different links")
            if set(first.intents) != set(other.intents):
                found.append(f"{pair} have different intents")
            if (first.checks is None) != (other.checks is None):
                found.append(f"{pair}: `checks` is given in one language only")


def _link_problem(link: str, website: str) -> str | None:
    """Why `link` is not a page of the brand's site (None when it is)."""
    site, page = urlsplit(website), urlsplit(link)
    if page.scheme != "https":
        return "is not an https:// address"
    if page.hostname != site.hostname:
        return f"is not on the brand's site ({site.hostname})"
    if not page.path.startswith(site.path or "/"):
        return f"is outside the brand's site ({website})"
    return None


def outside_score(parse: Mapping[str, Any] | None) -> float:
    """How close the message is to the examples of what is out of scope (0 if unknown)."""
    found = (parse or {}).get(KNOWLEDGE) or {}
    try:
        return float(found.get("outside") or 0.0) if isinstance(found, Mapping) else 0.0
    except (TypeError, ValueError):
        return 0.0


def choose(
    matches: list[Match],
    knowledge: Knowledge,
    *,
    intents: Mapping[str, float],
    answer_at: float,
    intent_bonus: float,
    outside: float = 0.0,
    outside_margin: float = 0.0,
) -> Match | None:
    """The article and passage to say for a message, or None: nothing answers it well enough.

    Which article: the retriever's score of each, plus `intent_bonus` times the classifier's
    confidence in the request the article is about (`intents`: intent → confidence), so that
    the two agree where they can (spending points on a ticket is the loyalty programme's
    business, not changing a booking's). Whether to say it: the retriever's own score alone, from
    `answer_at`, and only if it beats by `outside_margin` the score of the out-of-scope
    examples closest to the message (`outside`): "what time is it in Montreal?" is nearer those
    than any article. The classifier helps choose among articles, never to answer at all: a
    confident intent is no evidence that the knowledge holds the answer ("is my flight to Nice
    late?" is a flight-status request the records answer, not the delays article).
    """
    best: tuple[float, Match] | None = None
    for match in matches:
        article = knowledge.article(match.article, next(iter(knowledge.articles), ""))
        if article is None:
            continue  # a model trained on other articles than these files
        boost = max((intents.get(name, 0.0) for name in article.intents), default=0.0)
        rank = match.score + intent_bonus * boost
        if best is None or rank > best[0]:
            best = (rank, match)
    if best is None:
        return None
    chosen = best[1]
    if chosen.score < answer_at or chosen.score < outside + outside_margin:
        return None
    return chosen


def confidences(parse: Mapping[str, Any] | None) -> dict[str, float]:
    """intent → confidence, from a parse's intent ranking."""
    found: dict[str, float] = {}
    for item in (parse or {}).get("intent_ranking") or []:
        if isinstance(item, Mapping) and item.get("name"):
            found[str(item["name"])] = float(item.get("confidence") or 0.0)
    return found


def article_for(
    parse: Mapping[str, Any] | None, knowledge: Knowledge, **thresholds: float
) -> str | None:
    """The article the bot answers a message from (None: it says what it can do instead).
    `make eval` scores this against the team's held-out questions."""
    chosen = choose(
        ranking(parse),
        knowledge,
        intents=confidences(parse),
        outside=outside_score(parse),
        **thresholds,
    )
    return chosen.article if chosen is not None else None
