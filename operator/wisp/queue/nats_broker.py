"""``Broker`` on NATS JetStream (the ``nats-py`` client), for event volumes and availability one
Redis cannot give: a JetStream cluster replicates every stream over several servers.

Layout (``nats_layout`` names it; docs/events.md has the user-facing part):

* one JetStream stream (``NatsSettings.stream``, file storage, ``replicas``) holds every wisp
  stream as a subject: async streams, queue trigger streams, retry and delayed re-deliveries,
  dead letters, callbacks. A publish returns once JetStream stored (and, in a cluster, replicated)
  the message: acknowledged means durable.
* invocation records live in the KV bucket ``<stream>-records`` (its max age is the retention);
  schedule ticks and idempotency keys in ``<stream>-keys-<ttl>`` buckets, taken with KV
  ``create``, which only one writer wins.
* a subscription is a durable pull consumer (``nats_subscription``).

JetStream has no transaction across subjects and buckets, so the steps that Redis does in one
MULTI are ordered here so that a crash between them can only repeat, never lose: the record is
written before the message is published, destinations and dead letters before the delivery is
acknowledged, each such message with a ``Nats-Msg-Id`` that JetStream deduplicates (for
``duplicate_window``) when a retried settlement writes it again.

Connection errors, timeouts and a JetStream without quorum surface as ``BrokerUnavailable``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping, Sequence

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DiscardPolicy, StorageType, StreamConfig
from nats.js.kv import KeyValue

from wisp.queue import names
from wisp.queue.broker import DeadLetter, RecordUpdate, SubscriptionSpec, redrive_each, until_uncontended
from wisp.queue.entries import redrive_entry
from wisp.queue.nats_errors import SEQUENCE_NOT_FOUND, deleted_already, unavailable_as_broker_error
from wisp.queue.nats_layout import (
    FIELDS_HEADER,
    FIELDS_VERSION,
    consumer_name,
    decode_fields,
    encode_fields,
    keys_bucket,
    kv_key,
    records_bucket,
    subject,
)
from wisp.queue.nats_subscription import NatsSubscription
from wisp.queue.settings import NatsSettings

RECORD_UPDATE_TRIES = 10
# A publish that finds no responder (a stream just made, or failing over, whose subjects' interest
# has not reached this server yet) is tried again, as nats.go's JetStream publish does by default.
PUBLISH_TRIES = 3
PUBLISH_RETRY_WAIT = 0.25


def entry_headers(message_id: str | None = None) -> dict[str, str]:
    headers = {FIELDS_HEADER: FIELDS_VERSION}
    if message_id is not None:
        headers["Nats-Msg-Id"] = message_id
    return headers


# JetStream lists at most this many consumers in one answer.
CONSUMERS_PAGE = 256


class NatsBroker:
    """One per gateway (or worker) process; one connection, shared by its subscriptions.

    ``ack_wait`` is how long a delivery may go without renewal before JetStream hands it to
    another consumer: the event path's visibility timeout."""

    def __init__(
        self, settings: NatsSettings, *, ack_wait: float = 30.0, retention: float = 24 * 3600.0
    ) -> None:
        self.settings = settings
        self.ack_wait = ack_wait
        self.retention = retention
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._buckets: dict[str, KeyValue] = {}
        self._lock = asyncio.Lock()
        self._consumers: set[str] = set()

    # Connection and layout, made on first use (and again after JetStream lost them).

    async def js(self) -> JetStreamContext:
        if self._js is not None and self._nc is not None and not self._nc.is_closed:
            return self._js
        async with self._lock:
            if self._js is None or self._nc is None or self._nc.is_closed:
                async with unavailable_as_broker_error():
                    nc = await nats.connect(
                        servers=self.settings.servers,
                        user=self.settings.user,
                        password=self.settings.password,
                        token=self.settings.token,
                        connect_timeout=self.settings.connect_timeout,
                        max_reconnect_attempts=-1,
                        reconnect_time_wait=0.2,
                        allow_reconnect=True,
                        name="wisp",
                    )
                    try:
                        js = nc.jetstream(timeout=self.settings.request_timeout)
                        await self._ensure_stream(js)
                    except BaseException:
                        await nc.close()
                        raise
                    self._nc, self._js = nc, js
        assert self._js is not None
        return self._js

    @property
    def nc(self) -> Client:
        assert self._nc is not None, "js() connects first"
        return self._nc

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        config = StreamConfig(
            name=self.settings.stream,
            subjects=[f"{self.settings.subject_prefix}.>"],
            storage=StorageType.FILE,
            num_replicas=self.settings.replicas,
            duplicate_window=self.settings.duplicate_window,
            discard=DiscardPolicy.OLD,
            allow_direct=True,
        )
        try:
            await js.stream_info(self.settings.stream)
        except nats.js.errors.NotFoundError:
            await js.add_stream(config)

    def subject(self, stream: str) -> str:
        return subject(self.settings.subject_prefix, stream)

    async def bucket(self, name: str, ttl: float) -> KeyValue:
        found = self._buckets.get(name)
        if found is not None:
            return found
        js = await self.js()
        try:
            kv = await js.key_value(name)
        except nats.js.errors.BucketNotFoundError:
            kv = await js.create_key_value(
                bucket=name, ttl=ttl, history=1, replicas=self.settings.replicas, storage=StorageType.FILE
            )
        self._buckets[name] = kv
        return kv

    async def records(self) -> KeyValue:
        return await self.bucket(records_bucket(self.settings.stream), self.retention)

    async def ensure_consumer(self, streams: Sequence[str], group: str, stream: str) -> str:
        """The durable consumer of ``group`` reading the subjects of ``streams``; returns its name."""
        durable = consumer_name(group, stream)
        if durable in self._consumers:
            return durable
        js = await self.js()
        config = ConsumerConfig(
            durable_name=durable,
            ack_wait=self.ack_wait,
            max_deliver=-1,  # wisp decides when a delivery is dead-lettered
            max_ack_pending=self.settings.max_ack_pending,
            filter_subjects=[self.subject(s) for s in streams],
            num_replicas=self.settings.replicas,
        )
        await js.add_consumer(self.settings.stream, config)
        self._consumers.add(durable)
        return durable

    # Broker

    async def ping(self) -> None:
        async with unavailable_as_broker_error():
            await (await self.js()).account_info()

    async def publish_entry(
        self,
        stream: str,
        fields: Mapping[str, bytes] | Mapping[bytes, bytes | str],
        message_id: str | None = None,
    ) -> tuple[int, bool]:
        """Append an entry; returns its sequence and whether JetStream had it already."""
        js = await self.js()
        for tried in range(1, PUBLISH_TRIES + 1):
            try:
                ack = await js.publish(
                    self.subject(stream),
                    encode_fields(fields),
                    headers=entry_headers(message_id),
                    stream=self.settings.stream,
                )
                break
            except nats.js.errors.NoStreamResponseError:  # nats-py's "no responders" for a publish
                if tried == PUBLISH_TRIES:
                    raise
                await asyncio.sleep(PUBLISH_RETRY_WAIT)
        return ack.seq, bool(ack.duplicate)

    async def publish(
        self,
        stream: str,
        message: Mapping[str, bytes],
        *,
        record_id: str,
        record: Mapping[str, str],
        retention: float,
    ) -> str:
        async with unavailable_as_broker_error():
            if record:
                await self.write_record(record_id, record, fresh=True)
            seq, _ = await self.publish_entry(stream, message, f"publish:{record_id}")
        return str(seq)

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
        async with unavailable_as_broker_error():
            return await self._claim_and_publish(dedupe_key, ttl, stream, message, record_id, record)

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
        async with unavailable_as_broker_error():
            if await self._claim_and_publish(key, ttl, stream, message, record_id, record):
                return record_id
            keys = await self.bucket(keys_bucket(self.settings.stream, ttl), ttl)
            first = await keys.get(kv_key(key))
            return (first.value or b"").decode()

    async def _claim_and_publish(
        self,
        key: str,
        ttl: float,
        stream: str,
        message: Mapping[str, bytes],
        record_id: str,
        record: Mapping[str, str],
    ) -> bool:
        """Claim ``key`` for ``record_id`` for ``ttl`` seconds and publish; False, publishing
        nothing, when another submit holds the key."""
        keys = await self.bucket(keys_bucket(self.settings.stream, ttl), ttl)
        try:
            await keys.create(kv_key(key), record_id.encode())
        except nats.js.errors.KeyWrongLastSequenceError:
            return False
        await self._publish_or_release(keys, key, stream, message, record_id, record)
        return True

    async def _publish_or_release(
        self,
        keys: KeyValue,
        key: str,
        stream: str,
        message: Mapping[str, bytes],
        record_id: str,
        record: Mapping[str, str],
    ) -> None:
        """Publish after taking ``key``; if the publish fails, give the key back so a retry of the
        producer can store the event (best effort: a key left behind expires with its bucket)."""
        try:
            if record:
                await self.write_record(record_id, record, fresh=True)
            await self.publish_entry(stream, message, f"publish:{record_id}")
        except BaseException:
            with contextlib.suppress(Exception):  # the original error is the one to report
                await keys.delete(kv_key(key))
            raise

    async def holding(self, specs: Sequence[SubscriptionSpec]) -> list[int]:
        """From one listing of the stream's durable consumers (pages of 256): a spec whose
        consumer has events not yet delivered, unacknowledged or delayed. A spec with no durable
        consumer yet holds events if its subjects have messages (one look at the stream's subject
        counts): its consumer, once made, delivers them from the start."""
        async with unavailable_as_broker_error():
            js = await self.js()
            consumers: dict[str, int] = {}
            while page := await js.consumers_info(self.settings.stream, offset=len(consumers) or None):
                for info in page:
                    consumers[info.name] = (info.num_pending or 0) + (info.num_ack_pending or 0)
                if len(page) < CONSUMERS_PAGE:
                    break
            subjects: dict[str, int] | None = None
            found = []
            for index, spec in enumerate(specs):
                retry = names.retry_stream(spec.stream, spec.group)
                delayed = consumers.get(
                    consumer_name(spec.group, names.delayed_set(spec.stream, spec.group)), 0
                )
                main = consumers.get(consumer_name(spec.group, spec.stream))
                if main is None:
                    if subjects is None:
                        state = await js.stream_info(
                            self.settings.stream, subjects_filter=f"{self.settings.subject_prefix}.>"
                        )
                        subjects = state.state.subjects or {}
                    main = subjects.get(self.subject(spec.stream), 0) + subjects.get(self.subject(retry), 0)
                if main or delayed:
                    found.append(index)
        return found

    async def ensure_group(self, stream: str, group: str) -> None:
        async with unavailable_as_broker_error():
            await self.ensure_consumer([stream, names.retry_stream(stream, group)], group, stream)

    async def record(self, record_id: str) -> dict[str, str] | None:
        async with unavailable_as_broker_error():
            kv = await self.records()
            try:
                entry = await kv.get(kv_key(record_id))
            except nats.js.errors.KeyNotFoundError:
                return None
        if not entry.value:
            return None
        stored: dict[str, str] = json.loads(entry.value)
        return stored

    async def update_record(self, record_id: str, fields: Mapping[str, str], retention: float) -> None:
        async with unavailable_as_broker_error():
            await self.write_record(record_id, fields)

    async def write_record(
        self, record_id: str, fields: Mapping[str, str], *, fresh: bool = False, settlement: bool = False
    ) -> None:
        """Merge ``fields`` into the record (as Redis's HSET does), compare-and-set on its revision;
        ``fresh``: a new invocation's record, created in one request unless it exists.
        ``settlement``: a delivery's outcome, not written over the record of a later redrive of the
        event (a settlement repeated after a failover lost its acknowledgement, arriving after an
        operator redrove the event, must not turn the redriven run's record back)."""
        kv = await self.records()
        key = kv_key(record_id)
        if fresh:
            try:
                await kv.create(key, json.dumps(dict(fields)).encode())
                return
            except nats.js.errors.KeyWrongLastSequenceError:
                pass  # written already (a retried publish): merge into it

        async def merge() -> None:
            try:
                entry = await kv.get(key)
            except nats.js.errors.KeyNotFoundError:
                entry = None
            stored = json.loads(entry.value) if entry is not None and entry.value else {}
            if settlement and _redrives(fields) < _redrives(stored):
                return
            data = json.dumps({**stored, **fields}).encode()
            if entry is None:
                await kv.create(key, data)
            else:
                await kv.update(key, data, last=entry.revision)

        # Another writer came first: merge into theirs.
        await until_uncontended(
            merge,
            conflict=nats.js.errors.KeyWrongLastSequenceError,
            tries=RECORD_UPDATE_TRIES,
            gave_up=f"invocation record {record_id} kept changing",
        )

    async def apply_record(self, record: RecordUpdate, message_id: str) -> None:
        """A settlement's record update, and its callback message."""
        if record.callback is not None:
            await self.publish_entry(names.CALLBACK_STREAM, record.callback, f"callback:{message_id}")
        await self.write_record(record.record_id, record.fields, settlement=True)

    async def delete_entry(self, seq: int) -> bool:
        """Delete an entry wisp is done with; False if it was gone already. ``no_erase``: the
        file store marks it deleted instead of overwriting it (many times faster; an
        acknowledged event holds nothing secret the stream's files did not hold before)."""
        request = json.dumps({"seq": seq, "no_erase": True}).encode()
        subject = f"$JS.API.STREAM.MSG.DELETE.{self.settings.stream}"
        reply = await self.nc.request(subject, request, timeout=self.settings.request_timeout)
        answer = json.loads(reply.data)
        error = answer.get("error")
        if error is None:
            return bool(answer.get("success"))
        if error.get("code") == 404 or error.get("err_code") == SEQUENCE_NOT_FOUND or deleted_already(error):
            return False
        raise nats.js.errors.APIError.from_error(error)

    def subscription(self, spec: SubscriptionSpec) -> NatsSubscription:
        return NatsSubscription(self, spec)

    # Dead letters

    async def _entry(self, stream: str, seq: int) -> dict[str, bytes] | None:
        """The entry at ``seq`` if it belongs to wisp stream ``stream`` (one JetStream stream holds
        them all: an id from another stream must not be read, moved or purged through this one)."""
        js = await self.js()
        try:
            raw = await js.get_msg(self.settings.stream, seq=seq)
        except nats.js.errors.NotFoundError:
            return None
        if raw.subject != self.subject(stream):
            return None
        return decode_fields(raw.data or b"", raw.headers)

    async def dead_letters(self, stream: str, *, after: str = "-", count: int = 100) -> list[DeadLetter]:
        start = 1 if after == "-" else _sequence(after) + 1
        found: list[DeadLetter] = []
        async with unavailable_as_broker_error():
            js = await self.js()
            while len(found) < count:
                try:
                    raw = await js.get_msg(
                        self.settings.stream, seq=start, subject=self.subject(stream), next=True
                    )
                except nats.js.errors.NotFoundError:
                    break
                assert raw.seq is not None
                found.append(DeadLetter(str(raw.seq), decode_fields(raw.data or b"", raw.headers)))
                start = raw.seq + 1
        return found

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
        """The record first (queued again, the redrive counted), then the retry entry, then the
        dead letter's deletion: a redrive cut short (a failover) and asked for again finishes the
        move. The retry entry's id is made of the dead letter's, so JetStream drops a second
        publish of it (a concurrent or repeated redrive of the same entry): it moves once."""
        seq = _sequence(entry_id, strict=True)
        fields = await self._entry(dead, seq) if seq > 0 else None
        if fields is None:
            return 0
        origin = fields.get("wisp.stream", b"").decode()
        group = fields.get("wisp.group", b"").decode()
        if not origin or not group:
            return 0  # not an entry wisp dead-lettered: nowhere to send it back
        await self.ensure_group(origin, group)
        if record is not None:
            await self.write_record(record.record_id, record.fields)
        retry = names.retry_stream(origin, group)
        _, duplicate = await self.publish_entry(retry, redrive_entry(fields, now), f"redrive:{dead}:{seq}")
        await self.delete_entry(seq)  # gone already: purged meanwhile, and redriven all the same
        return 0 if duplicate else 1

    async def count_dead_letters(self, stream: str) -> int:
        async with unavailable_as_broker_error():
            js = await self.js()
            info = await js.stream_info(self.settings.stream, subjects_filter=self.subject(stream))
        return int((info.state.subjects or {}).get(self.subject(stream), 0))

    async def purge(self, dead_letter_stream: str, entry_ids: Sequence[str]) -> int:
        deleted = 0
        async with unavailable_as_broker_error():
            await self.js()
            for entry_id in entry_ids:
                seq = _sequence(entry_id, strict=True)
                if seq <= 0 or await self._entry(dead_letter_stream, seq) is None:
                    continue
                deleted += await self.delete_entry(seq)  # gone: purged or redriven meanwhile
        return deleted

    async def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            with contextlib.suppress(Exception):  # closing a broken connection: nothing to do
                await self._nc.close()
        self._nc = self._js = None


def _redrives(record: Mapping[str, str]) -> int:
    """Times the record's invocation was redriven (an invocation record's ``redrives`` field)."""
    value = record.get("redrives", "")
    return int(value) if value.isdigit() else 0


def _sequence(entry_id: str, *, strict: bool = False) -> int:
    """A stream sequence from an entry id; ``after`` may also be the ``<seq>-<n>`` form that
    ``wisp dlq`` computes for "just before" (``deadletters._before``). 0 when unreadable."""
    head = entry_id if strict else entry_id.partition("-")[0]
    return int(head) if head.isdigit() else 0
