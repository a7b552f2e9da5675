"""Choosing the broker: Redis Streams (the embedded default) or NATS JetStream (a cluster).

``broker_settings_from_env`` reads ``WISP_QUEUE_BROKER`` (``redis`` or ``nats``) and that broker's
``WISP_REDIS_*`` or ``WISP_NATS_*`` variables; ``make_broker`` builds the broker the event path
uses, with the delivery settings it must agree with (the visibility timeout is JetStream's
``ack_wait``; the record retention is its KV bucket's age limit).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from wisp.queue.broker import Broker
from wisp.queue.nats_broker import NatsBroker
from wisp.queue.redis_broker import RedisBroker
from wisp.queue.settings import BrokerKind, DeliverySettings, NatsSettings, RedisSettings

BrokerSettings = RedisSettings | NatsSettings


def broker_settings_from_env(environ: Mapping[str, str] | None = None) -> BrokerSettings | None:
    """The configured broker, or None when its address is unset (events are off)."""
    env = os.environ if environ is None else environ
    if BrokerKind.from_env(env) is BrokerKind.NATS:
        return NatsSettings.from_env(env) if env.get("WISP_NATS_URL") else None
    return RedisSettings.from_env(env) if env.get("WISP_REDIS_URL") else None


def make_broker(settings: BrokerSettings, delivery: DeliverySettings) -> Broker:
    if isinstance(settings, NatsSettings):
        return NatsBroker(settings, ack_wait=delivery.visibility_timeout, retention=delivery.retention)
    return RedisBroker(settings, read_block=delivery.read_block)


def describe(settings: BrokerSettings) -> str:
    """Where events are, for logs and ``wisp dev``'s banner (no credentials)."""
    if isinstance(settings, NatsSettings):
        hosts = ", ".join(s.split("@")[-1] for s in settings.servers)
        return f"NATS JetStream at {hosts} (stream {settings.stream}, {settings.replicas} replica(s))"
    return f"Redis at {settings.url.split('@')[-1]}"
