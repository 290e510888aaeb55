"""Who is told when a message to a customer is committed: the web chat's held requests.

`note_outgoing` is called wherever a bot or agent message is written (`add_outgoing`). When
the transaction commits:

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

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)

#: The PostgreSQL channel other workers LISTEN on.
CHANNEL = "relais_outgoing"
_INFO_KEY = "relais_outgoing"

Callback = Callable[[Iterable[str]], None]
_callbacks: list[Callback] = []
_callbacks_lock = threading.Lock()


def note_outgoing(session: Session, conversation_id: str) -> None:
    """A message to the customer of `conversation_id` is written in this transaction."""
    noted: set[str] = session.info.setdefault(_INFO_KEY, set())
    if conversation_id in noted:
        return
    noted.add(conversation_id)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_notify(CHANNEL, conversation_id)))


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
    noted = session.info.pop(_INFO_KEY, None)
    if not noted:
        return
    with _callbacks_lock:
        callbacks = list(_callbacks)
    for callback in callbacks:
        try:
            callback(noted)
        except Exception:  # noqa: BLE001 - a listener's failure must not fail the commit
            logger.exception("a wake-up listener failed")


@event.listens_for(Session, "after_rollback")
def _rolled_back(session: Session) -> None:
    session.info.pop(_INFO_KEY, None)  # nothing was written: nobody is woken
