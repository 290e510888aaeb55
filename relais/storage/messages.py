"""The gateway's database operations: store inbound once, write outgoing with its outbox entry.

Every function takes a Session and leaves committing to the caller (`session_scope`), so a
step and its consequences (a bot reply and its outbox entry, say) commit together.

What runs for every message (storing it, the router taking it, storing the bot's replies,
the web chat reading them) is SQLAlchemy Core, with statements built once at import (so that
SQLAlchemy finds them compiled) and run on the transaction's connection: the ORM's unit of
work and the building of each statement cost more than the database does. Those functions
take a Session or the Connection of `run_statements` (`Bind`) and take and return plain
values (`insert_inbound`, `take_pending`, `add_replies`, `mark_routed`, `customer_view`…);
the others keep the ORM.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from relais.core.types import Author, Delivery, Processing, State, utcnow
from relais.core.untrusted import bounded_id, clean_id, clean_text
from relais.storage.conversations import Conversation, Message, OutboxItem
from relais.storage.db import Bind, connection_of, orm_session
from relais.storage.queries import customer_for_sender
from relais.storage.review import Rating
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


_MESSAGES = Message.__table__
_CONVERSATIONS = Conversation.__table__
_OUTBOX = OutboxItem.__table__
#: INSERT … ON CONFLICT for each database Relais runs on.
_UPSERTS = {"sqlite": sqlite.insert, "postgresql": postgresql.insert}

#: Is this platform message stored already? (Asked when `_CUSTOMER_WROTE` changed nothing.)
_BY_PLATFORM_ID = select(_MESSAGES.c.id).where(
    _MESSAGES.c.channel == bindparam("channel"),
    _MESSAGES.c.platform_id == bindparam("platform_id"),
)
_INSERT_MESSAGE = insert(_MESSAGES)
#: Once per conversation: SQLAlchemy compiles this one each time (no cache key), which is
#: no cost at that rate.
_INSERT_CONVERSATION = {
    dialect: upsert(_CONVERSATIONS).on_conflict_do_nothing() for dialect, upsert in _UPSERTS.items()
}
#: The customer wrote: noted in their conversation, unless this platform message is stored
#: already. No row changed: a new conversation, or a message delivered again (`_BY_PLATFORM_ID`
#: tells which); one statement in the usual case, where both are checked before the insert.
_CUSTOMER_WROTE = (
    update(_CONVERSATIONS)
    .where(
        _CONVERSATIONS.c.id == bindparam("conversation_id"),
        ~exists().where(
            _MESSAGES.c.channel == bindparam("inbound_channel"),
            _MESSAGES.c.platform_id == bindparam("inbound_platform_id"),
        ),
    )
    .values(last_customer_at=bindparam("wrote_at"))
)


def _create_conversation(session: Session, channel: str, sender: str) -> None:
    """Creates the conversation with this customer on this channel, bound to the customer the
    channel identity names; nothing when another request created it a moment ago."""
    conversation_id = f"{channel}:{sender}"
    customer = customer_for_sender(session, conversation_id)
    connection = session.connection()
    connection.execute(
        _INSERT_CONVERSATION[connection.dialect.name],
        {
            "id": conversation_id,
            "channel": channel,
            "sender": sender,
            "state": State.BOT,
            "customer_id": customer.id if customer else None,
            "language": str(customer.preferred_language) if customer else None,
        },
    )


def conversation_for(session: Session, channel: str, sender: str) -> Conversation:
    """The conversation with this customer on this channel, created on first contact."""
    conversation_id = f"{channel}:{sender}"
    conversation = session.get(Conversation, conversation_id)
    if conversation is not None:
        return conversation
    _create_conversation(session, channel, sender)
    conversation = session.get(Conversation, conversation_id)
    assert conversation is not None
    return conversation


def insert_inbound(bind: Bind, inbound: Inbound) -> tuple[int, bool]:
    """Stores `inbound` as pending; returns (its id, True), or (the stored one's id, False)
    if the platform already delivered this id. Two statements when the conversation exists
    and the message is new: the conversation's `last_customer_at` (which checks both), and
    the insert.

    The same delivery stored at the same moment by another transaction makes the insert
    raise IntegrityError (the unique channel and platform id): run it again in a new
    transaction (Router.store) or a savepoint (`store_inbound`), and it finds that one."""
    connection = connection_of(bind)
    now = utcnow()
    keys = {
        "inbound_channel": inbound.channel,
        "inbound_platform_id": inbound.platform_id,
        "conversation_id": inbound.conversation_id,
    }
    if not connection.execute(_CUSTOMER_WROTE, {**keys, "wrote_at": now}).rowcount:
        stored = connection.execute(
            _BY_PLATFORM_ID, {"channel": inbound.channel, "platform_id": inbound.platform_id}
        ).scalar()
        if stored is not None:
            return int(stored), False
        with orm_session(bind) as session:  # once per conversation: the ORM is fine
            _create_conversation(session, inbound.channel, inbound.sender)
        connection.execute(_CUSTOMER_WROTE, {**keys, "wrote_at": now})
    text = inbound.text or ""
    details: dict[str, Any] = {}
    if len(text) > MAX_TEXT:
        details["cut"] = True
    if inbound.client_address:
        details["client_address"] = inbound.client_address[:64]
    inserted = connection.execute(
        _INSERT_MESSAGE,
        {
            "conversation_id": inbound.conversation_id,
            "author": Author.CUSTOMER,
            "channel": inbound.channel,
            "platform_id": inbound.platform_id,
            "text": text[:MAX_TEXT],
            "attachments": [dict(a) for a in inbound.attachments],
            "details": details,
            "sent_at": inbound.sent_at or now,
            "created_at": now,
            "processing": Processing.PENDING,
        },
    )
    return int(inserted.inserted_primary_key[0]), True


def _stored_id(session: Session, inbound: Inbound) -> int:
    return int(
        session.connection()
        .execute(_BY_PLATFORM_ID, {"channel": inbound.channel, "platform_id": inbound.platform_id})
        .scalar_one()
    )


def store_inbound(session: Session, inbound: Inbound) -> tuple[Message, bool]:
    """Stores `inbound` as pending; returns (message, True), or (the stored one, False) if the
    platform already delivered this id (`insert_inbound`, with the message as an object)."""
    session.flush()  # the statements below do not flush the session's pending objects
    try:
        with session.begin_nested():
            message_id, created = insert_inbound(session, inbound)
    except IntegrityError:  # the same delivery, racing: keep the first
        message_id, created = _stored_id(session, inbound), False
    loaded = session.identity_map.get(identity_key(Conversation, inbound.conversation_id))
    if created and loaded is not None:  # written past the session: read again when used
        session.expire(loaded, ["last_customer_at", "updated_at"])
    message = session.get(Message, message_id)
    assert message is not None
    return message, created


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


def _outgoing_row(
    conversation_id: str,
    channel: str,
    author: Author,
    text: str,
    buttons: Sequence[dict[str, Any]],
    agent_id: int | None,
    details: dict[str, Any] | None,
    now: datetime,
) -> dict[str, Any]:
    """A message to the customer as its row holds it (`add_outgoing`, `add_replies`)."""
    if author not in (Author.BOT, Author.AGENT):
        raise ValueError(f"only the bot or an agent writes to customers, not {author}")
    return {
        "conversation_id": conversation_id,
        "author": author,
        "agent_id": agent_id,
        "channel": channel,
        "text": text,
        "buttons": [dict(b) for b in buttons],
        "details": details or {},
        "sent_at": now,
        "created_at": now,
    }


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
    row = _outgoing_row(
        conversation.id, conversation.channel, author, text, buttons, agent_id, details, utcnow()
    )
    message = Message(**row)
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


_INSERT_OUTBOX = insert(_OUTBOX)


@dataclass(frozen=True)
class Reply:
    """One of the bot's messages to store (`add_replies`)."""

    text: str
    buttons: Sequence[dict[str, Any]] = ()


def add_replies(
    bind: Bind, conversation_id: str, channel: str, recipient: str, replies: Sequence[Reply]
) -> list[int]:
    """The bot's messages to the customer, each with its outbox entry, in this transaction
    (what `add_outgoing` writes, in one insert per message and one for all the entries);
    returns their ids, in order."""
    if not replies:
        return []
    connection = connection_of(bind)
    now = utcnow()
    ids = [
        int(
            connection.execute(
                _INSERT_MESSAGE,
                _outgoing_row(
                    conversation_id, channel, Author.BOT, r.text, r.buttons, None, None, now
                ),
            ).inserted_primary_key[0]
        )
        for r in replies
    ]
    connection.execute(
        _INSERT_OUTBOX,
        [
            {
                "message_id": message_id,
                "conversation_id": conversation_id,
                "channel": channel,
                "recipient": recipient,
                "status": Delivery.PENDING,
                "attempts": 0,
                "next_attempt_at": now,
                "platform_ids": [],
                "created_at": now,
            }
            for message_id in ids
        ],
    )
    note_outgoing(bind, conversation_id)
    return ids


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


_DELIVERED = (
    update(_OUTBOX)
    .where(
        _OUTBOX.c.message_id.in_(bindparam("message_ids", expanding=True)),
        _OUTBOX.c.status != Delivery.DELIVERED,
    )
    .values(
        status=Delivery.DELIVERED,
        delivered_at=bindparam("delivered_at"),
        platform_ids=bindparam("delivered_ids"),
    )
)


def mark_delivered(bind: Bind, message_ids: Sequence[int], platform_ids: Sequence[str] = ()) -> int:
    """Marks these messages' outbox entries delivered (once); returns how many changed."""
    if not message_ids:
        return 0
    if isinstance(bind, Session):
        bind.flush()  # the statement below does not flush the session's pending objects
    result = connection_of(bind).execute(
        _DELIVERED,
        {
            "message_ids": list(message_ids),
            "delivered_at": utcnow(),
            "delivered_ids": list(platform_ids),
        },
    )
    return int(result.rowcount or 0)


# --- the router's and the web chat's statements, run for every message --------------------------


@dataclass
class Pending:
    """A customer message waiting for the router, as `take_pending` read it. The router
    settles `routed_text` (bot/router.py) before it goes to Rasa."""

    id: int
    conversation_id: str
    channel: str
    text: str
    routed_text: str | None
    attachments: list[dict[str, Any]]
    details: dict[str, Any]
    sent_at: datetime
    created_at: datetime
    #: An earlier attempt reached (or may have reached) Rasa with it.
    sent_to_rasa: bool


@dataclass(frozen=True)
class Waiting:
    """A conversation's next pending messages, with what the router decides on."""

    messages: list[Pending]  #: the oldest two at most: the next one, and whether more wait
    state: State | None  #: who holds the conversation
    #: An agent's resolve or hand-back has not reached Rasa yet (`Conversation.rasa_pending`).
    rasa_pending: str | None
    #: A rating question was asked since `rated_since`: the next message may answer it.
    rated: bool


_RATINGS = Rating.__table__
_TAKE_PENDING = (
    select(
        _MESSAGES.c.id,
        _MESSAGES.c.conversation_id,
        _MESSAGES.c.channel,
        _MESSAGES.c.text,
        _MESSAGES.c.routed_text,
        _MESSAGES.c.attachments,
        _MESSAGES.c.details,
        _MESSAGES.c.sent_at,
        _MESSAGES.c.created_at,
        _MESSAGES.c.sent_to_rasa,
        _CONVERSATIONS.c.state,
        _CONVERSATIONS.c.rasa_pending,
        exists()
        .where(
            _RATINGS.c.conversation_id == bindparam("conversation_id"),
            _RATINGS.c.asked_at >= bindparam("rated_since"),
        )
        .label("rated"),
    )
    .join_from(_MESSAGES, _CONVERSATIONS, _CONVERSATIONS.c.id == _MESSAGES.c.conversation_id)
    .where(
        _MESSAGES.c.conversation_id == bindparam("conversation_id"),
        _MESSAGES.c.processing == Processing.PENDING,
    )
    .order_by(_MESSAGES.c.id)
    .limit(2)
)


def take_pending(bind: Bind, conversation_id: str, rated_since: datetime) -> Waiting:
    """The conversation's oldest pending messages (two at most) with its state, in one
    statement."""
    rows = (
        connection_of(bind)
        .execute(_TAKE_PENDING, {"conversation_id": conversation_id, "rated_since": rated_since})
        .all()
    )
    if not rows:
        return Waiting([], None, None, False)
    first = rows[0]
    return Waiting(
        [
            Pending(
                id=r.id,
                conversation_id=r.conversation_id,
                channel=r.channel,
                text=r.text,
                routed_text=r.routed_text,
                attachments=list(r.attachments or []),
                details=dict(r.details or {}),
                sent_at=r.sent_at,
                created_at=r.created_at,
                sent_to_rasa=bool(r.sent_to_rasa),
            )
            for r in rows
        ],
        first.state,
        first.rasa_pending,
        bool(first.rated),
    )


_SENDING = (
    update(_MESSAGES)
    .where(_MESSAGES.c.id == bindparam("message_id"))
    .values(sent_to_rasa=bindparam("to_rasa"), routed_text=bindparam("routed"))
)
_REOPEN = (
    update(_CONVERSATIONS)
    .where(
        _CONVERSATIONS.c.id == bindparam("conversation_id"),
        _CONVERSATIONS.c.state == State.CLOSED,
    )
    .values(state=State.BOT)
)


def mark_sending(bind: Bind, message: Pending) -> None:
    """Writes what the router settled for `message`: what goes to Rasa (`routed_text`), and
    whether it goes (`sent_to_rasa`, before the call: after a crash, the tracker tells)."""
    connection_of(bind).execute(
        _SENDING,
        {"message_id": message.id, "to_rasa": message.sent_to_rasa, "routed": message.routed_text},
    )


def reopen(bind: Bind, conversation_id: str) -> None:
    """A closed conversation is the bot's again (a new message after an agent resolved it)."""
    connection_of(bind).execute(_REOPEN, {"conversation_id": conversation_id})


@dataclass(frozen=True)
class Answering:
    """A message the router is about to answer, with its conversation, as `answering` read it
    in the transaction that stores the answer."""

    pending: bool  #: still waiting for the router (another worker has not handled it)
    details: dict[str, Any]
    conversation_id: str
    state: State
    channel: str
    sender: str  #: the recipient of the replies


_ANSWERING = (
    select(
        _MESSAGES.c.processing,
        _MESSAGES.c.details,
        _CONVERSATIONS.c.id,
        _CONVERSATIONS.c.state,
        _CONVERSATIONS.c.channel,
        _CONVERSATIONS.c.sender,
    )
    .join_from(_MESSAGES, _CONVERSATIONS, _CONVERSATIONS.c.id == _MESSAGES.c.conversation_id)
    .where(_MESSAGES.c.id == bindparam("message_id"))
)


def answering(bind: Bind, message_id: int) -> Answering:
    """Message `message_id` and its conversation as they are now, in one statement."""
    row = connection_of(bind).execute(_ANSWERING, {"message_id": message_id}).one()
    return Answering(
        pending=row.processing == Processing.PENDING,
        details=dict(row.details or {}),
        conversation_id=row.id,
        state=row.state,
        channel=row.channel,
        sender=row.sender,
    )


_ROUTED = (
    update(_MESSAGES)
    .where(_MESSAGES.c.id == bindparam("message_id"))
    .values(
        processing=Processing.DONE,
        processed_at=bindparam("routed_at"),
        details=bindparam("routed_details"),
    )
)


def mark_routed(bind: Bind, message_id: int, details: dict[str, Any]) -> None:
    """Done with a message (`mark_processed` for a message read as values); `details` are
    all of its details, as they are to be stored."""
    connection_of(bind).execute(
        _ROUTED, {"message_id": message_id, "routed_at": utcnow(), "routed_details": details}
    )


#: Everything after message `after` that the customer sees, with the conversation's state
#: on every row (one row of NULLs beside it when there is nothing new).
_CUSTOMER_VIEW = (
    select(
        _CONVERSATIONS.c.state,
        _MESSAGES.c.id,
        _MESSAGES.c.author,
        _MESSAGES.c.text,
        _MESSAGES.c.buttons,
        _MESSAGES.c.sent_at,
    )
    .select_from(
        _CONVERSATIONS.outerjoin(
            _MESSAGES,
            and_(
                _MESSAGES.c.conversation_id == _CONVERSATIONS.c.id,
                _MESSAGES.c.id > bindparam("after"),
                _MESSAGES.c.author != Author.SYSTEM,
            ),
        )
    )
    .where(_CONVERSATIONS.c.id == bindparam("conversation_id"))
    .order_by(_MESSAGES.c.id)
    .limit(bindparam("view_limit"))
)


@dataclass(frozen=True)
class Seen:
    """A line of the transcript as the customer sees it."""

    id: int
    author: Author
    text: str
    buttons: list[dict[str, Any]]
    sent_at: datetime


def customer_view(
    bind: Bind, conversation_id: str, after: int, limit: int
) -> tuple[State | None, list[Seen]]:
    """The conversation's state (None: no such conversation) and, oldest first, at most
    `limit` of its messages after message `after` that the customer sees (not the system's
    lines for agents): one statement."""
    rows = (
        connection_of(bind)
        .execute(
            _CUSTOMER_VIEW,
            {"conversation_id": conversation_id, "after": after, "view_limit": limit},
        )
        .all()
    )
    if not rows:
        return None, []
    return rows[0].state, [
        Seen(r.id, r.author, r.text, list(r.buttons or []), r.sent_at)
        for r in rows
        if r.id is not None
    ]


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


_LATEST_BOT_BUTTONS = (
    select(_MESSAGES.c.buttons)
    .where(
        _MESSAGES.c.conversation_id == bindparam("conversation_id"),
        _MESSAGES.c.author == Author.BOT,
        _MESSAGES.c.id < bindparam("before_id"),
    )
    .order_by(_MESSAGES.c.id.desc())
    .limit(1)
)


def latest_bot_buttons(bind: Bind, conversation_id: str, before_id: int) -> list[dict[str, Any]]:
    """The buttons of the bot's latest message before message `before_id` (the question a
    customer's typed number may answer); an empty list when there is none."""
    buttons = (
        connection_of(bind)
        .execute(_LATEST_BOT_BUTTONS, {"conversation_id": conversation_id, "before_id": before_id})
        .scalar()
    )
    return list(buttons or [])
