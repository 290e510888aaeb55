"""Relais's lock store for shared Rasa servers (relais/nlu/lock_store.py), on the real Redis:
one turn of a conversation at a time, others free to run, a lock freed on error and after
its lifetime, a clear error when a turn cannot get it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
import redis
from rasa.core.lock_store import LockError, LockStore
from rasa.utils.endpoints import EndpointConfig

from relais.nlu.lock_store import AsyncRedisLockStore


@pytest.fixture
def prefix() -> Iterator[str]:
    """A key prefix of this test's own; its keys are gone afterwards."""
    client = redis.Redis(host="127.0.0.1", port=6379, db=14, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:  # the integration tier needs Redis (README, "Tests")
        pytest.fail(f"Redis is not reachable at 127.0.0.1:6379: {error}")
    name = "t" + uuid.uuid4().hex[:12]
    yield name
    for key in client.scan_iter(f"{name}:*"):
        client.delete(key)


def store(prefix: str, **extra: object) -> LockStore:
    # As Rasa builds it from endpoints.yml's `lock_store:` section.
    config = EndpointConfig(
        "127.0.0.1",
        type="relais.nlu.lock_store.AsyncRedisLockStore",
        port=6379,
        db=14,
        key_prefix=prefix,
        **extra,
    )
    created = LockStore.create(config)
    assert isinstance(created, AsyncRedisLockStore)
    return created


def test_two_servers_never_serve_one_conversation_at_once(prefix: str) -> None:
    first, second = store(prefix), store(prefix)  # two Rasa servers, one Redis
    inside: list[str] = []
    log: list[tuple[str, str]] = []

    async def turn(server: LockStore, name: str, conversation: str) -> None:
        async with server.lock(conversation):
            inside.append(name)
            log.append(("in", name))
            # The same conversation is never inside twice at once.
            assert [n for n in inside if n.split("-")[0] == conversation] == [name]
            await asyncio.sleep(0.02)
            inside.remove(name)
            log.append(("out", name))

    async def main() -> None:
        await asyncio.gather(
            *(turn(first if i % 2 else second, f"a-{i}", "a") for i in range(6)),
            *(turn(second, f"b-{i}", "b") for i in range(3)),
        )

    asyncio.run(main())
    turns_of_a = [name for step, name in log if step == "in" and name.startswith("a-")]
    assert sorted(turns_of_a) == [f"a-{i}" for i in range(6)]
    # Another conversation was not made to wait for "a": some "b" turn ran beside an "a" one.
    overlapping = False
    open_turns: set[str] = set()
    for step, name in log:
        if step == "in":
            overlapping |= any(n[0] != name[0] for n in open_turns)
            open_turns.add(name)
        else:
            open_turns.discard(name)
    assert overlapping


def test_a_turn_that_fails_frees_the_conversation(prefix: str) -> None:
    server = store(prefix)

    async def main() -> None:
        with pytest.raises(RuntimeError):
            async with server.lock("c"):
                raise RuntimeError("the turn failed")
        async with server.lock("c", wait_time_in_seconds=0.01):
            pass  # taken again at once

    asyncio.run(asyncio.wait_for(main(), timeout=5))
    assert not redis.Redis(host="127.0.0.1", port=6379, db=14).exists(f"{prefix}:lock:c")


def test_a_turn_waits_no_longer_than_a_lock_lives(prefix: str) -> None:
    holder, waiter = store(prefix), store(prefix, retry_ms=5)
    order: list[str] = []

    async def main() -> None:
        async with holder.lock("d", lock_lifetime=30):
            with pytest.raises(LockError, match="Could not acquire lock"):
                async with waiter.lock("d", lock_lifetime=0.2):
                    order.append("waiter got in")
            order.append("waiter gave up")

    asyncio.run(main())
    assert order == ["waiter gave up"]


def test_a_lock_whose_server_died_expires_with_its_lifetime(prefix: str) -> None:
    server = store(prefix)
    # A server that died mid-turn left its lock behind, with the lifetime it was given.
    redis.Redis(host="127.0.0.1", port=6379, db=14).set(f"{prefix}:lock:e", "dead", px=200)

    async def main() -> None:
        async with server.lock("e", lock_lifetime=5):
            return

    asyncio.run(asyncio.wait_for(main(), timeout=5))


def test_a_key_prefix_other_than_letters_and_digits_is_refused() -> None:
    with pytest.raises(Exception, match="key_prefix"):
        store("bad prefix!")
