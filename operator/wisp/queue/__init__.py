"""wisp's event path: async invocations, queue triggers and schedules over a durable log.

Requests come in through ``routes`` (``POST /async-function/...``) and from producers writing to
streams; ``QueueManager`` runs a ``Consumer`` per function and per queue Trigger, and a
``Scheduler`` for schedule Triggers; calls go out through an ``Invoker`` (the gateway's invoke,
or ``HttpInvoker``). The ``Broker`` protocol is the seam to the log; ``RedisBroker`` implements
it on Redis Streams, ``NatsBroker`` on NATS JetStream (``brokers.make_broker`` picks one).
Semantics are written down in docs/events.md.
"""

from wisp.queue.broker import Backlog, Broker, BrokerUnavailable, Delivery, Subscription
from wisp.queue.invocations import AsyncInvocations
from wisp.queue.invoker import HttpInvoker, InvocationResult, Invoker
from wisp.queue.manager import QueueManager
from wisp.queue.nats_broker import NatsBroker
from wisp.queue.redis_broker import RedisBroker
from wisp.queue.routes import RouteSettings, add_routes
from wisp.queue.settings import DeliverySettings, NatsSettings, RedisSettings

__all__ = [
    "AsyncInvocations",
    "Backlog",
    "Broker",
    "BrokerUnavailable",
    "Delivery",
    "DeliverySettings",
    "HttpInvoker",
    "InvocationResult",
    "Invoker",
    "NatsBroker",
    "NatsSettings",
    "QueueManager",
    "RedisBroker",
    "RedisSettings",
    "RouteSettings",
    "Subscription",
    "add_routes",
]
