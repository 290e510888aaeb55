"""Who is told when a message to a customer is committed: the web chat's held requests.

`note_outgoing` is called wherever a bot or agent message is written (`add_outgoing`,
`add_replies`), in a Session's transaction or in a Connection's run by
`relais.storage.db.run_statements`. When the transaction commits:

- in this process, every callback registered with `on_outgoing` gets the conversation ids
  (the gateway wakes the web chat's long polls of those conversations at once);
- on PostgreSQL, `NOTIFY relais_outgoing, '<conversation id>'` is sent in the same
  transaction, so the other workers hear of it at its commit and never before
  (bot/wakeups.py listens). Nothing polls the database to find out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable

from sqlalchemy import bindparam, event, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)

#: The PostgreSQL channel other workers LISTEN on.
CHANNEL = "relais_outgoing"
_INFO_KEY = "relais_outgoing"
#: Built once: every reply the bot writes sends it (PostgreSQL only).
_NOTIFY = select(func.pg_notify(CHANNEL, bindparam("conversation_id")))

Callback = Callable[[Iterable[str]], None]
_callbacks: list[Callback] = []
_callbacks_lock = threading.Lock()


def note_outgoing(bind: Session | Connection, conversation_id: str) -> None:
    """A message to the customer of `conversation_id` is written in this transaction (the
    Session's, or the Connection's of `run_statements`)."""
    noted: set[str] = bind.info.setdefault(_INFO_KEY, set())
    if conversation_id in noted:
        return
    noted.add(conversation_id)
    connection = bind.connection() if isinstance(bind, Session) else bind
    if connection.dialect.name == "postgresql":
        connection.execute(_NOTIFY, {"conversation_id": conversation_id})


def take_noted(bind: Session | Connection) -> set[str]:
    """The conversations noted in this transaction so far, forgotten there. A Connection's
    `info` outlives the transaction (it is the pooled connection's): `run_statements` takes
    them at its end, committed or not."""
    noted: set[str] | None = bind.info.pop(_INFO_KEY, None)
    return noted or set()


def move_noted(session: Session, connection: Connection) -> None:
    """What a Session joined to `connection`'s transaction noted becomes the connection's
    (`relais.storage.db.joined_session`): told when that transaction commits."""
    noted = take_noted(session)
    if noted:
        connection.info.setdefault(_INFO_KEY, set()).update(noted)


def announce(conversation_ids: set[str]) -> None:
    """Tells every callback of `on_outgoing` (after a commit, in the committing thread)."""
    if not conversation_ids:
        return
    with _callbacks_lock:
        callbacks = list(_callbacks)
    for callback in callbacks:
        try:
            callback(conversation_ids)
        except Exception:  # noqa: BLE001 - a listener's failure must not fail the commit
            logger.exception("a wake-up listener failed")


def on_outgoing(callback: Callback) -> Callable[[], None]:
    """Calls `callback(conversation_ids)` after each commit that wrote messages to customers
    (in the committing thread); returns the function that stops it."""
    with _callbacks_lock:
        _callbacks.append(callback)

    def stop() -> None:
        with _callbacks_lock:
            if callback in _callbacks:
                _callbacks.remove(callback)

    return stop


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    announce(take_noted(session))


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(_INFO_KEY, None)  # nothing was written: nobody is woken
