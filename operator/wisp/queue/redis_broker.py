"""``Broker`` on Redis Streams (redis-py's asyncio client).

Layout (docs/events.md has the user-facing part):

* a subscription = consumer group ``group`` on ``stream``, plus its private retry stream (same
  group) and delayed set; a failed delivery is acknowledged on its stream and, in the same
  MULTI, stored in the delayed set with its due time; ``promote_due`` moves it onto the retry
  stream, so only this group sees it again and the source stream is never rewritten.
* retry-stream entries carry ``m:*`` meta fields (attempt, origin, first enqueue time, last
  error) and the producer's fields as ``f:<name>``, so meta can never clash with user fields.
* deliveries stay in the group's pending list until acknowledged; consumers renew their own
  (``RENEW``) and take over others' after the visibility timeout (``XAUTOCLAIM``).
* the hot path (accept: ``PUBLISH``; settle a success: ``ACK``) is one script call each, and
  concurrent calls share round trips through ``CommandBatcher``.

Connection errors and timeouts surface as ``BrokerUnavailable``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ResponseError, WatchError

from wisp.queue import names, redis_scripts
from wisp.queue.broker import DeadLetter, RecordUpdate, SubscriptionSpec, redrive_each, until_uncontended
from wisp.queue.entries import field_name, redrive_entry
from wisp.queue.redis_batch import CommandBatcher, LuaScript
from wisp.queue.redis_errors import text, unavailable_as_broker_error
from wisp.queue.redis_subscription import RedisSubscription
from wisp.queue.settings import RedisSettings


def _client(settings: RedisSettings, socket_timeout: float | None) -> aioredis.Redis:
    # A blocking pool: a burst of requests waits for a free connection instead of failing.
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.url,
        password=settings.password,
        socket_connect_timeout=settings.connect_timeout,
        socket_timeout=socket_timeout,
        max_connections=settings.max_connections,
        timeout=settings.command_timeout,
        # One quick retry heals a pooled connection that died with a Redis restart; more would
        # only delay the 503 an outage should produce. The asyncio client takes the asyncio
        # Retry (its call_with_retry awaits); redis-py 8 warns when handed the synchronous one.
        retry=Retry(NoBackoff(), 1),
        decode_responses=False,
    )
    return aioredis.Redis.from_pool(pool)


class RedisBroker:
    """One per gateway (or worker) process; subscriptions share its connection pools."""

    def __init__(self, settings: RedisSettings, *, read_block: float = 2.0) -> None:
        self.settings = settings
        self.fast = _client(settings, settings.command_timeout)
        # Blocking reads hold a connection for up to ``read_block``: they get their own pool.
        self.blocking = _client(settings, read_block + settings.command_timeout + 1.0)
        self.promote_script = self.fast.register_script(redis_scripts.PROMOTE)
        self.renew_script = self.fast.register_script(redis_scripts.RENEW)
        self._holding_script = self.fast.register_script(redis_scripts.HOLDING)
        self.batcher = CommandBatcher(self.fast)
        self.ack_script = LuaScript(redis_scripts.ACK)
        self._publish_script = LuaScript(redis_scripts.PUBLISH)
        self._publish_once = LuaScript(redis_scripts.PUBLISH_ONCE)
        self._publish_idempotent = LuaScript(redis_scripts.PUBLISH_IDEMPOTENT)

    async def ping(self) -> None:
        async with unavailable_as_broker_error():
            await self.fast.ping()

    async def publish(
        self,
        stream: str,
        message: Mapping[str, bytes],
        *,
        record_id: str,
        record: Mapping[str, str],
        retention: float,
    ) -> str:
        args = _publish_args(message, record, retention)
        async with unavailable_as_broker_error():
            reply: Any = await self.batcher.script(
                self._publish_script, [stream, names.record_key(record_id)], args
            )
        return text(reply)

    async def publish_once(
        self,
        dedupe_key: str,
        ttl: float,
        stream: str,
        message: Mapping[str, bytes],
        *,
        record_id: str,
        record: Mapping[str, str],
        retention: float,
    ) -> bool:
        args = [int(ttl * 1000), *_publish_args(message, record, retention)]
        async with unavailable_as_broker_error():
            reply: Any = await self.batcher.script(
                self._publish_once, [dedupe_key, stream, names.record_key(record_id)], args
            )
        return bool(reply)

    async def publish_idempotent(
        self,
        key: str,
        ttl: float,
        stream: str,
        message: Mapping[str, bytes],
        *,
        record_id: str,
        record: Mapping[str, str],
        retention: float,
    ) -> str:
        args = [record_id, int(ttl * 1000), *_publish_args(message, record, retention)]
        async with unavailable_as_broker_error():
            reply: Any = await self.batcher.script(
                self._publish_idempotent, [key, stream, names.record_key(record_id)], args
            )
        return text(reply)

    async def holding(self, specs: Sequence[SubscriptionSpec]) -> list[int]:
        found: list[int] = []
        async with unavailable_as_broker_error():
            for start in range(0, len(specs), HOLDING_CHUNK):
                keys = [
                    key
                    for spec in specs[start : start + HOLDING_CHUNK]
                    for key in (
                        spec.stream,
                        names.retry_stream(spec.stream, spec.group),
                        names.delayed_set(spec.stream, spec.group),
                    )
                ]
                numbers: Any = await self._holding_script(keys=keys)
                found.extend(start + int(n) - 1 for n in numbers)
        return found

    async def ensure_group(self, stream: str, group: str) -> None:
        async with unavailable_as_broker_error():
            try:
                # From the stream's start: whatever was published before the group existed counts.
                await self.fast.xgroup_create(stream, group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def record(self, record_id: str) -> dict[str, str] | None:
        async with unavailable_as_broker_error():
            raw: Any = await self.fast.hgetall(names.record_key(record_id))
        if not raw:
            return None
        return {text(k): text(v) for k, v in raw.items()}

    async def update_record(self, record_id: str, fields: Mapping[str, str], retention: float) -> None:
        key = names.record_key(record_id)
        async with unavailable_as_broker_error():
            pipe = self.fast.pipeline(transaction=True)
            pipe.hset(key, mapping=_any(fields))
            pipe.pexpire(key, int(retention * 1000))
            await pipe.execute()

    def subscription(self, spec: SubscriptionSpec) -> RedisSubscription:
        return RedisSubscription(self, spec)

    async def dead_letters(self, stream: str, *, after: str = "-", count: int = 100) -> list[DeadLetter]:
        start = after if after == "-" else "(" + after
        async with unavailable_as_broker_error():
            entries: Any = await self.fast.xrange(stream, min=start, max="+", count=count)
        return [DeadLetter(text(i), {field_name(k): v for k, v in f.items()}) for i, f in entries]

    async def redrive(
        self,
        dead_letter_stream: str,
        entry_ids: Sequence[str],
        *,
        now: float,
        records: Mapping[str, RecordUpdate] | None = None,
    ) -> int:
        async with unavailable_as_broker_error():
            return await redrive_each(
                entry_ids,
                records,
                lambda entry_id, record: self._redrive_one(dead_letter_stream, entry_id, now, record),
            )

    async def _redrive_one(self, dead: str, entry_id: str, now: float, record: RecordUpdate | None) -> int:
        """WATCH the dead-letter stream, so an entry that a concurrent redrive or purge took is
        not moved twice; a change to the stream (a new dead letter) only means another try."""

        async def move() -> int:
            async with self.fast.pipeline(transaction=True) as pipe:
                await pipe.watch(dead)
                found: Any = await pipe.xrange(dead, min=entry_id, max=entry_id)
                if not found:
                    return 0
                fields = {field_name(k): v for k, v in found[0][1].items()}
                origin = text(fields.get("wisp.stream", b""))
                group = text(fields.get("wisp.group", b""))
                if not origin or not group:
                    return 0  # not an entry wisp dead-lettered: nowhere to send it back
                retry = names.retry_stream(origin, group)
                await self.ensure_group(retry, group)
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.xadd(retry, redrive_entry(fields, now))  # type: ignore[arg-type]
                pipe.xdel(dead, entry_id)
                if record is not None:
                    key = names.record_key(record.record_id)
                    pipe.hset(key, mapping=_any(record.fields))
                    pipe.pexpire(key, int(record.retention * 1000))
                await pipe.execute()
                return 1

        return await until_uncontended(
            move,
            conflict=WatchError,
            tries=REDRIVE_TRIES,
            gave_up=f"{dead} kept changing; redrive {entry_id} again",
        )

    async def count_dead_letters(self, stream: str) -> int:
        async with unavailable_as_broker_error():
            length: Any = await self.fast.xlen(stream)
        return int(length)

    async def purge(self, dead_letter_stream: str, entry_ids: Sequence[str]) -> int:
        if not entry_ids:
            return 0
        async with unavailable_as_broker_error():
            deleted: Any = await self.fast.xdel(dead_letter_stream, *entry_ids)
        return int(deleted)

    async def close(self) -> None:
        await self.batcher.close()
        await self.fast.aclose()
        await self.blocking.aclose()


REDRIVE_TRIES = 5
# Streams looked at in one HOLDING script: a short stop for Redis, few round trips.
HOLDING_CHUNK = 500


def _any(mapping: Mapping[str, Any]) -> dict[Any, Any]:
    """redis-py's parameter types are stricter than its behaviour (str keys are fine)."""
    return dict(mapping)


def _publish_args(message: Mapping[str, bytes], record: Mapping[str, str], retention: float) -> list[Any]:
    """ARGV of the PUBLISH script (and the tail of PUBLISH_ONCE's): retention in ms, the number of
    message fields, the message's field/value pairs, then the record's."""
    args: list[Any] = [int(retention * 1000), len(message)]
    for key, value in message.items():
        args += (key, value)
    for key, value_text in record.items():
        args += (key, value_text)
    return args
