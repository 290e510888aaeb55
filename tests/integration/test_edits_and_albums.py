"""Storing what channels send beyond one new message, on SQLite and PostgreSQL: a customer's
edits, an album's messages as one, and what the console and metrics say about replies that
wait for a platform."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from handoff.metrics import backlog_lines, metrics, outbox_backlog
from relais.core.types import Author, Processing
from relais.storage.messages import (
    Inbound,
    add_outgoing,
    conversation_for,
    mark_processed,
    store_album_item,
    store_edit,
    store_inbound,
)

T0 = datetime(2026, 12, 5, 9, 0, 0)


def text(platform_id: str, words: str, **more: object) -> Inbound:
    return Inbound(channel="telegram", sender="42", platform_id=platform_id, text=words, **more)  # type: ignore[arg-type]


def test_edits_replace_the_text_keep_the_old_ones_and_say_whether_to_answer(
    session: Session,
) -> None:
    message, _ = store_inbound(session, text("42:1", "is my flight on tme?"))
    outcome = store_edit(session, text("42:1", "is my flight on time?"), T0)[1]
    assert outcome == "pending"  # not answered yet: the new text is what gets answered
    mark_processed(session, message)
    assert store_edit(session, text("42:1", "is XY123 on time?"), T0)[1] == "answered"
    # The same edit again (a retried delivery), or an older one: nothing changes.
    assert store_edit(session, text("42:1", "is XY123 on time?"), T0)[1] == "duplicate"
    assert store_edit(session, text("42:1", "older"), T0 - timedelta(seconds=5))[1] == ("duplicate")
    session.flush()
    assert message.text == "is XY123 on time?"
    assert [e["text"] for e in message.details["edits"]] == [
        "is my flight on tme?",
        "is my flight on time?",
    ]
    # An edit of a message that never reached Relais is stored as new.
    edited, outcome = store_edit(session, text("42:9", "hello?"), T0)
    assert outcome == "stored" and edited.processing == Processing.PENDING


def test_an_albums_messages_are_one_message_and_its_captions_its_text(session: Session) -> None:
    def photo(item: int, caption: str = "") -> Inbound:
        return text(
            f"42:{item}",
            caption,
            attachments=[{"kind": "photo", "ref": f"p{item}"}],
            album="42:album:7",
        )

    first, outcome = store_album_item(session, photo(1, "my bag"))
    assert outcome == "stored"
    assert store_album_item(session, photo(2))[1] == "merged"
    assert store_album_item(session, photo(3, "the handle"))[1] == "merged"
    assert store_album_item(session, photo(2))[1] == "duplicate"  # delivered again
    session.flush()
    assert [a["ref"] for a in first.attachments] == ["p1", "p2", "p3"]
    assert first.text == "my bag\nthe handle"
    # Editing one photo's caption changes the album's text.
    assert store_edit(session, photo(3, "the broken handle"), T0)[1] == "pending"
    assert first.text == "my bag\nthe broken handle"
    assert [a["ref"] for a in first.attachments] == ["p1", "p2", "p3"]


def test_replies_waiting_for_a_platform_show_in_the_console_and_the_metrics(
    session: Session,
) -> None:
    for channel, sender in (("x", "1"), ("x", "2"), ("telegram", "3"), ("web", "v-1")):
        add_outgoing(session, conversation_for(session, channel, sender), Author.BOT, "hello")
    session.flush()
    later = datetime.utcnow() + timedelta(minutes=7)
    backlog = outbox_backlog(session, later)
    assert {k: v["waiting"] for k, v in backlog.items()} == {"telegram": 1, "x": 2}
    assert backlog["x"]["oldest_s"] >= 7 * 60 - 5
    assert backlog_lines(backlog) == [
        "Replies waiting to go out on Telegram: 1, the oldest for 7 min.",
        "Replies waiting to go out on X: 2, the oldest for 7 min.",
    ]
    assert backlog_lines(backlog, "fr")[1].startswith("Réponses en attente d'envoi sur X : 2")
    assert metrics(session, later)["outbox_backlog"] == backlog
