"""The broker seam: what the event path needs from a durable log, independent of Redis.

``Broker`` publishes (async invocations, schedule ticks exactly once), keeps invocation records,
and opens ``Subscription``s: a consumer group's view of one stream with acknowledgement, delayed
re-delivery, dead-lettering and reclaim of abandoned deliveries. ``RedisBroker`` implements it on
Redis Streams and ``NatsBroker`` on NATS JetStream; nothing above this module knows which. The
helpers at the end are the steps both implementations share.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

T = TypeVar("T")


class BrokerUnavailable(Exception):
    """The broker cannot be reached now (connection refused, timeout); try again later."""


@dataclass(frozen=True)
class SubscriptionSpec:
    """One consumer group on one stream.

    ``owned``: wisp writes the stream and is its only reader (async invocations), so entries are
    deleted once acknowledged. A queue trigger's stream belongs to the user: entries stay.
    """

    stream: str
    group: str
    dead_letter: str
    consumer: str
    owned: bool = False
    label: str = ""


@dataclass(frozen=True)
class Delivery:
    """One entry handed to a consumer.

    ``stream``/``entry_id`` name the entry to acknowledge (the source stream, or the
    subscription's private retry stream); ``origin_stream``/``origin_id`` name the message as the
    producer wrote it and stay the same over retries. ``fields`` are the producer's fields.
    """

    stream: str
    entry_id: str
    origin_stream: str
    origin_id: str
    fields: Mapping[str, bytes]
    attempt: int
    first_enqueued_ms: int
    last_error: str | None = None
    redrives: int = 0  # times an operator moved it back from the dead-letter stream


@dataclass(frozen=True)
class RecordUpdate:
    """Fields to write into an invocation record together with a delivery's settlement, and the
    callback message (if any) to append to the callbacks stream in the same atomic step."""

    record_id: str
    fields: Mapping[str, str]
    retention: float
    callback: Mapping[str, bytes] | None = None


@dataclass(frozen=True)
class Append:
    """A message appended to ``stream`` in the same atomic step as a delivery's settlement (an
    outcome's destination), with the invocation record it starts, if it is an async invocation."""

    stream: str
    fields: Mapping[str, bytes]
    record: RecordUpdate | None = None


@dataclass(frozen=True)
class DeadLetter:
    """One entry of a dead-letter stream: its id there, and its fields as stored."""

    entry_id: str
    fields: Mapping[str, bytes]


@dataclass(frozen=True)
class Backlog:
    """Events of one subscription: ``ready`` (not yet delivered), ``in_flight`` (delivered, not
    acknowledged) and ``delayed`` (waiting for a retry's backoff)."""

    ready: int = 0
    in_flight: int = 0
    delayed: int = 0

    @property
    def demand(self) -> int:
        """What the autoscaler should see: work that can run now."""
        return self.ready + self.in_flight

    @property
    def total(self) -> int:
        return self.ready + self.in_flight + self.delayed


class Subscription(Protocol):
    spec: SubscriptionSpec

    async def prepare(self) -> None:
        """Create the group (and stream) if missing; idempotent."""

    async def fetch(self, count: int, block: float) -> list[Delivery]:
        """New deliveries for this consumer, waiting up to ``block`` seconds for the first."""

    async def reclaim(self, min_idle: float, count: int) -> list[Delivery]:
        """Take over deliveries other consumers left unacknowledged for ``min_idle`` seconds."""

    async def renew(self, deliveries: Sequence[Delivery]) -> None:
        """Keep deliveries this consumer still works on from being reclaimed."""

    # Settling a delivery: each of these also applies ``record`` (and ack and dead_letter the
    # ``appends``: outcome destinations) in the same atomic step.

    async def ack(
        self, delivery: Delivery, *, record: RecordUpdate | None = None, appends: Sequence[Append] = ()
    ) -> None: ...

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
        """Acknowledge and re-deliver after ``delay`` seconds as attempt ``attempt``."""

    async def dead_letter(
        self,
        delivery: Delivery,
        *,
        reason: str,
        error: str | None,
        record: RecordUpdate | None = None,
        appends: Sequence[Append] = (),
    ) -> None:
        """Acknowledge and append to the dead-letter stream with the reason and last error."""

    async def promote_due(self, now: float) -> int:
        """Make delayed re-deliveries due at ``now`` fetchable; returns how many."""

    async def backlog(self) -> Backlog: ...


class Broker(Protocol):
    async def ping(self) -> None: ...

    async def publish(
        self,
        stream: str,
        message: Mapping[str, bytes],
        *,
        record_id: str,
        record: Mapping[str, str],
        retention: float,
    ) -> str:
        """Durably append ``message``, and store ``record`` under ``record_id``; returns the entry
        id. Raises ``BrokerUnavailable`` if the message cannot be stored."""

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
        """``publish`` unless ``dedupe_key`` was published in the last ``ttl`` seconds."""

    async def holding(self, specs: Sequence[SubscriptionSpec]) -> list[int]:
        """The indexes of ``specs`` (owned streams: async invocations) whose group has events to
        deliver, in flight or waiting for a retry: one pass for thousands, for a replica's look
        for sleeping consumers that are needed (``QueueManager``)."""

    async def ensure_group(self, stream: str, group: str) -> None:
        """Create the stream's consumer group if missing, so that nothing published is missed."""

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
        """``publish`` unless ``key`` was published in the last ``ttl`` seconds; returns the
        ``record_id`` of whichever publish holds ``key`` (this one, or the first)."""

    async def record(self, record_id: str) -> dict[str, str] | None: ...

    async def update_record(self, record_id: str, fields: Mapping[str, str], retention: float) -> None: ...

    def subscription(self, spec: SubscriptionSpec) -> Subscription: ...

    # Dead letters, for operators (``wisp dlq``): read, redrive, purge.

    async def dead_letters(self, stream: str, *, after: str = "-", count: int = 100) -> list[DeadLetter]:
        """Entries of the dead-letter ``stream`` after id ``after`` (exclusive; ``-``: from the start)."""

    async def redrive(
        self,
        dead_letter_stream: str,
        entry_ids: Sequence[str],
        *,
        now: float,
        records: Mapping[str, RecordUpdate] | None = None,
    ) -> int:
        """Move each entry back to the subscription that gave up on it (its private retry stream,
        so only that group sees it again), keeping its original id and counting the redrive, and
        delete it from the dead-letter stream, atomically per entry, with ``records[entry id]``
        (the invocation record saying it is queued again); returns how many moved. An entry
        another caller moved or purged meanwhile is not moved twice."""

    async def purge(self, dead_letter_stream: str, entry_ids: Sequence[str]) -> int: ...

    async def count_dead_letters(self, stream: str) -> int: ...

    async def close(self) -> None: ...


# What both brokers' implementations share.


async def redrive_each(
    entry_ids: Sequence[str],
    records: Mapping[str, RecordUpdate] | None,
    move: Callable[[str, RecordUpdate | None], Awaitable[int]],
) -> int:
    """``Broker.redrive``'s loop: ``move`` each entry (1 if it moved, 0 if another caller moved or
    purged it first) with its record update; returns how many moved."""
    moved = 0
    for entry_id in entry_ids:
        moved += await move(entry_id, (records or {}).get(entry_id))
    return moved


async def until_uncontended(
    step: Callable[[], Awaitable[T]],
    *,
    conflict: type[Exception],
    tries: int,
    gave_up: str,
) -> T:
    """Run an optimistic read-then-write ``step`` again each time it fails with ``conflict``
    (another writer changed what it read); after ``tries`` such failures the broker is too busy
    for it now: ``BrokerUnavailable(gave_up)``, which callers already answer by trying later."""
    for _ in range(tries):
        try:
            return await step()
        except conflict:
            continue
    raise BrokerUnavailable(gave_up)
