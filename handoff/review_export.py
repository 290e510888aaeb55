"""What designers accepted in the review inbox, out as Rasa files without personal data, and
checked before anything trains on it.

`build_export` gathers the labels and stories not exported yet and returns `ExportFiles`: the
training examples for `data/nlu/review/<day>.yml`, the test stories for
`tests/stories/review/<day>.yml`, and what was flagged. It writes nothing: `write_export`
adds them to the day's files (after what an earlier export of the day wrote there) and marks
the rows exported; the console marks them (`mark_exported`) and offers the same files for
download (`ExportFiles.nlu_yaml`, `stories_yaml`).

Training examples: each labelled customer message (an intent set, not "not for training"),
its entity spans written as `[value](entity)`, in one block per intent and language whose
`metadata: {lang: en|fr}` is the tag every file of data/nlu carries: the language detector
trains on it (relais/nlu/language.py reads the block's metadata, not an example's, and an
example's own metadata needs Rasa's list form instead of the `examples: |` block designers
read and edit). A message is one line: line breaks become spaces, and square brackets round
ones (in Rasa's format they start an entity).

An example is flagged, and not written, when its text (compared without case, spacing, end
punctuation, entity markup, and with booking references and flight numbers as their shape)
is already an example: of the same intent (a duplicate: nothing to add, the label is marked
exported with the file that has it) or of another intent (a conflict, in data/nlu or in this
export: the designer must choose, and the label stays to export until they do). An intent or
entity that domain.yml lacks is written, and flagged: `make validate` fails until the domain
(and a rule answering the intent) has it.

Test stories: a story is what the bot should have done in the conversation, as a
`rasa test core` story that replays the customer's turns and checks the bot's actions. It
covers one episode: the tracker's session that holds the last handoff before the designer
made the story, from its start to that session's first handoff (the `pause` event): after it
a person answered, which no story can test. Each customer turn is written as `user:` (its
text, personal data replaced) with its `intent:`, the designer's label or else the bot's
parse, then the bot's actions as the tracker recorded them. A turn whose intent the designer
corrected gets the action the rules answer that intent with (data/rules: "intent X → action
Y"), since what the bot did was the answer to the wrong intent; a turn marked "not for
training" is left out. A story is flagged, and stays to export, when its tracker is missing
(Rasa did not answer), when a corrected intent has no rule yet, when a turn the bot did not
understand (nlu_fallback) has no label, or when no turn is left.

Personal data: every text (and the story's name) goes through relais/core/scrub.py, with the
names the conversation's context knows: the customer's, their bookings' passengers', those of
the bookings whose references the customer typed, and the agents'.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from relais.core.brand import LANGUAGES, load_brand
from relais.core.codes import Codes, brand_codes
from relais.core.errors import RelaisError
from relais.core.scrub import Pseudonyms, scrub
from relais.core.types import Author, StrEnum
from relais.storage.conversations import Conversation, Message
from relais.storage.escalations import Agent
from relais.storage.records import Booking, Customer, Passenger
from relais.storage.review import ReviewLabel, ReviewStory

#: Where the files go, relative to the project's root.
NLU_DIR = Path("data") / "nlu" / "review"
STORIES_DIR = Path("tests") / "stories" / "review"


class FlagKind(StrEnum):
    """What a flag says about a label or a story."""

    #: Already an example of the same intent: not written, the label counts as exported.
    DUPLICATE = "duplicate"
    #: The same text is an example of another intent (or another label's): not written.
    CONFLICT = "conflict"
    #: The label has no language (en, fr): not written.
    NO_LANGUAGE = "no_language"
    #: An intent domain.yml lacks: written, `make validate` fails until the domain has it.
    NEW_INTENT = "new_intent"
    #: An entity domain.yml lacks: written, likewise.
    NEW_ENTITY = "new_entity"
    #: The story's tracker is missing (Rasa did not answer): not written.
    NO_TRACKER = "no_tracker"
    #: A corrected intent no rule answers yet: the story is not written.
    NO_RULE = "no_rule"
    #: A turn the bot did not understand has no label: the story is not written.
    NOT_UNDERSTOOD = "not_understood"
    #: No customer turn is left before the handoff: nothing to write.
    EMPTY_STORY = "empty_story"


#: The intent Rasa's FallbackClassifier gives a message it did not understand.
FALLBACK_INTENT = "nlu_fallback"
#: Actions Rasa runs by itself, which a test story does not list.
_IMPLICIT_ACTIONS = frozenset(
    {"action_listen", "action_session_start", "action_unlikely_intent", "action_extract_slots"}
)
_ANNOTATION = re.compile(r"\[([^\]]+)\](?:\([^)]*\)|\{[^}]*\}|\[[^\]]*\])")
_END_PUNCTUATION = " \t.!?,;:…"
#: Replaces the personal data of one conversation's text (and moves its entity spans).
_Scrub = Callable[[str, Sequence[Mapping[str, Any]]], tuple[str, list[dict[str, Any]]]]


class ExportError(RelaisError):
    """A day's file cannot take the export (edited by hand into another shape)."""


@dataclass(frozen=True)
class KnownExample:
    """An example of the project's training data."""

    intent: str
    file: str  #: relative to the root: "data/nlu/bookings.yml"


@dataclass(frozen=True)
class Flag:
    """Something about a label or a story the designer must see."""

    kind: FlagKind
    label_id: int | None  #: the label's id, or None for a story
    story_id: int | None
    text: str  #: the example's text (personal data replaced), or the story's name
    intent: str | None
    detail: str  #: what it means, in a sentence
    written: bool

    def describe(self) -> str:
        what = f"label {self.label_id}" if self.label_id is not None else f"story {self.story_id}"
        shown = self.text if len(self.text) <= 70 else self.text[:67] + "..."
        intent = f" ({self.intent})" if self.intent else ""
        state = "written" if self.written else "not written"
        return f"{self.kind}: {what} {shown!r}{intent}: {self.detail} [{state}]"


@dataclass(frozen=True)
class Example:
    """One training example, its personal data replaced."""

    label_id: int
    intent: str
    language: str
    text: str  #: one line
    entities: tuple[dict[str, Any], ...]  #: spans on `text`
    #: When the label was last changed: a label changed after the build is not marked.
    labelled_at: datetime

    def annotated(self) -> str:
        """The text with its entities in Rasa's markup: "[XY7Q3Z](booking_reference)"."""
        return annotated(self.text, self.entities)


@dataclass(frozen=True)
class Story:
    """One test story: its steps as Rasa's YAML has them."""

    story_id: int
    name: str
    steps: tuple[dict[str, Any], ...]


@dataclass
class ExportFiles:
    """What one export would write, and what it flagged."""

    day: date
    examples: list[Example] = field(default_factory=list)
    stories: list[Story] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)
    #: Labels whose example the training data already has, by id: the file that has it.
    duplicates: dict[int, str] = field(default_factory=dict)

    @property
    def nlu_path(self) -> Path:
        return NLU_DIR / f"{self.day.isoformat()}.yml"

    @property
    def stories_path(self) -> Path:
        return STORIES_DIR / f"{self.day.isoformat()}.yml"

    def nlu_yaml(self) -> str | None:
        """The training examples as a file of their own (None: there are none)."""
        return _nlu_file(self.examples) if self.examples else None

    def stories_yaml(self) -> str | None:
        """The test stories as a file of their own (None: there are none)."""
        return _stories_file(self.stories) if self.stories else None


# --- what the project has ---------------------------------------------------------------------


def known_examples(root: Path) -> dict[str, list[KnownExample]]:
    """Every example of `root`/data/nlu (its subfolders too), by its normalised text."""
    codes = brand_codes()
    known: dict[str, list[KnownExample]] = defaultdict(list)
    for path in sorted((root / "data" / "nlu").rglob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in data.get("nlu") or [] if isinstance(data, dict) else []:
            if not isinstance(block, dict) or not isinstance(block.get("intent"), str):
                continue
            for text in _block_texts(block.get("examples")):
                example = KnownExample(block["intent"], path.relative_to(root).as_posix())
                known[normalised(text, codes)].append(example)
    return dict(known)


def _block_texts(examples: object) -> list[str]:
    """The texts of an `examples:` value: a `|` block of "- " lines, or Rasa's list form."""
    if isinstance(examples, str):
        lines = (line.strip() for line in examples.splitlines())
        return [line[2:] for line in lines if line.startswith("- ")]
    if isinstance(examples, list):
        return [str(e["text"]) if isinstance(e, dict) else str(e) for e in examples if e]
    return []


def annotated(text: str, entities: Iterable[Mapping[str, Any]]) -> str:
    """`text` with `entities` (spans in order, not overlapping) in Rasa's markup:
    "[XY7Q3Z](booking_reference)", or with a value other than the text
    '[paris]{"entity": "city", "value": "Paris"}'."""
    parts, position = [], 0
    for entity in entities:
        start, end = int(entity["start"]), int(entity["end"])
        shown = text[start:end]
        name, value = str(entity["entity"]), entity.get("value", shown)
        parts.append(text[position:start])
        if value == shown:
            parts.append(f"[{shown}]({name})")
        else:
            markup = json.dumps({"entity": name, "value": value}, ensure_ascii=False)
            parts.append(f"[{shown}]{markup}")
        position = end
    return "".join([*parts, text[position:]])


def normalised(text: str, codes: Codes | None = None) -> str:
    """`text` as duplicates are found: no entity markup, booking references and flight numbers
    as their kind, lower case, single spaces, no punctuation at either end."""
    codes = codes or brand_codes()
    text = _ANNOTATION.sub(r"\1", text).replace("’", "'")
    text = codes.reference_in_text.sub("<booking_reference>", text)
    text = codes.flight_in_text.sub("<flight_number>", text)
    return " ".join(text.casefold().split()).strip(_END_PUNCTUATION)


def rule_actions(root: Path) -> dict[str, str]:
    """The action the rules answer each intent with (rules of one intent and one action);
    an intent two rules answer differently is left out."""
    found: dict[str, set[str]] = defaultdict(set)
    for path in sorted((root / "data" / "rules").rglob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for rule in data.get("rules") or [] if isinstance(data, dict) else []:
            steps = rule.get("steps") if isinstance(rule, dict) else None
            if isinstance(steps, list) and len(steps) == 2 and len(rule) == 2:
                intent, action = steps[0].get("intent"), steps[1].get("action")
                if isinstance(intent, str) and isinstance(action, str):
                    found[intent].add(action)
    return {intent: next(iter(actions)) for intent, actions in found.items() if len(actions) == 1}


def domain_names(root: Path) -> tuple[set[str], set[str]]:
    """domain.yml's intents and entities."""
    data = yaml.safe_load((root / "domain.yml").read_text(encoding="utf-8")) or {}

    def names(key: str) -> set[str]:
        entries = data.get(key) or []
        return {next(iter(e)) if isinstance(e, dict) else str(e) for e in entries}

    return names("intents"), names("entities")


# --- building -----------------------------------------------------------------------------------


def pending_conversations(session: Session) -> list[str]:
    """The conversations whose trackers an export wants: those of stories not exported yet,
    and of labels without a language (the bot's parse has one)."""
    stories = select(ReviewStory.conversation_id).where(ReviewStory.exported_at.is_(None))
    labels = select(ReviewLabel.conversation_id).where(
        ReviewLabel.exported_at.is_(None),
        ReviewLabel.excluded.is_(False),
        ReviewLabel.language.is_(None),
    )
    found = [*session.execute(stories).scalars(), *session.execute(labels).scalars()]
    return list(dict.fromkeys(found))


def build_export(
    session: Session,
    *,
    day: date,
    trackers: Mapping[str, Sequence[dict[str, Any]]],
    root: Path,
    existing: Mapping[str, Sequence[KnownExample]] | None = None,
) -> ExportFiles:
    """What an export of `day` would write, from the labels and stories not exported yet.

    `trackers`: the events of each conversation of `pending_conversations` that Rasa gave
    (a story whose conversation is missing is flagged). `root`: the project (data/,
    domain.yml). `existing`: `known_examples(root)`, when the caller has it already.
    """
    codes = brand_codes()
    known = existing if existing is not None else known_examples(root)
    intents, entities = domain_names(root)
    files = ExportFiles(day=day)
    context = _Context(session, codes)
    candidates = _examples(session, files, trackers, context)
    _check_examples(files, candidates, known, codes)
    for example in files.examples:
        if example.intent not in intents:
            files.flags.append(
                _flag(
                    FlagKind.NEW_INTENT,
                    example,
                    "not in domain.yml yet: add it there, with a rule "
                    "that answers it, before `make validate`",
                    written=True,
                )
            )
        for name in sorted({str(e["entity"]) for e in example.entities} - entities):
            files.flags.append(
                _flag(
                    FlagKind.NEW_ENTITY,
                    example,
                    f"the entity {name} is not in domain.yml yet",
                    written=True,
                )
            )
    _build_stories(session, files, trackers, context, rule_actions(root))
    return files


class _Context:
    """The names each conversation's context knows, and its fakes (one set per conversation,
    so a person or a reference keeps one fake across its examples and its story)."""

    def __init__(self, session: Session, codes: Codes) -> None:
        self.session = session
        self.codes = codes
        brand = load_brand()
        self.keep = tuple(brand.name.split())
        self._names: dict[str, list[str]] = {}
        self._fakes: dict[str, Pseudonyms] = {}
        self._agents: list[str] | None = None

    def scrubbed(
        self, conversation_id: str, text: str, entities: Sequence[Mapping[str, Any]] = ()
    ) -> tuple[str, list[dict[str, Any]]]:
        result = scrub(
            text,
            entities,
            names=self.names(conversation_id),
            keep=self.keep,
            codes=self.codes,
            pseudonyms=self._fakes.setdefault(conversation_id, Pseudonyms()),
        )
        return result.text, result.entities

    def names(self, conversation_id: str) -> list[str]:
        if conversation_id not in self._names:
            self._names[conversation_id] = self._read_names(conversation_id)
        return self._names[conversation_id]

    def _read_names(self, conversation_id: str) -> list[str]:
        session = self.session
        if self._agents is None:
            self._agents = list(session.execute(select(Agent.display_name)).scalars())
        texts = list(
            session.execute(
                select(Message.text).where(
                    Message.conversation_id == conversation_id, Message.author == Author.CUSTOMER
                )
            ).scalars()
        )
        references = {
            match.group().upper()
            for text in texts
            for match in self.codes.reference_in_text.finditer(text or "")
        }
        conversation = session.get(Conversation, conversation_id)
        customer_id = conversation.customer_id if conversation is not None else None
        mentioned = Booking.reference.in_(sorted(references))
        bookings = session.execute(
            select(Booking.id, Booking.customer_id).where(
                mentioned
                if customer_id is None
                else or_(mentioned, Booking.customer_id == customer_id)
            )
        ).all()
        customers = {row.customer_id for row in bookings} | {customer_id}
        holders = session.execute(
            select(Customer.full_name).where(Customer.id.in_(sorted(c for c in customers if c)))
        ).scalars()
        passengers = session.execute(
            select(Passenger.full_name).where(
                Passenger.booking_id.in_([row.id for row in bookings])
            )
        ).scalars()
        # A name a cue gave away in one message ("I'm Julie") is a name in the others too.
        said = [
            name for text in texts for name in scrub(text, keep=self.keep, codes=self.codes).names
        ]
        return [*self._agents, *holders, *passengers, *said]


def _examples(
    session: Session,
    files: ExportFiles,
    trackers: Mapping[str, Sequence[dict[str, Any]]],
    context: _Context,
) -> list[Example]:
    """The labels to export as examples, scrubbed; a label without a language is flagged."""
    rows = session.execute(
        select(ReviewLabel, Message, Conversation)
        .join(Message, Message.id == ReviewLabel.message_id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            ReviewLabel.exported_at.is_(None),
            ReviewLabel.excluded.is_(False),
            ReviewLabel.intent.is_not(None),
            ReviewLabel.intent != "",
        )
        .order_by(ReviewLabel.id)
    ).all()
    parses: dict[str, dict[int, dict[str, Any]]] = {}
    examples = []
    for label, message, conversation in rows:
        if conversation.id not in parses:
            parses[conversation.id] = _parses(trackers.get(conversation.id) or ())
        parsed = parses[conversation.id].get(message.id, {})
        language = label.language or parsed.get("language") or conversation.language
        spans = _current_spans(message.text, label.entities)
        text, entities = context.scrubbed(conversation.id, message.text, spans)
        text, entities = _one_line(text, entities)
        if not text:
            continue
        if language not in LANGUAGES:
            files.flags.append(
                Flag(
                    FlagKind.NO_LANGUAGE,
                    label.id,
                    None,
                    text,
                    label.intent,
                    "its language is unknown: set it (en or fr)",
                    written=False,
                )
            )
            continue
        examples.append(
            Example(
                label_id=label.id,
                intent=label.intent,
                language=language,
                text=text,
                entities=tuple(entities),
                labelled_at=label.updated_at,
            )
        )
    return examples


def _check_examples(
    files: ExportFiles,
    candidates: list[Example],
    known: Mapping[str, Sequence[KnownExample]],
    codes: Codes,
) -> None:
    """Puts each candidate in `files`: written, a duplicate, or a conflict."""
    batch: dict[str, list[Example]] = defaultdict(list)
    for example in candidates:
        batch[normalised(example.text, codes)].append(example)
    written_in: dict[str, str] = {}  # normalised text -> where this export writes it
    for example in candidates:
        key = normalised(example.text, codes)
        others = [k for k in known.get(key, ()) if k.intent != example.intent]
        rivals = [e for e in batch[key] if e.intent != example.intent]
        same = [k for k in known.get(key, ()) if k.intent == example.intent]
        if others:
            detail = "the same text is an example of " + ", ".join(
                sorted({f"{k.intent} in {k.file}" for k in others})
            )
            files.flags.append(_flag(FlagKind.CONFLICT, example, detail, written=False))
        elif rivals:
            detail = "another label gives the same text " + ", ".join(
                sorted({f"{e.intent} (label {e.label_id})" for e in rivals})
            )
            files.flags.append(_flag(FlagKind.CONFLICT, example, detail, written=False))
        elif same:
            files.duplicates[example.label_id] = same[0].file
            detail = f"already an example of {example.intent} in {same[0].file}"
            files.flags.append(_flag(FlagKind.DUPLICATE, example, detail, written=False))
        elif key in written_in:
            files.duplicates[example.label_id] = written_in[key]
            detail = f"another label of this export gives the same example ({written_in[key]})"
            files.flags.append(_flag(FlagKind.DUPLICATE, example, detail, written=False))
        else:
            written_in[key] = files.nlu_path.as_posix()
            files.examples.append(example)


def _flag(kind: FlagKind, example: Example, detail: str, written: bool) -> Flag:
    return Flag(kind, example.label_id, None, example.text, example.intent, detail, written)


def _build_stories(
    session: Session,
    files: ExportFiles,
    trackers: Mapping[str, Sequence[dict[str, Any]]],
    context: _Context,
    rules: Mapping[str, str],
) -> None:
    stories = session.execute(
        select(ReviewStory).where(ReviewStory.exported_at.is_(None)).order_by(ReviewStory.id)
    ).scalars()
    for story in stories:
        conversation = session.get(Conversation, story.conversation_id)
        name, _ = context.scrubbed(story.conversation_id, story.name)
        language = conversation.language if conversation is not None else None
        title = f"{language + ' — ' if language else ''}review {story.id}: {name}"

        def flag(kind: FlagKind, detail: str, title: str = title, story_id: int = story.id) -> None:
            files.flags.append(Flag(kind, None, story_id, title, None, detail, written=False))

        events = trackers.get(story.conversation_id)
        if events is None:
            flag(
                FlagKind.NO_TRACKER,
                "the bot's tracker of the conversation is needed: Rasa did not give it",
            )
            continue
        labels = {
            label.message_id: label
            for label in session.execute(
                select(ReviewLabel).where(ReviewLabel.conversation_id == story.conversation_id)
            ).scalars()
        }
        texts = dict(
            session.execute(
                select(Message.id, Message.text).where(Message.id.in_(list(labels) or [0]))
            ).all()
        )
        steps, problem = _story_steps(
            _episode(events, story.created_at),
            labels,
            texts,
            rules,
            functools.partial(context.scrubbed, story.conversation_id),
        )
        if problem is not None:
            flag(*problem)
        elif not steps:
            flag(
                FlagKind.EMPTY_STORY, "no customer turn the bot answered is left before the handoff"
            )
        else:
            files.stories.append(Story(story.id, title, tuple(steps)))


def _episode(events: Sequence[dict[str, Any]], made_at: datetime) -> list[dict[str, Any]]:
    """The events a story covers: the tracker's session holding the last handoff before the
    story was made (else the last session then), from its start to its first handoff."""
    until = made_at.replace(tzinfo=timezone.utc).timestamp()
    before = [i for i, e in enumerate(events) if float(e.get("timestamp") or 0) <= until]
    pauses = [i for i in before if events[i].get("event") == "pause"]
    anchor = pauses[-1] if pauses else (before[-1] if before else len(events) - 1)
    start = max(
        (i for i in range(anchor + 1) if events[i].get("event") == "session_started"), default=0
    )
    episode: list[dict[str, Any]] = []
    for event in events[start:]:
        if event.get("event") == "session_started" and episode:
            break
        episode.append(event)
        if event.get("event") == "pause":
            break
    return episode


def _story_steps(
    events: Sequence[dict[str, Any]],
    labels: Mapping[int, ReviewLabel],
    texts: Mapping[int, str],
    rules: Mapping[str, str],
    scrubbed: _Scrub,
) -> tuple[list[dict[str, Any]], tuple[FlagKind, str] | None]:
    """The story's steps from the episode's events, or the reason it cannot be written."""
    steps: list[dict[str, Any]] = []
    recorded = True  # the bot's actions after this turn are what it should have done
    for event in events:
        kind = event.get("event")
        if kind == "user":
            label = labels.get(_message_id(event) or 0)
            parsed = _parsed_intent(event)
            intent = label.intent if label is not None and label.intent else parsed
            if (label is not None and label.excluded) or not intent:
                recorded = False  # left out, with what the bot did after it
                continue
            if intent == FALLBACK_INTENT:
                detail = "a turn the bot did not understand has no label: label it, or mark it "
                return [], (FlagKind.NOT_UNDERSTOOD, detail + "not for training")
            steps.append(_user_step(event, label, intent, texts, scrubbed))
            recorded = intent == parsed
            if not recorded:
                if intent not in rules:
                    detail = f"no rule answers {intent} yet: add one (data/rules), export again"
                    return [], (FlagKind.NO_RULE, detail)
                steps.append({"action": rules[intent]})
        elif kind == "action" and recorded and event.get("name") not in _IMPLICIT_ACTIONS:
            steps.append({"action": str(event.get("name"))})
    return steps, None


def _message_id(event: Mapping[str, Any]) -> int | None:
    """The id of the customer message a tracker user event is (the gateway's metadata)."""
    metadata = event.get("metadata")
    found = metadata.get("relais_message_id") if isinstance(metadata, dict) else None
    return found if isinstance(found, int) and not isinstance(found, bool) else None


def _parse(event: Mapping[str, Any]) -> dict[str, Any]:
    parse = event.get("parse_data")
    return parse if isinstance(parse, dict) else {}


def _parsed_intent(event: Mapping[str, Any]) -> str | None:
    intent = _parse(event).get("intent")
    name = intent.get("name") if isinstance(intent, dict) else None
    return name if isinstance(name, str) and name else None


def _user_step(
    event: Mapping[str, Any],
    label: ReviewLabel | None,
    intent: str,
    texts: Mapping[int, str],
    scrubbed: _Scrub,
) -> dict[str, Any]:
    """One customer turn: its text with entities marked (or the intent alone, for a button's
    payload), and its intent."""
    text = str(event.get("text") or "")
    if not text.strip() or text.startswith("/"):
        return {"intent": intent}
    if label is not None and texts.get(label.message_id) == text:
        spans = _current_spans(text, label.entities)
    else:  # a burst's lines read as one: the bot's own spans
        spans = [
            {key: e.get(key) for key in ("start", "end", "entity", "value")}
            for e in _parse(event).get("entities") or []
            if isinstance(e, dict) and isinstance(e.get("start"), int)
        ]
    clean, entities = _one_line(*scrubbed(text, spans))
    return {"user": annotated(clean, entities), "intent": intent}


def _current_spans(text: str, spans: object) -> list[dict[str, Any]]:
    """The label's spans that still mark what they marked (a customer may edit a message
    after it was labelled)."""
    return [
        dict(span)
        for span in (spans if isinstance(spans, list) else [])
        if isinstance(span, dict)
        and isinstance(span.get("start"), int)
        and isinstance(span.get("end"), int)
        and 0 <= span["start"] < span["end"] <= len(text)
        and text[span["start"] : span["end"]] == span.get("value")
    ]


def _parses(events: Iterable[Mapping[str, Any]]) -> dict[int, dict[str, Any]]:
    """The bot's parse of each customer message, by the message's id."""
    found: dict[int, dict[str, Any]] = {}
    for event in events:
        message_id = _message_id(event)
        if event.get("event") == "user" and message_id is not None:
            found.setdefault(message_id, _parse(event))
    return found


def _one_line(text: str, entities: Sequence[Mapping[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """The text as one line of an `examples: |` block: each blank (a line break…) a space and
    each square bracket a round one (both one for one, so the spans stay), no blanks at the
    ends."""
    flat = "".join(
        " " if c.isspace() else "(" if c == "[" else ")" if c == "]" else c for c in text
    )
    lead = len(flat) - len(flat.lstrip())
    flat = flat.strip()
    moved = []
    for entity in entities:
        start = max(0, int(entity["start"]) - lead)
        end = min(len(flat), int(entity["end"]) - lead)
        if start < end:
            value = entity.get("value")
            shown = text[int(entity["start"]) : int(entity["end"])]
            moved.append(
                {
                    **entity,
                    "start": start,
                    "end": end,
                    "value": flat[start:end] if value == shown else value,
                }
            )
    return flat, sorted(moved, key=lambda e: e["start"])


# --- the files ----------------------------------------------------------------------------------


_NLU_HEADER = (
    'version: "3.1"\n'
    "# Examples designers labelled in the review inbox (`relais review export`), personal\n"
    "# data replaced. Check before training: make validate, make nlu-eval, make train.\n"
    "nlu:\n"
)
_STORIES_HEADER = (
    'version: "3.1"\n'
    "# Test stories designers made in the review inbox (`relais review export`), personal\n"
    "# data replaced: what the bot should do, up to the handoff. Run by `make test`.\n"
    "stories:\n"
)


def _nlu_file(examples: Sequence[Example]) -> str:
    return _NLU_HEADER + _nlu_blocks(examples)


def _groups(examples: Sequence[Example]) -> dict[tuple[str, str], list[Example]]:
    """The examples by intent and language (a block each), in the order they first come."""
    groups: dict[tuple[str, str], list[Example]] = defaultdict(list)
    for example in examples:
        groups[(example.intent, example.language)].append(example)
    return groups


def _nlu_blocks(examples: Sequence[Example]) -> str:
    lines = []
    for (intent, language), group in _groups(examples).items():
        lines += [f"- intent: {intent}", "  metadata:", f"    lang: {language}", "  examples: |"]
        lines += [f"    - {example.annotated()}" for example in group]
    return "".join(line + "\n" for line in lines)


def _stories_file(stories: Sequence[Story]) -> str:
    return _STORIES_HEADER + _story_blocks(stories)


def _story_blocks(stories: Sequence[Story]) -> str:
    lines = []
    for story in stories:
        lines += [f"- story: {json.dumps(story.name, ensure_ascii=False)}", "  steps:"]
        for step in story.steps:
            if "user" in step:
                lines += ["  - user: |", f"      {step['user']}", f"    intent: {step['intent']}"]
            elif "intent" in step:
                lines.append(f"  - intent: {step['intent']}")
            else:
                lines.append(f"  - action: {step['action']}")
    return "".join(line + "\n" for line in lines)


# --- writing ------------------------------------------------------------------------------------


def write_export(session: Session, files: ExportFiles, root: Path, now: datetime) -> list[Path]:
    """Writes `files` under `root`, after what the day's files hold already, and marks the
    rows exported (`mark_exported`; the caller commits). Returns the files written."""
    marked = mark_exported(session, files, now)
    written = []
    if marked.examples:
        path = root / marked.nlu_path
        blocks, count = _nlu_blocks(marked.examples), len(_groups(marked.examples))
        _append(path, _NLU_HEADER, blocks, "nlu", count)
        written.append(path)
    if marked.stories:
        path = root / marked.stories_path
        _append(
            path, _STORIES_HEADER, _story_blocks(marked.stories), "stories", len(marked.stories)
        )
        written.append(path)
    return written


def mark_exported(session: Session, files: ExportFiles, now: datetime) -> ExportFiles:
    """Marks the labels and stories of `files` exported, and the duplicates with the file
    that has their example (the caller commits). What was exported since the build, or
    changed since, is left out: the result holds what was marked, which is what to write
    (or to offer for download)."""
    examples = [e for e in files.examples if _still_pending(session, e)]
    stories = []
    for story in files.stories:
        row = session.get(ReviewStory, story.story_id)
        if row is not None and row.exported_at is None:
            row.exported_at, row.export_file = now, files.stories_path.as_posix()
            stories.append(story)
    for example in examples:
        label = session.get(ReviewLabel, example.label_id)
        label.exported_at, label.export_file = now, files.nlu_path.as_posix()
    for label_id, file in files.duplicates.items():
        label = session.get(ReviewLabel, label_id)
        if label is not None and label.exported_at is None:
            label.exported_at, label.export_file = now, file
    session.flush()
    return dataclasses.replace(files, examples=examples, stories=stories)


def _still_pending(session: Session, example: Example) -> bool:
    label = session.get(ReviewLabel, example.label_id)
    return (
        label is not None
        and label.exported_at is None
        and not label.excluded
        and label.updated_at == example.labelled_at
    )


def _append(path: Path, header: str, blocks: str, key: str, count: int) -> None:
    """Adds `blocks` (`count` items of the list under `key`) to the file at `path`, after its
    items; a new file starts with `header`. Checked: the file must read as before plus them."""
    before: list[Any] = []
    text = header
    if path.exists():
        text = path.read_text(encoding="utf-8")
        before = _items(text, key, path)
        if not text.endswith("\n"):
            text += "\n"
    merged = text + blocks
    after = _items(merged, key, path)
    if len(after) != len(before) + count or after[: len(before)] != before:
        raise ExportError(
            f"{path} does not end with its `{key}:` list as an export writes it: move it "
            "aside and export again"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(merged, encoding="utf-8")


def _items(text: str, key: str, path: Path) -> list[Any]:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise ExportError(f"{path} is not valid YAML: {error}") from error
    items = data.get(key) if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ExportError(f"{path} has no `{key}:` list")
    return items
