"""``Subscription`` on NATS JetStream: one consumer group's deliveries, acks, retries, dead letters.

A group is two durable pull consumers of wisp's JetStream stream:

* the main one reads the source stream's subject and the group's private retry subject together,
  with explicit acks and ``ack_wait`` = the visibility timeout. A delivery's ``entry_id`` is its
  acknowledgement subject, so whichever process holds it can ack or renew it (``+WPI``). A
  delivery left unacknowledged past ``ack_wait`` (its consumer died) comes back through ``fetch``
  on its own, counted in ``num_delivered``: JetStream does the reclaiming, ``reclaim`` has
  nothing left to do.
* the delayed one reads retries waiting for their backoff; ``promote_due`` moves each due one
  onto the retry subject and sends a not-yet-due one back with a NAK delayed until it is due, so
  waiting costs no polling of its own.

Settling writes first what goes with it (destinations, record, callback, the retry or dead-letter
entry), then acknowledges; a crash in between repeats those writes on the next settlement, and
their ``Nats-Msg-Id`` lets JetStream drop the repeats: for an outcome (success, dead letter) one
made of the event and group, the same for every delivery of it; for a retry one made of the
delivery's acknowledgement subject.
Where wisp owns the stream (async invocations, retries), a settled entry is also deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Mapping, Sequence
from typing import Protocol

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from wisp.queue import names
from wisp.queue.broker import Append, Backlog, Delivery, RecordUpdate, SubscriptionSpec
from wisp.queue.entries import dead_letter_entry, retried_delivery, retry_entry
from wisp.queue.nats_errors import unavailable_as_broker_error
from wisp.queue.nats_layout import decode_fields, stream_sequence
from wisp.queue.settings import NatsSettings


class NatsConnection(Protocol):
    """What a subscription uses of its ``NatsBroker``: the connection and the broker's steps."""

    settings: NatsSettings

    @property
    def nc(self) -> Client: ...

    async def js(self) -> JetStreamContext: ...

    def subject(self, stream: str) -> str: ...

    async def ensure_consumer(self, streams: Sequence[str], group: str, stream: str) -> str: ...

    async def publish_entry(
        self,
        stream: str,
        fields: Mapping[str, bytes] | Mapping[bytes, bytes | str],
        message_id: str | None = None,
    ) -> tuple[int, bool]: ...

    async def apply_record(self, record: RecordUpdate, message_id: str) -> None: ...

    async def delete_entry(self, seq: int) -> bool: ...


# How long promote_due waits for due retries: it runs every poll interval, so only briefly.
PROMOTE_WAIT = 0.05
PROMOTE_LIMIT = 100
# How long fetch waits for the events JetStream said were waiting behind the first (another
# consumer of the group may take them first).
MORE_WAIT = 0.05
DUE_FIELD = "m:due-ms"


def settlement_id(delivery: Delivery) -> str:
    """Names one delivery (not the event: a re-delivery is another one) for ``Nats-Msg-Id``."""
    return hashlib.sha256(delivery.entry_id.encode()).hexdigest()[:32]


def outcome_id(group: str, delivery: Delivery) -> str:
    """Names the outcome of one event for one group (until an operator redrives it) for
    ``Nats-Msg-Id``: every delivery of the event gets the same one. An event reaches its outcome
    once; when a failover loses the acknowledgement of the delivery that settled it, the delivery
    that comes again (and may run the handler again) writes the same dead letter, destinations and
    callback again, and JetStream drops them as duplicates."""
    event = "\0".join((group, delivery.origin_stream, delivery.origin_id, str(delivery.redrives)))
    return hashlib.sha256(event.encode()).hexdigest()[:32]


def _fields(msg: Msg) -> dict[str, bytes]:
    try:
        return decode_fields(msg.data, msg.headers)
    except ValueError:  # marked as wisp's layout but cut short: deliver the bytes as they are
        return decode_fields(msg.data, None)


class NatsSubscription:
    def __init__(self, broker: NatsConnection, spec: SubscriptionSpec) -> None:
        self.spec = spec
        self._broker = broker
        self._retry_stream = names.retry_stream(spec.stream, spec.group)
        self._delayed = names.delayed_set(spec.stream, spec.group)
        self._main_name = ""
        self._delayed_name = ""
        self._main: JetStreamContext.PullSubscription | None = None
        self._waiting: JetStreamContext.PullSubscription | None = None

    async def prepare(self) -> None:
        async with unavailable_as_broker_error():
            broker = self._broker
            self._main_name = await broker.ensure_consumer(
                [self.spec.stream, self._retry_stream], self.spec.group, self.spec.stream
            )
            self._delayed_name = await broker.ensure_consumer([self._delayed], self.spec.group, self._delayed)
            js = await broker.js()
            stream = broker.settings.stream
            if self._main is None:
                self._main = await js.pull_subscribe_bind(durable=self._main_name, stream=stream)
            if self._waiting is None:
                self._waiting = await js.pull_subscribe_bind(durable=self._delayed_name, stream=stream)

    async def _subscriptions(
        self,
    ) -> tuple[JetStreamContext.PullSubscription, JetStreamContext.PullSubscription]:
        if self._main is None or self._waiting is None:
            await self.prepare()
        assert self._main is not None and self._waiting is not None
        return self._main, self._waiting

    async def fetch(self, count: int, block: float) -> list[Delivery]:
        main, _ = await self._subscriptions()
        async with unavailable_as_broker_error():
            # Wait for one, then take what else is there now: a pull for ``count`` would hold the
            # first event until ``count`` arrived or ``block`` ran out.
            try:
                msgs = await main.fetch(1, timeout=max(block, 0.01))
            except (TimeoutError, nats.errors.TimeoutError):
                return []
            waiting = msgs[0].metadata.num_pending  # events after this one, not yet delivered
            if count > 1 and waiting > 0:
                with contextlib.suppress(TimeoutError, nats.errors.TimeoutError):
                    msgs += await main.fetch(min(count - 1, waiting), timeout=MORE_WAIT)
        return [self._delivery(msg) for msg in msgs]

    def _delivery(self, msg: Msg) -> Delivery:
        meta = msg.metadata
        fields = _fields(msg)
        stored_ms = int(meta.timestamp.timestamp() * 1000)
        if msg.subject == self._broker.subject(self._retry_stream):
            return retried_delivery(
                self._retry_stream, msg.reply, fields, meta.num_delivered, self.spec.stream, stored_ms
            )
        return Delivery(
            stream=self.spec.stream,
            entry_id=msg.reply,
            origin_stream=self.spec.stream,
            origin_id=str(meta.sequence.stream),
            fields=fields,
            attempt=meta.num_delivered,
            first_enqueued_ms=stored_ms,
        )

    async def reclaim(self, min_idle: float, count: int) -> list[Delivery]:
        """JetStream re-delivers what a consumer left unacknowledged for ``ack_wait`` (the
        visibility timeout) through ``fetch``: nothing to take over here."""
        return []

    async def renew(self, deliveries: Sequence[Delivery]) -> None:
        async with unavailable_as_broker_error():
            nc = self._broker.nc
            for delivery in deliveries:
                await nc.publish(delivery.entry_id, b"+WPI")
            await nc.flush(timeout=max(1, round(self._broker.settings.request_timeout)))

    async def _finish(self, delivery: Delivery) -> None:
        """Acknowledge (waiting for JetStream to confirm), and delete where wisp owns the stream."""
        broker = self._broker
        acked = broker.nc.request(delivery.entry_id, b"+ACK", timeout=broker.settings.request_timeout)
        if self.spec.owned or delivery.stream == self._retry_stream:
            # Both at once: a deleted entry is never delivered again, acknowledged or not.
            await asyncio.gather(acked, self._delete(stream_sequence(delivery.entry_id)))
        else:
            await acked

    async def _delete(self, seq: int) -> None:
        await self._broker.delete_entry(seq)

    async def _settle(
        self, delivery: Delivery, record: RecordUpdate | None, appends: Sequence[Append] = (), *, key: str
    ) -> None:
        for index, append in enumerate(appends):
            await self._broker.publish_entry(append.stream, append.fields, f"{key}:append:{index}")
            if append.record is not None:
                await self._broker.apply_record(append.record, f"{key}:append:{index}")
        if record is not None:
            await self._broker.apply_record(record, key)
        await self._finish(delivery)

    async def ack(
        self, delivery: Delivery, *, record: RecordUpdate | None = None, appends: Sequence[Append] = ()
    ) -> None:
        async with unavailable_as_broker_error():
            await self._settle(delivery, record, appends, key=outcome_id(self.spec.group, delivery))

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
        entry = retry_entry(delivery, attempt, error)
        entry[DUE_FIELD.encode()] = str(int((now + delay) * 1000))
        async with unavailable_as_broker_error():
            # Per delivery: a retry is not an outcome, each failed attempt schedules its own.
            key = settlement_id(delivery)
            await self._broker.publish_entry(self._delayed, entry, f"{key}:retry")
            await self._settle(delivery, record, key=key)

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
            key = outcome_id(self.spec.group, delivery)
            await self._broker.publish_entry(self.spec.dead_letter, entry, f"{key}:dead")
            await self._settle(delivery, record, appends, key=key)

    async def promote_due(self, now: float) -> int:
        _, waiting = await self._subscriptions()
        moved = 0
        async with unavailable_as_broker_error():
            try:
                msgs = await waiting.fetch(PROMOTE_LIMIT, timeout=PROMOTE_WAIT)
            except (TimeoutError, nats.errors.TimeoutError):
                return 0
            for msg in msgs:
                fields = _fields(msg)
                due_ms = int(fields.pop(DUE_FIELD, b"0") or b"0")
                if due_ms > now * 1000:
                    await msg.nak(delay=(due_ms - now * 1000) / 1000)
                    continue
                seq = msg.metadata.sequence.stream
                await self._broker.publish_entry(self._retry_stream, fields, f"promote:{seq}")
                await msg.ack_sync(timeout=self._broker.settings.request_timeout)
                await self._delete(seq)
                moved += 1
        return moved

    async def backlog(self) -> Backlog:
        await self._subscriptions()
        async with unavailable_as_broker_error():
            js = await self._broker.js()
            stream = self._broker.settings.stream
            main = await js.consumer_info(stream, self._main_name)
            waiting = await js.consumer_info(stream, self._delayed_name)
        return Backlog(
            ready=main.num_pending or 0,
            in_flight=main.num_ack_pending or 0,
            delayed=(waiting.num_pending or 0) + (waiting.num_ack_pending or 0),
        )
