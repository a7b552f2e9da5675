"""What the event path needs from any ``Broker``, written against the protocols only
(``wisp.queue.broker``) and run against every broker wisp ships: Redis Streams and NATS JetStream,
each a real server. At-least-once delivery (a delivery left unacknowledged comes back to another
consumer after the visibility timeout, renewed ones do not), retries after their backoff with
their attempt and error, schedule ticks published once, idempotent publishes, destination appends
settled with a delivery, backlogs, and dead letters that are read, counted, redriven with their
id, and purged."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.support.nats import nats_server, nats_settings  # noqa: F401
from tests.support.wait import eventually
from wisp.queue.broker import Append, Broker, Delivery, RecordUpdate, Subscription, SubscriptionSpec
from wisp.queue.nats_broker import NatsBroker
from wisp.queue.redis_broker import RedisBroker
from wisp.queue.settings import NatsSettings, RedisSettings

# Deliveries left unacknowledged this long go to another consumer.
VISIBILITY = 1.0


def redis_broker(request: pytest.FixtureRequest) -> Broker:
    url: str = request.getfixturevalue("redis_url")
    return RedisBroker(RedisSettings(url=url), read_block=0.2)


def nats_broker(request: pytest.FixtureRequest) -> Broker:
    settings: NatsSettings = request.getfixturevalue("nats_settings")
    return NatsBroker(settings, ack_wait=VISIBILITY)


BROKERS: dict[str, Callable[[pytest.FixtureRequest], Broker]] = {"redis": redis_broker, "nats": nats_broker}


@pytest.fixture(
    params=[
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("nats", marks=pytest.mark.nats),
    ]
)
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    made = BROKERS[request.param](request)
    yield made
    await made.close()


async def subscribed(broker: Broker, stream: str) -> Subscription:
    spec = SubscriptionSpec(stream=stream, group="g", dead_letter=f"{stream}.dead", consumer="c", label="t")
    subscription = broker.subscription(spec)
    await subscription.prepare()
    return subscription


async def one(subscription: Subscription) -> Delivery:
    async def fetched() -> list[Delivery]:
        return await subscription.fetch(1, 0.1)

    [delivery] = await eventually(fetched, "a delivery")
    return delivery


async def publish(broker: Broker, stream: str, body: bytes) -> None:
    await broker.publish(stream, {"body": body}, record_id=body.decode(), record={}, retention=60)


async def test_an_idempotent_publish_answers_the_first_id_and_stores_once(broker: Broker) -> None:
    args: dict[str, Any] = {"record": {"status": "queued"}, "retention": 60}
    first = await broker.publish_idempotent("k", 60, "s", {"n": b"1"}, record_id="id-1", **args)
    again = await broker.publish_idempotent("k", 60, "s", {"n": b"2"}, record_id="id-2", **args)
    other = await broker.publish_idempotent("k2", 60, "s", {"n": b"3"}, record_id="id-3", **args)
    assert (first, again, other) == ("id-1", "id-1", "id-3")
    assert await broker.record("id-2") is None
    subscription = await subscribed(broker, "s")
    bodies = [d.fields["n"] for d in await subscription.fetch(10, 0.1)]
    assert bodies == [b"1", b"3"]


async def test_settling_appends_the_destinations_and_their_records(broker: Broker) -> None:
    subscription = await subscribed(broker, "s")
    await publish(broker, "s", b"a")
    await publish(broker, "s", b"b")
    created = RecordUpdate("dest-1", {"status": "queued"}, 60)
    await subscription.ack(await one(subscription), appends=[Append("ok", {"data": b"1"}, created)])
    failed = Append("failed", {"data": b"2"})
    await subscription.dead_letter(
        await one(subscription), reason="retries_exhausted", error="x", appends=[failed]
    )

    assert [e.fields["data"] for e in await broker.dead_letters("ok")] == [b"1"]
    assert [e.fields["data"] for e in await broker.dead_letters("failed")] == [b"2"]
    assert await broker.record("dest-1") == {"status": "queued"}
    assert await broker.count_dead_letters("s.dead") == 1


async def test_dead_letters_are_redriven_with_their_id_and_purged(broker: Broker) -> None:
    subscription = await subscribed(broker, "s")
    for body in (b"a", b"b"):
        await publish(broker, "s", body)
    first, second = await one(subscription), await one(subscription)
    for delivery in (first, second):
        await subscription.dead_letter(delivery, reason="retries_exhausted", error="boom")
    entries = await broker.dead_letters("s.dead")
    assert [e.fields["body"] for e in entries] == [b"a", b"b"]
    assert [e.fields["wisp.id"].decode() for e in entries] == [first.origin_id, second.origin_id]
    assert await broker.dead_letters("s.dead", after=entries[0].entry_id) == entries[1:]

    queued = {entries[0].entry_id: RecordUpdate("a", {"status": "queued"}, 60)}
    assert await broker.redrive("s.dead", [entries[0].entry_id, "0-1"], now=1000.0, records=queued) == 1
    assert await broker.redrive("s.dead", [entries[0].entry_id], now=1000.0) == 0  # moved once only
    assert await broker.record("a") == {"status": "queued"}
    again = await one(subscription)
    assert (again.origin_id, again.fields["body"], again.attempt) == (first.origin_id, b"a", 1)
    assert again.redrives == 1
    assert again.first_enqueued_ms == 1_000_000  # its age counts from the redrive
    await subscription.dead_letter(again, reason="retries_exhausted", error="still")
    [_, back] = await broker.dead_letters("s.dead")
    assert back.fields["wisp.redrives"] == b"1"

    assert await broker.purge("s.dead", [e.entry_id for e in await broker.dead_letters("s.dead")]) == 2
    assert await broker.count_dead_letters("s.dead") == 0
