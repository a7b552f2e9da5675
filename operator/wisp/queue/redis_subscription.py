"""``Subscription`` on Redis Streams: one consumer group's deliveries, acks, retries, dead letters.

Reads take the source stream and the group's private retry stream in one ``XREADGROUP``.
Every state change of a delivery (ack, move to the delayed set, dead-letter) is one MULTI, so
a crash leaves the delivery either pending (it will be reclaimed) or fully moved: never lost.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import ResponseError

from wisp.queue import names
from wisp.queue.broker import (
    Append,
    Backlog,
    Delivery,
    RecordUpdate,
    SubscriptionSpec,
)
from wisp.queue.entries import dead_letter_entry, field_name, retried_delivery, retry_entry
from wisp.queue.redis_batch import CommandBatcher, LuaScript
from wisp.queue.redis_errors import text, unavailable_as_broker_error


class BrokerConnection(Protocol):
    """What a subscription uses of its ``RedisBroker``: the clients, the scripts, group creation."""

    fast: aioredis.Redis
    blocking: aioredis.Redis
    batcher: CommandBatcher
    ack_script: LuaScript
    promote_script: AsyncScript
    renew_script: AsyncScript

    async def ensure_group(self, stream: str, group: str) -> None: ...


LAG_SCAN_LIMIT = 10_000


def _write_record(pipe: Any, record: RecordUpdate) -> None:
    if record.callback is not None:
        pipe.xadd(names.CALLBACK_STREAM, dict(record.callback))
    key = names.record_key(record.record_id)
    pipe.hset(key, mapping=dict(record.fields))
    pipe.pexpire(key, int(record.retention * 1000))


def _id_ms(entry_id: str) -> int:
    return int(entry_id.partition("-")[0])


class RedisSubscription:
    def __init__(self, broker: BrokerConnection, spec: SubscriptionSpec) -> None:
        self.spec = spec
        self._broker = broker
        self._retry_stream = names.retry_stream(spec.stream, spec.group)
        self._delayed = names.delayed_set(spec.stream, spec.group)
        self._payload_prefix = names.delayed_payload_prefix(spec.stream, spec.group)
        self._cursors = {spec.stream: "0-0", self._retry_stream: "0-0"}

    async def prepare(self) -> None:
        for stream in (self.spec.stream, self._retry_stream):
            await self._broker.ensure_group(stream, self.spec.group)

    async def fetch(self, count: int, block: float) -> list[Delivery]:
        streams = {self.spec.stream: ">", self._retry_stream: ">"}
        async with unavailable_as_broker_error():
            try:
                reply: Any = await self._broker.blocking.xreadgroup(
                    self.spec.group,
                    self.spec.consumer,
                    streams,  # type: ignore[arg-type]
                    count=count,
                    block=max(1, int(block * 1000)),
                )
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise
                await self.prepare()  # the stream was deleted under us: start over
                return []
        deliveries = []
        streams_read = reply.items() if isinstance(reply, dict) else reply or []  # RESP3 / RESP2
        for stream, entries in streams_read:
            for entry_id, fields in entries:
                if fields is not None:
                    deliveries.append(self._delivery(text(stream), text(entry_id), fields, 1))
        return deliveries

    async def reclaim(self, min_idle: float, count: int) -> list[Delivery]:
        claimed: list[Delivery] = []
        for stream in (self.spec.stream, self._retry_stream):
            if count - len(claimed) > 0:
                claimed += await self._reclaim_from(stream, min_idle, count - len(claimed))
        return claimed

    async def _reclaim_from(self, stream: str, min_idle: float, count: int) -> list[Delivery]:
        fast = self._broker.fast
        async with unavailable_as_broker_error():
            reply: Any = await fast.xautoclaim(
                stream,
                self.spec.group,
                self.spec.consumer,
                int(min_idle * 1000),
                start_id=self._cursors[stream],
                count=count,
            )
            cursor, entries = text(reply[0]), reply[1]
            deleted = [text(i) for i in reply[2]] if len(reply) > 2 else []
            self._cursors[stream] = cursor
            if deleted:  # gone from the stream (trimmed): nothing left to deliver
                await fast.xack(stream, self.spec.group, *deleted)
            live = [(text(i), f) for i, f in entries if f is not None]
            if not live:
                return []
            pipe = fast.pipeline(transaction=False)
            for entry_id, _ in live:
                pipe.xpending_range(stream, self.spec.group, entry_id, entry_id, 1)
            pending: list[Any] = await pipe.execute()
        deliveries = []
        for (entry_id, fields), info in zip(live, pending, strict=True):
            times = int(info[0]["times_delivered"]) if info else 2
            deliveries.append(self._delivery(stream, entry_id, fields, times))
        return deliveries

    def _delivery(self, stream: str, entry_id: str, raw: Any, times_delivered: int) -> Delivery:
        """A delivery from a raw entry; each abandoned earlier delivery counts as an attempt."""
        fields = {field_name(k): v for k, v in raw.items()}
        if stream != self._retry_stream:
            return Delivery(
                stream=stream,
                entry_id=entry_id,
                origin_stream=stream,
                origin_id=entry_id,
                fields=fields,
                attempt=times_delivered,
                first_enqueued_ms=_id_ms(entry_id),
            )
        return retried_delivery(stream, entry_id, fields, times_delivered, self.spec.stream, _id_ms(entry_id))

    def _settle(
        self, pipe: Any, delivery: Delivery, record: RecordUpdate | None, appends: Sequence[Append] = ()
    ) -> None:
        """Queue the acknowledgement of ``delivery`` (and deletion where wisp owns the stream),
        with the record update, callback and destination messages that go with it."""
        if record is not None:
            _write_record(pipe, record)
        for append in appends:
            pipe.xadd(append.stream, dict(append.fields))
            if append.record is not None:
                _write_record(pipe, append.record)
        pipe.xack(delivery.stream, self.spec.group, delivery.entry_id)
        if self.spec.owned or delivery.stream == self._retry_stream:
            pipe.xdel(delivery.stream, delivery.entry_id)

    async def renew(self, deliveries: Sequence[Delivery]) -> None:
        by_stream: dict[str, list[str]] = {}
        for delivery in deliveries:
            by_stream.setdefault(delivery.stream, []).append(delivery.entry_id)
        async with unavailable_as_broker_error():
            for stream, ids in by_stream.items():
                await self._broker.renew_script(
                    keys=[stream], args=[self.spec.group, self.spec.consumer, *ids]
                )

    async def ack(
        self, delivery: Delivery, *, record: RecordUpdate | None = None, appends: Sequence[Append] = ()
    ) -> None:
        if appends or (record is not None and record.callback is not None):
            # Not the hot path (the ACK script): one MULTI with the callback's or destinations' XADD.
            async with unavailable_as_broker_error():
                pipe = self._broker.fast.pipeline(transaction=True)
                self._settle(pipe, delivery, record, appends)
                await pipe.execute()
            return
        delete = self.spec.owned or delivery.stream == self._retry_stream
        args: list[str | bytes | int] = [self.spec.group, delivery.entry_id, int(delete)]
        record_key = delivery.stream  # unused without a record, but a key must be named
        if record is not None:
            record_key = names.record_key(record.record_id)
            args.append(int(record.retention * 1000))
            for key, value in record.fields.items():
                args += (key, value)
        else:
            args.append(0)
        async with unavailable_as_broker_error():
            await self._broker.batcher.script(self._broker.ack_script, [delivery.stream, record_key], args)

    async def retry(
        self,
        delivery: Delivery,
        *,
        attempt: int,
        delay: float,
        error: str | None,
        now: float,
        record: RecordUpdate | None = None,
    ) -> None:
        member = uuid.uuid4().hex
        entry = retry_entry(delivery, attempt, error)
        async with unavailable_as_broker_error():
            pipe = self._broker.fast.pipeline(transaction=True)
            pipe.hset(self._payload_prefix + member, mapping=entry)  # type: ignore[arg-type]
            pipe.zadd(self._delayed, {member: int((now + delay) * 1000)})
            self._settle(pipe, delivery, record)
            await pipe.execute()

    async def dead_letter(
        self,
        delivery: Delivery,
        *,
        reason: str,
        error: str | None,
        record: RecordUpdate | None = None,
        appends: Sequence[Append] = (),
    ) -> None:
        entry = dead_letter_entry(delivery, self.spec, reason, error, int(time.time() * 1000))
        async with unavailable_as_broker_error():
            pipe = self._broker.fast.pipeline(transaction=True)
            pipe.xadd(self.spec.dead_letter, entry)  # type: ignore[arg-type]
            self._settle(pipe, delivery, record, appends)
            await pipe.execute()

    async def promote_due(self, now: float, limit: int = 100) -> int:
        async with unavailable_as_broker_error():
            moved: Any = await self._broker.promote_script(
                keys=[self._delayed, self._retry_stream],
                args=[int(now * 1000), limit, self._payload_prefix],
            )
        return int(moved)

    async def backlog(self) -> Backlog:
        async with unavailable_as_broker_error():
            ready, in_flight = await self._stream_backlog(self.spec.stream, self.spec.owned)
            retry_ready, retry_in_flight = await self._stream_backlog(self._retry_stream, True)
            delayed: Any = await self._broker.fast.zcard(self._delayed)
        return Backlog(ready + retry_ready, in_flight + retry_in_flight, int(delayed))

    async def _stream_backlog(self, stream: str, owned: bool) -> tuple[int, int]:
        fast = self._broker.fast
        try:
            groups: Any = await fast.xinfo_groups(stream)
        except ResponseError:  # no such stream yet
            return 0, 0
        group = next((g for g in groups if text(g["name"]) == self.spec.group), None)
        if group is None:
            return 0, 0
        pending = int(group["pending"])
        if owned:  # acknowledged entries are deleted: the length is ready + pending
            length: Any = await fast.xlen(stream)
            return max(0, int(length) - pending), pending
        lag = group.get("lag")
        if lag is not None:
            return int(lag), pending
        # Redis cannot tell the lag after deletions inside the range: count what is left.
        after = "(" + text(group["last-delivered-id"])
        rest: Any = await fast.xrange(stream, min=after, max="+", count=LAG_SCAN_LIMIT)
        return len(rest), pending
