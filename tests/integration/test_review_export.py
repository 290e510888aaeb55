"""The review export on SQLite and PostgreSQL (handoff/review_export.py): labels and stories out
as Rasa YAML without personal data, duplicates and conflicts flagged, nothing written twice."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import Engine

from handoff.review_export import (
    ExportFiles,
    FlagKind,
    build_export,
    known_examples,
    mark_exported,
    pending_conversations,
    write_export,
)
from relais.core.types import Author, BookingStatus, FareFamily, Language, LoyaltyTier
from relais.storage.conversations import Message
from relais.storage.db import session_scope
from relais.storage.escalations import Agent
from relais.storage.messages import conversation_for
from relais.storage.records import Booking, Customer, Passenger
from relais.storage.review import ReviewLabel, ReviewStory
from tests.paths import ROOT

DAY = date(2026, 12, 4)
NOW = datetime(2026, 12, 4, 15, 0)
#: The project's own training data, as it stands: what an export checks against.
BASE = """version: "3.1"
nlu:
- intent: lost_baggage
  metadata:
    lang: en
  examples: |
    - where is my bag
    - my suitcase never arrived
- intent: change_booking
  metadata:
    lang: en
  examples: |
    - change my flight [XY1A2B](booking_reference) please
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A project of its own: the real domain and rules, a small NLU file."""
    project = tmp_path / "project"
    (project / "data" / "nlu").mkdir(parents=True)
    shutil.copy(ROOT / "domain.yml", project / "domain.yml")
    shutil.copytree(ROOT / "data" / "rules", project / "data" / "rules")
    (project / "data" / "nlu" / "base.yml").write_text(BASE, encoding="utf-8")
    return project


def customer_message(engine: Engine, sender: str, text: str, language: str | None = "en") -> int:
    with session_scope(engine) as session:
        conversation = conversation_for(session, "web", sender)
        conversation.language = language
        message = Message(
            conversation_id=conversation.id,
            author=Author.CUSTOMER,
            channel="web",
            text=text,
            sent_at=NOW - timedelta(hours=1),
        )
        session.add(message)
        session.flush()
        return int(message.id)


def label(
    engine: Engine,
    message_id: int,
    intent: str | None,
    entities: list[dict[str, Any]] | None = None,
    excluded: bool = False,
    language: str | None = None,
) -> int:
    with session_scope(engine) as session:
        message = session.get(Message, message_id)
        row = ReviewLabel(
            message_id=message_id,
            conversation_id=message.conversation_id,
            intent=intent,
            entities=entities or [],
            excluded=excluded,
            language=language,
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(row)
        session.flush()
        return int(row.id)


def span(text: str, value: str, entity: str) -> dict[str, Any]:
    start = text.index(value)
    return {"start": start, "end": start + len(value), "entity": entity, "value": value}


def build(engine: Engine, root: Path, trackers: dict[str, list[dict]] | None = None) -> ExportFiles:
    with session_scope(engine) as session:
        return build_export(session, day=DAY, trackers=trackers or {}, root=root)


def export(engine: Engine, root: Path, trackers: dict[str, list[dict]] | None = None) -> list[Path]:
    with session_scope(engine) as session:
        files = build_export(session, day=DAY, trackers=trackers or {}, root=root)
        return write_export(session, files, root, NOW)


def examples_of(path: Path) -> dict[tuple[str, str], list[str]]:
    """{(intent, lang): [example lines]} of an NLU file, as Rasa reads the `|` blocks."""
    found: dict[tuple[str, str], list[str]] = {}
    for block in yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]:
        lines = [line[2:] for line in block["examples"].splitlines()]
        found.setdefault((block["intent"], block["metadata"]["lang"]), []).extend(lines)
    return found


def test_labels_become_examples_tagged_with_their_language_without_personal_data(
    engine: Engine, root: Path
) -> None:
    with session_scope(engine) as session:
        customer = Customer(
            full_name="Camille Rousseau",
            email="camille.rousseau@mail.example",
            preferred_language=Language.FR,
            loyalty_tier=LoyaltyTier.GOLD,
        )
        session.add(customer)
        session.flush()
        booking = Booking(
            reference="XY4K2P",
            customer_id=customer.id,
            fare_family=FareFamily.STANDARD,
            changeable=True,
            refundable=False,
            total_paid=Decimal("120.00"),
            checked_bags_included=1,
            cabin_bag_kg=10,
            status=BookingStatus.CONFIRMED,
        )
        session.add(booking)
        session.flush()
        session.add(Passenger(booking_id=booking.id, full_name="Bernard Dupuis"))
        session.add(Agent(username="alice", display_name="Alice", password_hash="x"))

    english = "where do I drop my bags at Orly? I'm Julie Fontaine, ref XY4K2P\nthanks"
    french = "je m'appelle marc durand, 06 12 34 56 78, où est le dépose-bagage [urgent]"
    # A passenger of the booking typed in the conversation, in lower case, no cue.
    passenger = "XY4K2P is for bernard dupuis too, and camille, can alice help?"
    hidden = "my email is julie.fontaine@gmail.com, cancel everything"
    ids = {
        "en": customer_message(engine, "julie", english),
        "fr": customer_message(engine, "marc", french, language=None),
        "passenger": customer_message(engine, "julie", passenger),
        "excluded": customer_message(engine, "julie", hidden),
        "no_intent": customer_message(engine, "julie", "hello??"),
    }
    label(engine, ids["en"], "check_in", [span(english, "XY4K2P", "booking_reference")])
    label(engine, ids["fr"], "check_in", language="fr")
    label(engine, ids["passenger"], "provide_booking_reference")
    label(engine, ids["excluded"], "cancel_booking", excluded=True)
    label(engine, ids["no_intent"], None)

    files = build(engine, root)
    assert files.flags == []
    text = files.nlu_yaml()
    assert text is not None
    for personal in (
        "Julie", "Fontaine", "XY4K2P", "marc", "durand", "06 12 34 56 78", "bernard",
        "dupuis", "camille", "alice", "julie.fontaine", "cancel everything",
    ):  # fmt: skip
        assert personal.lower() not in text.lower(), personal

    written = export(engine, root)
    nlu = root / "data" / "nlu" / "review" / "2026-12-04.yml"
    assert written == [nlu]
    assert nlu.read_text(encoding="utf-8") == text
    data = yaml.safe_load(text)
    assert data["version"] == "3.1"
    found = examples_of(nlu)
    assert set(found) == {
        ("check_in", "en"),
        ("check_in", "fr"),
        ("provide_booking_reference", "en"),
    }
    (en,) = found[("check_in", "en")]
    assert en.startswith("where do I drop my bags at Orly? I'm ")
    assert "[XY7Q3Z](booking_reference)" in en and "\n" not in en and en.endswith(" thanks")
    (fr,) = found[("check_in", "fr")]
    assert fr.startswith("je m'appelle ") and fr.endswith("où est le dépose-bagage (urgent)")

    with session_scope(engine) as session:
        labels = {row.message_id: row for row in session.query(ReviewLabel)}
        for key in ("en", "fr", "passenger"):
            assert labels[ids[key]].exported_at == NOW
            assert labels[ids[key]].export_file == "data/nlu/review/2026-12-04.yml"
        assert labels[ids["excluded"]].exported_at is None
        assert labels[ids["no_intent"]].exported_at is None

    # Exported once: a second export finds nothing and writes nothing.
    again = build(engine, root)
    assert (again.examples, again.flags, again.nlu_yaml()) == ([], [], None)
    assert export(engine, root) == []
    assert nlu.read_text(encoding="utf-8") == text


def test_duplicates_and_conflicts_are_flagged_and_not_written(engine: Engine, root: Path) -> None:
    labels = {
        # the same text as an example of the same intent (case and punctuation aside)
        "duplicate": ("Where is my bag?!", "lost_baggage"),
        # the same as an example of another intent
        "conflict": ("MY SUITCASE NEVER ARRIVED!!!", "complaint"),
        # another reference, the same shape: the same example as far as the model goes
        "conflict_code": ("change my flight XY4K2P please", "cancel_booking"),
        # two labels of this export disagree: neither goes
        "skis_1": ("can I bring my skis", "baggage_allowance"),
        "skis_2": ("Can I bring my skis?", "special_assistance"),
        # two labels agree: one example
        "seat_1": ("my seat is broken", "complaint"),
        "seat_2": ("My seat is broken.", "complaint"),
        "new": ("what's the wifi password on board", "wifi"),
    }
    ids = {
        key: label(engine, customer_message(engine, f"c-{key}", text), intent)
        for key, (text, intent) in labels.items()
    }
    no_language = label(engine, customer_message(engine, "c-nolang", "hola", None), "greet")

    files = build(engine, root)
    flags = {(flag.label_id, flag.kind): flag for flag in files.flags}
    assert set(flags) == {
        (ids["duplicate"], FlagKind.DUPLICATE),
        (ids["conflict"], FlagKind.CONFLICT),
        (ids["conflict_code"], FlagKind.CONFLICT),
        (ids["skis_1"], FlagKind.CONFLICT),
        (ids["skis_2"], FlagKind.CONFLICT),
        (ids["seat_2"], FlagKind.DUPLICATE),
        (ids["new"], FlagKind.NEW_INTENT),
        (no_language, FlagKind.NO_LANGUAGE),
    }
    assert "lost_baggage in data/nlu/base.yml" in flags[(ids["conflict"], FlagKind.CONFLICT)].detail
    assert (
        "change_booking in data/nlu/base.yml"
        in flags[(ids["conflict_code"], FlagKind.CONFLICT)].detail
    )
    assert f"label {ids['skis_2']}" in flags[(ids["skis_1"], FlagKind.CONFLICT)].detail
    assert flags[(ids["new"], FlagKind.NEW_INTENT)].written
    assert not any(f.written for f in files.flags if f.kind != FlagKind.NEW_INTENT)
    assert [e.label_id for e in files.examples] == [ids["seat_1"], ids["new"]]

    export(engine, root)
    found = examples_of(root / "data" / "nlu" / "review" / "2026-12-04.yml")
    assert found == {
        ("complaint", "en"): ["my seat is broken"],
        ("wifi", "en"): ["what's the wifi password on board"],
    }
    with session_scope(engine) as session:
        rows = {row.id: row for row in session.query(ReviewLabel)}
        # A duplicate has nothing to add: done, and where its example is said.
        assert rows[ids["duplicate"]].export_file == "data/nlu/base.yml"
        assert rows[ids["seat_2"]].export_file == "data/nlu/review/2026-12-04.yml"
        # A conflict waits for the designer's choice, as does a label without a language.
        for key in ("conflict", "conflict_code", "skis_1", "skis_2"):
            assert rows[ids[key]].exported_at is None
        assert rows[no_language].exported_at is None

    # The examples just written count as the project's now.
    assert "my seat is broken" in known_examples(root)
    again = build(engine, root)
    assert {f.kind for f in again.flags} == {FlagKind.CONFLICT, FlagKind.NO_LANGUAGE}
    assert again.examples == []


def test_a_second_export_of_the_day_adds_to_the_file(engine: Engine, root: Path) -> None:
    label(engine, customer_message(engine, "a", "is there wifi on board"), "out_of_scope")
    export(engine, root)
    nlu = root / "data" / "nlu" / "review" / "2026-12-04.yml"
    first = nlu.read_text(encoding="utf-8")
    label(engine, customer_message(engine, "b", "où dépose-t-on les bagages"), "check_in", None)
    label(engine, customer_message(engine, "b", "les bagages, c'est où"), "check_in", None)
    with session_scope(engine) as session:
        session.query(ReviewLabel).filter(ReviewLabel.exported_at.is_(None)).update(
            {"language": "fr"}
        )
    export(engine, root)
    merged = nlu.read_text(encoding="utf-8")
    assert merged.startswith(first)
    assert examples_of(nlu) == {
        ("out_of_scope", "en"): ["is there wifi on board"],
        ("check_in", "fr"): ["où dépose-t-on les bagages", "les bagages, c'est où"],
    }


def tracker_events(ids: dict[str, int], made: datetime) -> list[dict[str, Any]]:
    """A tracker as Rasa keeps one: an earlier session, then greet, a misread request, a
    request for a person (the handoff), and a message logged while the agent held it."""
    at = (made - timedelta(minutes=30)).timestamp()

    def user(key: str, text: str, intent: str, **extra: Any) -> dict[str, Any]:
        return {
            "event": "user",
            "timestamp": at,
            "text": text,
            "parse_data": {
                "intent": {"name": intent, "confidence": 0.6},
                "language": "en",
                **extra,
            },
            "metadata": {"relais_message_id": ids[key]},
        }

    def action(name: str) -> dict[str, Any]:
        return {"event": "action", "name": name, "timestamp": at}

    return [
        action("action_session_start"),
        {"event": "session_started", "timestamp": at - 86_400},
        action("action_listen"),
        user("old", "old question", "flight_status"),
        action("action_flight_status"),
        action("action_session_start"),
        {"event": "session_started", "timestamp": at},
        action("action_listen"),
        user("hello", "hello, I'm Julie", "greet"),
        action("action_greet"),
        {"event": "bot", "text": "Hello!", "timestamp": at},
        action("action_listen"),
        user(
            "orly",
            "where do i drop my bags at orly, booking XY4K2P",
            "lost_baggage",
            entities=[{"entity": "booking_reference", "value": "XY4K2P", "start": 41, "end": 47}],
        ),
        action("action_lost_baggage"),
        action("action_listen"),
        user("thanks", "ok", "affirm"),
        action("action_affirm"),
        action("action_listen"),
        user("person", "let me talk to a person", "human_request"),
        action("action_escalate"),
        {"event": "pause", "timestamp": at},
        {**user("later", "hello?? anyone", "greet"), "metadata": {"handled_by": "agent"}},
    ]


def test_a_conversation_becomes_a_test_story_up_to_the_handoff(engine: Engine, root: Path) -> None:
    texts = {
        "old": "old question",
        "hello": "hello, I'm Julie",
        "orly": "where do i drop my bags at orly, booking XY4K2P",
        "thanks": "ok",
        "person": "let me talk to a person",
        "later": "hello?? anyone",
    }
    ids = {key: customer_message(engine, "story", text) for key, text in texts.items()}
    label(engine, ids["orly"], "check_in", [span(texts["orly"], "XY4K2P", "booking_reference")])
    label(engine, ids["thanks"], None, excluded=True)
    with session_scope(engine) as session:
        session.add(
            ReviewStory(conversation_id="web:story", name="Orly bag drop, Julie", created_at=NOW)
        )
    with session_scope(engine) as session:
        assert pending_conversations(session) == ["web:story"]

    trackers = {"web:story": tracker_events(ids, NOW)}
    files = build(engine, root, trackers)
    assert files.flags == []
    (story,) = files.stories
    assert "Julie" not in story.name
    assert list(story.steps) == [
        {"user": story.steps[0]["user"], "intent": "greet"},
        {"action": "action_greet"},
        {"user": story.steps[2]["user"], "intent": "check_in"},
        # corrected: what the rules answer check_in with, not what the bot did
        {"action": "action_check_in"},
        # "ok" was marked not for training: left out with what followed it
        {"user": "let me talk to a person", "intent": "human_request"},
        {"action": "action_escalate"},
    ]
    assert (
        story.steps[0]["user"].startswith("hello, I'm ") and "Julie" not in story.steps[0]["user"]
    )
    assert (
        story.steps[2]["user"]
        == "where do i drop my bags at orly, booking [XY7Q3Z](booking_reference)"
    )

    written = export(engine, root, trackers)
    stories = root / "tests" / "stories" / "review" / "2026-12-04.yml"
    assert stories in written
    data = yaml.safe_load(stories.read_text(encoding="utf-8"))
    assert data["version"] == "3.1"
    (written_story,) = data["stories"]
    assert written_story["story"] == story.name
    assert written_story["steps"][0]["user"].rstrip("\n") == story.steps[0]["user"]
    assert written_story["steps"][3] == {"action": "action_check_in"}
    with session_scope(engine) as session:
        (row,) = session.query(ReviewStory)
        assert (row.exported_at, row.export_file) == (NOW, "tests/stories/review/2026-12-04.yml")
    assert build(engine, root, trackers).stories == []


def test_stories_that_cannot_be_written_are_flagged_and_kept(engine: Engine, root: Path) -> None:
    made = NOW
    texts = {"hello": "hi", "orly": "bags at orly?", "thanks": "ok", "person": "a person pls"}
    trackers = {}
    for sender, change in (("no-rule", "wifi"), ("not-understood", None), ("empty", "skip")):
        ids = {key: customer_message(engine, sender, text) for key, text in texts.items()}
        ids["old"] = ids["later"] = ids["hello"]
        events = tracker_events(ids, made)
        if change == "wifi":
            label(engine, ids["orly"], "wifi")
        elif change is None:
            events[12]["parse_data"]["intent"]["name"] = "nlu_fallback"
        else:
            for key in ("hello", "orly", "thanks", "person"):
                label(engine, ids[key], None, excluded=True)
        trackers[f"web:{sender}"] = events
    customer_message(engine, "no-tracker", "hi")
    with session_scope(engine) as session:
        for sender in ("no-rule", "not-understood", "empty", "no-tracker"):
            session.add(ReviewStory(conversation_id=f"web:{sender}", name=sender, created_at=made))

    files = build(engine, root, trackers)
    assert files.stories == []
    assert sorted(f.kind for f in files.flags if f.story_id) == sorted(
        [FlagKind.NO_RULE, FlagKind.NOT_UNDERSTOOD, FlagKind.EMPTY_STORY, FlagKind.NO_TRACKER]
    )
    export(engine, root, trackers)
    with session_scope(engine) as session:
        assert all(row.exported_at is None for row in session.query(ReviewStory))


def test_marking_for_a_download_leaves_out_what_changed_since_the_build(
    engine: Engine, root: Path
) -> None:
    kept = label(engine, customer_message(engine, "d", "is there wifi on board"), "out_of_scope")
    changed = label(engine, customer_message(engine, "d", "wifi in the plane?"), "out_of_scope")
    files = build(engine, root)
    assert [e.label_id for e in files.examples] == [kept, changed]
    with session_scope(engine) as session:  # the designer changes a label meanwhile
        session.get(ReviewLabel, changed).updated_at = NOW + timedelta(minutes=1)
    with session_scope(engine) as session:
        marked = mark_exported(session, files, NOW)
    assert [e.label_id for e in marked.examples] == [kept]
    text = marked.nlu_yaml()
    assert text is not None and "is there wifi on board" in text and "plane" not in text
    with session_scope(engine) as session:
        assert session.get(ReviewLabel, kept).export_file == "data/nlu/review/2026-12-04.yml"
        assert session.get(ReviewLabel, changed).exported_at is None
    # Marked, not written: nothing in the project, and the next export skips it.
    assert not (root / "data" / "nlu" / "review").exists()
    assert [e.label_id for e in build(engine, root).examples] == [changed]
