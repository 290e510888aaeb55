"""Wake-ups across workers on PostgreSQL: LISTEN for what other workers wrote to customers.

Every transaction that writes a message to a customer also sends `NOTIFY relais_outgoing`
with its conversation id (relais/storage/wakeups.py); PostgreSQL delivers it at the commit.
Each worker keeps one connection listening, read from the event loop when the socket has
data, so a reply another worker (or an agent on another worker) wrote reaches this worker's
waiting web chat requests at once, without looking at the database in a loop. If the
connection drops it is opened again; meanwhile the long polls still look every few seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

import psycopg2  # type: ignore[import-untyped]
import psycopg2.extensions  # type: ignore[import-untyped]
from sqlalchemy.engine import URL

from relais.storage.wakeups import CHANNEL

logger = logging.getLogger(__name__)
RECONNECT_S = 2.0


class OutgoingListener:
    """Calls `woken(conversation_ids)` on the event loop for every NOTIFY on the channel."""

    def __init__(self, url: URL, woken: Callable[[Iterable[str]], None]) -> None:
        self.dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        self.woken = woken
        self._connection: psycopg2.extensions.connection | None = None
        self._retry: asyncio.TimerHandle | None = None
        self._closed = False

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            connection = psycopg2.connect(self.dsn)
            connection.set_isolation_level(psycopg2.extensions.ISOLATION_LEVEL_AUTOCOMMIT)
            with connection.cursor() as cursor:
                cursor.execute(f"LISTEN {CHANNEL}")
        except psycopg2.Error as error:
            logger.warning("cannot listen for other workers' replies (%s); retrying", error)
            self._retry = loop.call_later(RECONNECT_S, self.start)
            return
        self._connection = connection
        loop.add_reader(connection.fileno(), self._readable)

    def _readable(self) -> None:
        connection = self._connection
        if connection is None:
            return
        try:
            connection.poll()
        except psycopg2.Error as error:
            logger.warning("lost the listening connection (%s); reopening it", error)
            self._drop()
            if not self._closed:
                self._retry = asyncio.get_running_loop().call_later(RECONNECT_S, self.start)
            return
        ids = {notify.payload for notify in connection.notifies}
        connection.notifies.clear()
        if ids:
            self.woken(ids)

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            asyncio.get_running_loop().remove_reader(connection.fileno())
        except (ValueError, psycopg2.Error):  # the socket is already gone
            pass
        connection.close()

    def close(self) -> None:
        self._closed = True
        if self._retry is not None:
            self._retry.cancel()
        self._drop()
