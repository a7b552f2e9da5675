"""The hot path's command batching against a real redis-server: concurrent callers share round
trips yet each gets its own reply or error, scripts survive ``SCRIPT FLUSH``, arguments are
binary-safe, and a Redis restart is healed on the next call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from tests.support.redis import RedisServer
from wisp.queue.redis_batch import CommandBatcher, LuaScript, pack

pytestmark = pytest.mark.redis

COUNTED = LuaScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")


@pytest.fixture
async def batcher(redis_client: aioredis.Redis) -> AsyncIterator[CommandBatcher]:
    batcher = CommandBatcher(redis_client)
    yield batcher
    await batcher.close()


async def test_concurrent_calls_share_round_trips_and_each_gets_its_own_reply(
    batcher: CommandBatcher,
    redis_client: aioredis.Redis,
) -> None:
    await redis_client.set("text", "not a number")
    calls = [batcher.execute("INCR", "counter") for _ in range(100)]
    calls.insert(50, batcher.execute("INCR", "text"))

    replies = await asyncio.gather(*calls, return_exceptions=True)

    failed = replies.pop(50)
    assert isinstance(failed, ResponseError)  # only the caller whose command failed sees it
    assert sorted(replies) == list(range(1, 101))  # type: ignore[type-var]
    assert await redis_client.get("counter") == b"100"
    assert batcher.round_trips < 100


async def test_a_script_is_reloaded_after_redis_forgot_it_and_runs_once_per_call(
    batcher: CommandBatcher,
    redis_client: aioredis.Redis,
) -> None:
    assert await batcher.script(COUNTED, ["total"], [5]) == 5
    await redis_client.script_flush()

    replies = await asyncio.gather(*(batcher.script(COUNTED, ["total"], [1]) for _ in range(10)))

    assert sorted(replies) == list(range(6, 16))
    assert await redis_client.get("total") == b"15"


async def test_arguments_are_sent_byte_exact(
    batcher: CommandBatcher,
    redis_client: aioredis.Redis,
) -> None:
    value = b"\r\n$3\r\n\x00\xff" + "é".encode()
    await batcher.execute("SET", "raw", value)
    await batcher.execute("HSET", "h", "n", 42, "f", 0.5, "é", "ü")

    assert await redis_client.get("raw") == value
    assert await redis_client.hgetall("h") == {b"n": b"42", b"f": b"0.5", "é".encode(): "ü".encode()}
    assert pack(["GET", b"k"]) == b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
    with pytest.raises(TypeError):
        pack(["SET", "k", None])  # type: ignore[list-item]


async def test_a_redis_restart_is_healed_on_the_next_call(
    redis_server_factory: Callable[..., RedisServer],
) -> None:
    redis = redis_server_factory()
    client = aioredis.Redis.from_url(redis.url)
    batcher = CommandBatcher(client)
    try:
        assert await batcher.execute("INCR", "n") == 1
        redis.restart()  # the pooled connection is now dead
        assert await batcher.execute("INCR", "n") == 1
    finally:
        await batcher.close()
        await client.aclose()


async def test_large_commands_are_split_over_round_trips_of_bounded_size(
    redis_client: aioredis.Redis,
) -> None:
    batcher = CommandBatcher(redis_client, max_bytes=1000)
    try:
        values = {f"k{i}": bytes([65 + i]) * 600 for i in range(6)}
        await asyncio.gather(*(batcher.execute("SET", k, v) for k, v in values.items()))
        assert batcher.round_trips == 6  # no two 600-byte commands fit in 1000 bytes
        assert await redis_client.mget(list(values)) == list(values.values())
    finally:
        await batcher.close()
