"""What the event path needs from any ``Broker``, written against the protocols only
(``wisp.queue.broker``) and run against every broker wisp ships: Redis Streams and NATS JetStream,
each a real server. At-least-once delivery (a delivery left unacknowledged comes back to another
consumer after the visibility timeout, renewed ones do not), retries after their backoff with
their attempt and error, schedule ticks published once, idempotent publishes, destination appends
settled with a delivery, backlogs, and dead letters that are read, counted, redriven with their
id, and purged."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.support.wait import eventually
from wisp.queue import names
from wisp.queue.broker import Append, Backlog, Broker, Delivery, RecordUpdate, Subscription, SubscriptionSpec
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


async def subscribed(
    broker: Broker, stream: str, consumer: str = "c", *, owned: bool = False
) -> Subscription:
    spec = SubscriptionSpec(
        stream=stream, group="g", dead_letter=f"{stream}.dead", consumer=consumer, label="t", owned=owned
    )
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


async def taken_over(subscription: Subscription) -> list[Delivery]:
    """What another consumer gets of deliveries abandoned past the visibility timeout (Redis hands
    them over through ``reclaim``, JetStream re-delivers them through ``fetch``)."""
    return await subscription.reclaim(VISIBILITY, 10) or await subscription.fetch(10, 0.1)


@pytest.mark.parametrize("owned", [False, True], ids=["queue-stream", "owned-stream"])
async def test_every_published_event_is_delivered_once_acknowledged_once(broker: Broker, owned: bool) -> None:
    subscription = await subscribed(broker, "s", owned=owned)
    for n in range(20):
        await publish(broker, "s", b"e%d" % n)
    seen: list[bytes] = []

    async def drained() -> bool:
        for delivery in await subscription.fetch(50, 0.1):
            assert delivery.attempt == 1
            seen.append(delivery.fields["body"])
            await subscription.ack(delivery)
        return len(seen) >= 20

    await eventually(drained, "all 20 events")
    assert seen == [b"e%d" % n for n in range(20)]  # in order, each once
    assert await subscription.fetch(10, 0.3) == []
    assert await subscription.backlog() == Backlog(0, 0, 0)


async def test_an_abandoned_delivery_goes_to_another_consumer_as_a_new_attempt(broker: Broker) -> None:
    first = await subscribed(broker, "s", "c1")
    second = await subscribed(broker, "s", "c2")
    await publish(broker, "s", b"a")
    lost = await one(first)  # its consumer dies: never acknowledged, never renewed
    [again] = await eventually(lambda: taken_over(second), "the abandoned delivery")
    assert (again.origin_id, again.fields["body"], again.attempt) == (lost.origin_id, b"a", 2)
    await second.ack(again)
    assert await second.fetch(10, 0.2) == []


async def test_a_renewed_delivery_stays_with_its_consumer(broker: Broker) -> None:
    first = await subscribed(broker, "s", "c1")
    second = await subscribed(broker, "s", "c2")
    await publish(broker, "s", b"a")
    working = await one(first)
    for _ in range(8):  # 2.4 s of work, renewed well within each visibility timeout
        await first.renew([working])
        assert await taken_over(second) == []
        await asyncio.sleep(VISIBILITY / 5)
    await first.ack(working)
    assert await taken_over(second) == []


async def test_a_retry_comes_back_after_its_delay_with_its_attempt_and_error(broker: Broker) -> None:
    subscription = await subscribed(broker, "s")
    await publish(broker, "s", b"a")
    failed = await one(subscription)
    now = time.time()
    await subscription.retry(failed, attempt=2, delay=0.5, error="boom", now=now, record=None)
    assert await subscription.promote_due(now) == 0  # not due yet
    assert await subscription.fetch(10, 0.1) == []

    async def promoted() -> list[Delivery]:
        await subscription.promote_due(time.time())
        return await subscription.fetch(10, 0.1)

    [again] = await eventually(promoted, "the retry")
    assert (again.origin_id, again.fields, again.attempt, again.last_error) == (
        failed.origin_id,
        failed.fields,
        2,
        "boom",
    )
    assert again.first_enqueued_ms == failed.first_enqueued_ms  # its age counts from the first publish
    await subscription.ack(again)
    assert await subscription.backlog() == Backlog(0, 0, 0)


async def test_backlog_counts_ready_in_flight_and_delayed(broker: Broker) -> None:
    subscription = await subscribed(broker, "s")
    for body in (b"a", b"b", b"c"):
        await publish(broker, "s", body)
    first = await one(subscription)
    second = await one(subscription)
    await subscription.retry(second, attempt=2, delay=600, error=None, now=time.time())
    await subscription.promote_due(time.time())
    assert await subscription.backlog() == Backlog(ready=1, in_flight=1, delayed=1)
    await subscription.ack(first)
    assert await subscription.backlog() == Backlog(ready=1, in_flight=0, delayed=1)


async def test_a_schedule_tick_is_published_once(broker: Broker) -> None:
    args: dict[str, Any] = {"record": {"status": "queued"}, "retention": 60}
    first = await broker.publish_once("tick", 60, "s", {"n": b"1"}, record_id="t-1", **args)
    again = await broker.publish_once("tick", 60, "s", {"n": b"1"}, record_id="t-1", **args)
    assert (first, again) == (True, False)
    subscription = await subscribed(broker, "s")
    assert [d.fields["n"] for d in await subscription.fetch(10, 0.2)] == [b"1"]


async def test_a_record_is_written_with_its_event_and_updated_field_by_field(broker: Broker) -> None:
    await broker.publish(
        "s", {"body": b"x"}, record_id="r", record={"status": "queued", "k": "v"}, retention=60
    )
    await broker.update_record("r", {"status": "succeeded"}, 60)
    assert await broker.record("r") == {"status": "succeeded", "k": "v"}
    assert await broker.record("nothing") is None
    subscription = await subscribed(broker, "s")
    delivery = await one(subscription)
    callback = {"url": b"http://example.invalid/"}
    await subscription.ack(delivery, record=RecordUpdate("r", {"attempts": "1"}, 60, callback))
    assert await broker.record("r") == {"status": "succeeded", "k": "v", "attempts": "1"}
    callbacks = await subscribed(broker, names.CALLBACK_STREAM)
    assert (await one(callbacks)).fields == callback


async def test_odd_stream_names_and_binary_fields_survive(broker: Broker) -> None:
    stream = "odd name*>..x"
    subscription = await subscribed(broker, stream)
    other = await subscribed(broker, "odd")
    fields = {"body": bytes(range(256)), "ünï": b"\x00", "": b"empty name"}
    await broker.publish(stream, fields, record_id="r", record={}, retention=60)
    delivery = await one(subscription)
    assert delivery.fields == fields
    await subscription.dead_letter(delivery, reason="malformed", error=None)
    [dead] = await broker.dead_letters(f"{stream}.dead")
    assert {k: dead.fields[k] for k in fields} == fields
    assert await other.fetch(10, 0.1) == []
