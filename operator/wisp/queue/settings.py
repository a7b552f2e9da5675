"""Settings of the event path: which broker (Redis or NATS JetStream) and where it is, and how
deliveries are paced and retried.

``RedisSettings.from_env`` reads the gateway's environment (the Helm chart sets
``WISP_REDIS_URL`` and takes ``WISP_REDIS_PASSWORD`` from a Secret); ``NatsSettings.from_env``
reads ``WISP_NATS_*`` (the chart sets them with ``queue.broker: nats``); ``WISP_QUEUE_BROKER``
chooses between them. ``DeliverySettings`` holds the delivery knobs shared by every consumer, with
defaults documented in docs/events.md.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from wisp.queue.policy import RetryPolicy

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class RedisSettings:
    """How to reach Redis. ``rediss://`` URLs use TLS."""

    url: str = DEFAULT_REDIS_URL
    password: str | None = None
    # Short timeouts for the request path: a Redis outage answers 503 fast instead of hanging.
    connect_timeout: float = 1.0
    command_timeout: float = 2.0
    max_connections: int = 64

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RedisSettings:
        env = os.environ if environ is None else environ
        return cls(
            url=env.get("WISP_REDIS_URL") or DEFAULT_REDIS_URL,
            password=env.get("WISP_REDIS_PASSWORD") or None,
            connect_timeout=float(env.get("WISP_REDIS_CONNECT_TIMEOUT", "1")),
            command_timeout=float(env.get("WISP_REDIS_COMMAND_TIMEOUT", "2")),
        )


class BrokerKind(enum.Enum):
    REDIS = "redis"
    NATS = "nats"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BrokerKind:
        """``WISP_QUEUE_BROKER`` (``redis`` when unset); anything else is refused by name."""
        env = os.environ if environ is None else environ
        value = (env.get("WISP_QUEUE_BROKER") or "redis").strip().lower()
        try:
            return cls(value)
        except ValueError:
            raise ValueError(f"WISP_QUEUE_BROKER must be redis or nats, not {value!r}") from None


DEFAULT_NATS_URL = "nats://127.0.0.1:4222"


@dataclass(frozen=True)
class NatsSettings:
    """How to reach NATS JetStream and how wisp lays out its data there (docs/events.md).

    Everything wisp writes lives in one JetStream stream (``stream``, subjects ``<subject_prefix>.>``;
    the wisp stream ``orders`` is subject ``wisp.orders``); invocation records and idempotency keys
    live in KV buckets named after it. ``replicas`` is the JetStream replication factor of both
    (3 on a 3-server cluster: a server may die without losing an acknowledged event).
    """

    url: str = DEFAULT_NATS_URL  # several servers: comma-separated
    user: str | None = None
    password: str | None = None
    token: str | None = None
    stream: str = "WISP"
    subject_prefix: str = "wisp"
    replicas: int = 1
    # How long JetStream remembers a message id to drop a repeated publish (a settlement retried
    # after a crash writes its destinations once).
    duplicate_window: float = 120.0
    # Most deliveries one consumer group may have unacknowledged (delayed retries included).
    max_ack_pending: int = 20_000
    # Requests to JetStream (publish, ack, KV) fail after this; the 503 of an outage comes fast.
    request_timeout: float = 2.0
    connect_timeout: float = 2.0

    @property
    def servers(self) -> list[str]:
        return [s.strip() for s in self.url.split(",") if s.strip()]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> NatsSettings:
        env = os.environ if environ is None else environ
        defaults = cls()
        replicas = int(env.get("WISP_NATS_REPLICAS") or defaults.replicas)
        if not 1 <= replicas <= 5:
            raise ValueError(f"WISP_NATS_REPLICAS must be 1 to 5, not {replicas}")
        stream = env.get("WISP_NATS_STREAM") or defaults.stream
        if not re.fullmatch(r"[A-Za-z0-9_-]+", stream):
            raise ValueError(f"WISP_NATS_STREAM must be letters, digits, _ or -, not {stream!r}")
        prefix = env.get("WISP_NATS_SUBJECT_PREFIX") or defaults.subject_prefix
        if not re.fullmatch(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*", prefix):
            raise ValueError(f"WISP_NATS_SUBJECT_PREFIX must be a subject without wildcards, not {prefix!r}")
        return cls(
            url=env.get("WISP_NATS_URL") or DEFAULT_NATS_URL,
            user=env.get("WISP_NATS_USER") or None,
            password=env.get("WISP_NATS_PASSWORD") or None,
            token=env.get("WISP_NATS_TOKEN") or None,
            stream=stream,
            subject_prefix=prefix,
            replicas=replicas,
            duplicate_window=float(env.get("WISP_NATS_DUPLICATE_WINDOW") or defaults.duplicate_window),
            max_ack_pending=int(env.get("WISP_NATS_MAX_ACK_PENDING") or defaults.max_ack_pending),
        )


# Lambda's asynchronous invocations retry twice after the first failure.
ASYNC_RETRY = RetryPolicy(max_retries=2, initial=5.0, maximum=300.0, multiplier=2.0)


@dataclass(frozen=True)
class DeliverySettings:
    """Pacing of consumers. Times are seconds."""

    # A delivery whose consumer stopped renewing it for this long is reclaimed by another one.
    visibility_timeout: float = 30.0
    # How often a consumer renews its leases, reclaims abandoned deliveries and moves due retries.
    poll_interval: float = 0.5
    # Longest a blocking read waits before looking at its stop flag again.
    read_block: float = 2.0
    # Delay before re-delivering an event the function throttled (429) or could not yet take
    # (cold start); such re-deliveries do not count as attempts.
    defer_delay: float = 1.0
    # Largest event (queue message or async body) accepted; larger ones are dead-lettered / 413.
    max_event_bytes: int = 1024 * 1024
    # Default per-trigger bound on in-flight deliveries: function concurrency x this factor.
    in_flight_factor: int = 2
    in_flight_cap: int = 1000
    # How long async invocation records stay readable at GET /invocations/{id}.
    retention: float = 24 * 3600.0
    # How long a schedule's tick key is kept (must exceed the replicas' clock skew).
    tick_ttl: float = 24 * 3600.0
    # Ticks older than this when noticed (a replica was down) are skipped, not fired late.
    misfire_grace: float = 60.0
    async_retry: RetryPolicy = field(default_factory=lambda: ASYNC_RETRY)
    # Async events older than this are dropped to the failure destination (Lambda: 6 h); a
    # Function's spec.async.maxEventAge overrides it.
    max_event_age: float = 6 * 3600.0
    # The recursion guard: an event more than this many calls deep in a chain wisp made
    # (destinations, async calls passing X-Wisp-Hops, stream destinations) is stopped.
    max_hops: int = 16
    # An Idempotency-Key on /async-function/ returns the first submit's id for this long.
    idempotency_window: float = 3600.0
    # Stored result bodies are cut at this size (the callback gets the same record).
    max_result_bytes: int = 1024 * 1024
    # Callbacks have their own consumer: at most ``callback_concurrency`` POSTs in flight per
    # replica, each attempt cut at ``callback_timeout``, retried with backoff from
    # ``callback_backoff`` up to ``callback_attempts`` attempts, then dead-lettered.
    callback_timeout: float = 10.0
    callback_attempts: int = 3
    callback_concurrency: int = 100
    callback_backoff: float = 1.0
    # A Function's async consumer sleeps once its stream has been empty this long (no reads,
    # no upkeep: idle Functions cost nothing); an event this replica puts there wakes it.
    idle_after: float = 30.0
    # How often a replica looks, in one pass, for sleeping streams that hold events (another
    # replica died holding them).
    sweep_interval: float = 60.0
    # Reconnect backoff after Redis errors.
    reconnect_initial: float = 0.1
    reconnect_max: float = 5.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DeliverySettings:
        """The defaults, with the operator's choices from the environment: ``WISP_MAX_HOPS``
        (the recursion guard's limit) and ``WISP_IDEMPOTENCY_WINDOW`` (seconds)."""
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            max_hops=int(env.get("WISP_MAX_HOPS") or defaults.max_hops),
            idempotency_window=float(env.get("WISP_IDEMPOTENCY_WINDOW") or defaults.idempotency_window),
        )
