"""The gateway's database operations: store inbound once, write outgoing with its outbox entry.

Every function takes a Session and leaves committing to the caller (`session_scope`), so a
step and its consequences (a bot reply and its outbox entry, say) commit together.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from relais.core.types import Author, Delivery, Processing, State, utcnow
from relais.core.untrusted import bounded_id, clean_id, clean_text
from relais.storage.conversations import Conversation, Message, OutboxItem
from relais.storage.queries import customer_for_sender
from relais.storage.wakeups import note_outgoing

#: Longest text stored for one message; longer inbound text is cut, and flagged as cut.
MAX_TEXT = 20_000
#: The columns' sizes (relais/storage/conversations.py): a longer value would make
#: PostgreSQL refuse the row, and the message fail every time it is retried.
MAX_CHANNEL = 20
MAX_SENDER = 160
MAX_PLATFORM_ID = 120


@dataclass(frozen=True)
class Inbound:
    """A customer's message as every channel normalises it."""

    channel: str  #: "web", "telegram", "x"
    sender: str  #: the platform's id for the customer
    platform_id: str  #: the platform's id for this message: the same id is stored once
    text: str = ""
    attachments: Sequence[dict[str, Any]] = field(default_factory=tuple)
    sent_at: datetime | None = None
    #: The client's network address, when the channel's own client reaches us (the web
    #: chat): Rasa gets it with the message, and the action server limits per address.
    client_address: str | None = None
    #: The platform's id of the group this message was sent in (a Telegram album: several
    #: photos sent together): the group is stored as one message with every attachment.
    album: str | None = None

    @property
    def conversation_id(self) -> str:
        return f"{self.channel}:{self.sender}"

    def __post_init__(self) -> None:
        # Cleaned here, whatever the channel: what reaches storage and the logs (the
        # conversation id among them) has no control characters (relais/core/untrusted.py).
        for name in ("channel", "sender", "platform_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not clean_id(value):
                raise ValueError(f"inbound message: {name} must be a non-empty string")
            object.__setattr__(self, name, clean_id(value))
        if len(self.channel) > MAX_CHANNEL or len(self.sender) > MAX_SENDER:
            # Not cut: a shortened sender would be another customer, and replies go to it.
            raise ValueError(
                f"inbound message: channel and sender must be at most {MAX_CHANNEL} and "
                f"{MAX_SENDER} characters"
            )
        # A longer platform id (a web chat client's id, say) keeps its meaning as a digest.
        object.__setattr__(self, "platform_id", bounded_id(self.platform_id, MAX_PLATFORM_ID))
        if self.album is not None:
            if not isinstance(self.album, str) or not clean_id(self.album):
                raise ValueError("inbound message: album must be a non-empty string")
            object.__setattr__(self, "album", bounded_id(clean_id(self.album), MAX_PLATFORM_ID))
        if not isinstance(self.text, str):
            raise ValueError("inbound message: text must be a string")
        object.__setattr__(self, "text", clean_text(self.text))
        object.__setattr__(
            self, "attachments", tuple(_clean_attachment(a) for a in self.attachments)
        )


def _clean_attachment(attachment: dict[str, Any]) -> dict[str, Any]:
    """An attachment's description with its texts (a file name, a caption…) cleaned too."""
    return {
        str(key): clean_text(value) if isinstance(value, str) else value
        for key, value in dict(attachment).items()
    }


def conversation_for(session: Session, channel: str, sender: str) -> Conversation:
    """The conversation with this customer on this channel, created on first contact."""
    conversation_id = f"{channel}:{sender}"
    conversation = session.get(Conversation, conversation_id)
    if conversation is not None:
        return conversation
    customer = customer_for_sender(session, conversation_id)
    conversation = Conversation(
        id=conversation_id,
        channel=channel,
        sender=sender,
        state=State.BOT,
        customer_id=customer.id if customer else None,
        language=str(customer.preferred_language) if customer else None,
    )
    try:
        with session.begin_nested():
            session.add(conversation)
    except IntegrityError:  # another request created it a moment ago
        conversation = session.get(Conversation, conversation_id)
        assert conversation is not None
    return conversation


def store_inbound(session: Session, inbound: Inbound) -> tuple[Message, bool]:
    """Stores `inbound` as pending; returns (message, True), or (the stored one, False) if the
    platform already delivered this id."""
    existing = _by_platform_id(session, inbound.channel, inbound.platform_id)
    if existing is not None:
        return existing, False
    conversation = conversation_for(session, inbound.channel, inbound.sender)
    now = utcnow()
    text = inbound.text or ""
    message = Message(
        conversation_id=conversation.id,
        author=Author.CUSTOMER,
        channel=inbound.channel,
        platform_id=inbound.platform_id,
        text=text[:MAX_TEXT],
        attachments=[dict(a) for a in inbound.attachments],
        details={
            **({"cut": True} if len(text) > MAX_TEXT else {}),
            **({"client_address": inbound.client_address[:64]} if inbound.client_address else {}),
        },
        sent_at=inbound.sent_at or now,
        processing=Processing.PENDING,
    )
    try:
        with session.begin_nested():
            session.add(message)
    except IntegrityError:  # the same delivery, racing: keep the first
        stored = _by_platform_id(session, inbound.channel, inbound.platform_id)
        assert stored is not None
        return stored, False
    conversation.last_customer_at = now
    return message, True


#: Earlier texts kept for agents when a customer edits a message (the latest ones).
MAX_EDITS_KEPT = 20


def store_album_item(session: Session, inbound: Inbound) -> tuple[Message, str]:
    """Stores one message of an album (`inbound.album` set) into the album's one message:
    the first creates it, the others add their attachments and captions. Returns the album's
    message and "stored", "merged" or "duplicate" (this item was already in it)."""
    if inbound.album is None:
        raise ValueError("not a message of an album")
    item = inbound.platform_id
    album = _album_message(session, inbound.channel, inbound.album)
    if album is None:
        first = dataclasses.replace(inbound, platform_id=inbound.album, album=None)
        message, created = store_inbound(session, first)
        if created:
            message.attachments = [{**a, "item": item} for a in inbound.attachments]
            message.details = {
                **(message.details or {}),
                "album": inbound.album,
                "album_items": [item],
                "captions": {item: inbound.text} if inbound.text else {},
            }
            return message, "stored"
        album = _album_message(session, inbound.channel, inbound.album)  # another got there
        assert album is not None
    details = dict(album.details or {})
    items = list(details.get("album_items") or [])
    if item in items:
        return album, "duplicate"
    details["album_items"] = [*items, item]
    if inbound.text:
        details["captions"] = {**(details.get("captions") or {}), item: inbound.text}
    album.details = details
    album.attachments = [
        *(album.attachments or []),
        *({**a, "item": item} for a in inbound.attachments),
    ]
    _retext_album(album)
    return album, "merged"


def _album_message(session: Session, channel: str, album: str) -> Message | None:
    # Locked (PostgreSQL): two items of one album stored at once both land in it.
    return (
        session.execute(
            select(Message)
            .where(Message.channel == channel, Message.platform_id == album)
            .with_for_update()
        )
        .scalars()
        .first()
    )


def _retext_album(album: Message) -> None:
    """An album's text: its items' captions, in the order they came."""
    details = album.details or {}
    captions = details.get("captions") or {}
    text = "\n".join(captions[i] for i in details.get("album_items") or [] if captions.get(i))
    if text != album.text:
        album.text = text[:MAX_TEXT]
        _unsettle(album)


def _unsettle(message: Message) -> None:
    """A pending message's text changed before Rasa saw it: what goes to Rasa is worked out
    again from the new text (bot/router.py `settle_text`)."""
    if (
        message.processing == Processing.PENDING
        and not message.sent_to_rasa
        and not (message.details or {}).get("merged")
    ):
        message.routed_text = None


def store_edit(
    session: Session, inbound: Inbound, edited_at: datetime | None
) -> tuple[Message, str]:
    """A customer edited a message: its stored text (and attachments: a live location's new
    place) becomes the new one, the earlier text is kept for agents. Returns the message and
    what happened:

    - "pending": it was still waiting to be answered, so the new text is what gets answered;
    - "answered": it was answered already (or is being answered): not answered again;
    - "stored": the original never reached Relais: the edit is stored as a new message;
    - "duplicate": an edit as old as the one applied already (a retried delivery).
    """
    message = _by_platform_id(session, inbound.channel, inbound.platform_id)
    item = None
    if message is None and inbound.album is not None:
        album = _album_message(session, inbound.channel, inbound.album)
        if album is not None and inbound.platform_id in (album.details or {}).get(
            "album_items", []
        ):
            message, item = album, inbound.platform_id
    if message is None:
        if inbound.album is not None:
            stored, outcome = store_album_item(session, inbound)
        else:
            stored, created = store_inbound(session, inbound)
            outcome = "stored" if created else "duplicate"
        if outcome != "duplicate" and edited_at is not None:
            stored.details = {**(stored.details or {}), "edited_at": edited_at.isoformat()}
        return stored, "stored" if outcome != "duplicate" else outcome
    details = dict(message.details or {})
    last = details.get("edited_at")
    if edited_at is not None and last:
        applied = datetime.fromisoformat(last)
        # Telegram dates edits to the second: one of the same second with other content is
        # a later edit (updates come in order); one older, or the same again, is a repeat.
        same = (
            item is None
            and inbound.text == message.text
            and [dict(a) for a in inbound.attachments] == list(message.attachments or [])
        )
        if edited_at < applied or (edited_at == applied and same):
            return message, "duplicate"
    details["edits"] = [
        *(details.get("edits") or []),
        {"text": message.text, "at": last or message.sent_at.isoformat()},
    ][-MAX_EDITS_KEPT:]
    details["edited_at"] = (edited_at or utcnow()).isoformat()
    if item is None:
        message.details = details
        if inbound.text != message.text:
            message.text = (inbound.text or "")[:MAX_TEXT]
            _unsettle(message)
        message.attachments = [dict(a) for a in inbound.attachments]
    else:  # one item of an album: its caption and its files
        captions = dict(details.get("captions") or {})
        if inbound.text:
            captions[item] = inbound.text
        else:
            captions.pop(item, None)
        details["captions"] = captions
        message.details = details
        message.attachments = [
            *(a for a in message.attachments or [] if a.get("item") != item),
            *({**a, "item": item} for a in inbound.attachments),
        ]
        _retext_album(message)
    waiting = message.processing == Processing.PENDING and not message.sent_to_rasa
    return message, "pending" if waiting else "answered"


def bot_message_for_platform_id(
    session: Session, conversation_id: str, platform_id: str, look_back: int = 50
) -> Message | None:
    """The message Relais sent in this conversation that the platform knows as
    `platform_id` (a Telegram message whose button was pressed), among the latest ones."""
    rows = session.execute(
        select(OutboxItem.platform_ids, Message)
        .join(Message, Message.id == OutboxItem.message_id)
        .where(OutboxItem.conversation_id == conversation_id)
        .order_by(OutboxItem.id.desc())
        .limit(look_back)
    ).all()
    for ids, message in rows:
        if platform_id in (ids or []):
            return message
    return None


def _by_platform_id(session: Session, channel: str, platform_id: str) -> Message | None:
    return (
        session.execute(
            select(Message).where(Message.channel == channel, Message.platform_id == platform_id)
        )
        .scalars()
        .first()
    )


def add_outgoing(
    session: Session,
    conversation: Conversation,
    author: Author,
    text: str,
    buttons: Sequence[dict[str, Any]] = (),
    agent_id: int | None = None,
    details: dict[str, Any] | None = None,
) -> Message:
    """A message to the customer (bot or agent), with its outbox entry, in this transaction."""
    if author not in (Author.BOT, Author.AGENT):
        raise ValueError(f"only the bot or an agent writes to customers, not {author}")
    message = Message(
        conversation_id=conversation.id,
        author=author,
        agent_id=agent_id,
        channel=conversation.channel,
        text=text,
        buttons=[dict(b) for b in buttons],
        details=details or {},
        sent_at=utcnow(),
    )
    session.add(message)
    session.add(
        OutboxItem(
            message=message,
            conversation_id=conversation.id,
            channel=conversation.channel,
            recipient=conversation.sender,
        )
    )
    note_outgoing(session, conversation.id)
    return message


def add_system(
    session: Session,
    conversation: Conversation,
    text: str,
    details: dict[str, Any] | None = None,
    agent_id: int | None = None,
) -> Message:
    """A line in the transcript for agents (handed over, claimed…); never sent to the customer."""
    message = Message(
        conversation_id=conversation.id,
        author=Author.SYSTEM,
        agent_id=agent_id,
        channel=conversation.channel,
        text=text,
        details=details or {},
        sent_at=utcnow(),
    )
    session.add(message)
    return message


def next_pending(session: Session, conversation_id: str) -> Message | None:
    """The oldest inbound message of this conversation the router has not handled yet."""
    return (
        session.execute(
            select(Message)
            .where(
                Message.conversation_id == conversation_id, Message.processing == Processing.PENDING
            )
            .order_by(Message.id)
            .limit(1)
        )
        .scalars()
        .first()
    )


def conversations_with_pending(session: Session, limit: int = 500) -> list[str]:
    """Conversations with messages waiting for the router, oldest waiting first."""
    rows = session.execute(
        select(Message.conversation_id, func.min(Message.id).label("first"))
        .where(Message.processing == Processing.PENDING)
        .group_by(Message.conversation_id)
        .order_by("first")
        .limit(limit)
    ).all()
    return [row.conversation_id for row in rows]


def mark_processed(session: Session, message: Message, **details: Any) -> None:
    message.processing = Processing.DONE
    message.processed_at = utcnow()
    if details:
        message.details = {**(message.details or {}), **details}


def transcript(
    session: Session,
    conversation_id: str,
    after_id: int = 0,
    include_system: bool = True,
    limit: int = 500,
) -> list[Message]:
    query = select(Message).where(Message.conversation_id == conversation_id, Message.id > after_id)
    if not include_system:
        query = query.where(Message.author != Author.SYSTEM)
    return list(session.execute(query.order_by(Message.id).limit(limit)).scalars())


def mark_delivered(
    session: Session, message_ids: Sequence[int], platform_ids: Sequence[str] = ()
) -> int:
    """Marks these messages' outbox entries delivered (once); returns how many changed."""
    if not message_ids:
        return 0
    result = session.execute(
        update(OutboxItem)
        .where(
            OutboxItem.message_id.in_(list(message_ids)), OutboxItem.status != Delivery.DELIVERED
        )
        .values(status=Delivery.DELIVERED, delivered_at=utcnow(), platform_ids=list(platform_ids))
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)


def latest_bot_message(session: Session, conversation_id: str, before_id: int) -> Message | None:
    """The bot's latest message in the conversation before message `before_id` (the question
    a customer's message may answer: a button's number, a rating)."""
    return (
        session.execute(
            select(Message)
            .where(
                Message.conversation_id == conversation_id,
                Message.author == Author.BOT,
                Message.id < before_id,
            )
            .order_by(Message.id.desc())
            .limit(1)
        )
        .scalars()
        .first()
    )
