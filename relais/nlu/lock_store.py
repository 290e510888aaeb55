"""A Redis lock store for Rasa servers that share conversations, without blocking their loop.

Rasa 3.6's `RedisLockStore` keeps a ticket queue per conversation in Redis and talks to it
with redis-py's synchronous client from the coroutine that serves the message: about seven
commands per message (issue a ticket, read it back, give it back, delete the lock), each one
a round trip during which the Rasa server serves no one else (7–16 % of its event loop in the
profiles of docs/tracker-store.md).

`AsyncRedisLockStore` gives the same guarantee — one turn of a conversation at a time across
every Rasa server using the same Redis — with redis-py's asyncio client: taking the lock is
one `SET NX PX` (retried every `retry_ms` while another server holds it), giving it back one
script that deletes it only if it is still ours. The event loop serves other messages while
Redis answers. What it does not keep from Rasa's store is the first-come order of several
turns waiting for one conversation: Relais never sends Rasa two messages of one conversation
at once (the router's lease takes them one by one, in order), so for Relais the lock is a
safety net, not the queue. A Rasa server names it in its endpoints.yml (README, "Scale-out"):

    lock_store:
      type: relais.nlu.lock_store.AsyncRedisLockStore
      url: <redis host>
      port: 6379
      db: 1
      key_prefix: relais
      password: ...        # optional, like username, use_ssl
      retry_ms: 10         # optional: how often a waiting turn tries again (default 10)
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore
from rasa.utils.endpoints import EndpointConfig
from redis import asyncio as aioredis
from redis.exceptions import LockError as RedisLockError

logger = logging.getLogger(__name__)

#: How often a turn waiting for a conversation another server is serving tries again.
DEFAULT_RETRY_MS = 10


class AsyncRedisLockStore(LockStore):
    """One turn per conversation at a time, across Rasa servers, through redis.asyncio."""

    def __init__(self, endpoint_config: EndpointConfig | None = None) -> None:
        config: dict[str, Any] = dict(endpoint_config.kwargs) if endpoint_config else {}
        host = (endpoint_config.url if endpoint_config else None) or "localhost"
        prefix = str(config.get("key_prefix") or "")
        if prefix and not prefix.isalnum():
            raise ValueError(f"lock_store key_prefix must be letters and digits, got {prefix!r}")
        self.key_prefix = f"{prefix}:lock:" if prefix else "lock:"
        self.retry_s = int(config.get("retry_ms", DEFAULT_RETRY_MS)) / 1000
        # Connections are made on first use, on the loop of the Rasa server that uses them.
        self.red = aioredis.Redis(
            host=host,
            port=int(config.get("port", 6379)),
            db=int(config.get("db", 1)),
            username=config.get("username"),
            password=config.get("password"),
            ssl=bool(config.get("use_ssl", False)),
            socket_timeout=float(config.get("socket_timeout", 10)),
        )
        super().__init__()

    def key(self, conversation_id: str) -> str:
        return self.key_prefix + conversation_id

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = 1,
    ) -> AsyncGenerator[TicketLock, None]:
        """Holds the conversation's lock for the body of the `async with`. A turn waits for
        another at most `lock_lifetime` seconds (Rasa's TICKET_LOCK_LIFETIME, 60 by default),
        as long as a lock can live: a server that died holding it frees it that way."""
        held = self.red.lock(
            self.key(conversation_id),
            timeout=lock_lifetime,
            sleep=self.retry_s,
            blocking_timeout=lock_lifetime,
            thread_local=False,  # one Lock object per turn: its token is its own
        )
        if not await held.acquire():
            raise LockError(
                f"Could not acquire lock for conversation_id '{conversation_id}' within "
                f"{lock_lifetime} s."
            )
        try:
            yield TicketLock(conversation_id)
        finally:
            try:
                await held.release()
            except RedisLockError:
                # It outlived its lifetime and another turn may hold it now: not ours to free.
                logger.warning(
                    "The lock of conversation %s expired before its turn ended (%s s).",
                    conversation_id,
                    lock_lifetime,
                )

    # Rasa's ticket methods: Rasa reaches the store only through `lock`, which this class
    # replaces; these say so if anything ever calls them.
    def get_lock(self, conversation_id: str) -> TicketLock | None:
        raise NotImplementedError("AsyncRedisLockStore keeps no tickets: use lock()")

    def delete_lock(self, conversation_id: str) -> None:
        raise NotImplementedError("AsyncRedisLockStore keeps no tickets: use lock()")

    def save_lock(self, lock: TicketLock) -> None:
        raise NotImplementedError("AsyncRedisLockStore keeps no tickets: use lock()")
