"""NATS JetStream as the event broker, beyond the shared contract (test_broker_contract.py):
a server restart loses no acknowledged event, a message any NATS client publishes is a queue
message, a settlement repeated after a failover does not undo a redrive, and a 3-server cluster
keeps every event while one server (the stream's leader) is killed under load."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import nats
import pytest

from tests.support.nats import NatsCluster, NatsServer, fresh_settings
from tests.support.wait import eventually
from wisp.queue.broker import BrokerUnavailable, Delivery, RecordUpdate, Subscription, SubscriptionSpec
from wisp.queue.nats_broker import NatsBroker

pytestmark = pytest.mark.nats


def spec(stream: str, consumer: str = "c", *, owned: bool = True) -> SubscriptionSpec:
    return SubscriptionSpec(
        stream=stream, group="g", dead_letter=f"{stream}.dead", consumer=consumer, owned=owned
    )


async def drain(subscription: Subscription, until: int, seen: list[bytes]) -> None:
    async def more() -> bool:
        try:
            await subscription.promote_due(time.time())
            for delivery in await subscription.fetch(100, 0.2):
                seen.append(delivery.fields["body"])
                await subscription.ack(delivery)
        except BrokerUnavailable:
            pass  # a server is down or a leader is being elected: try again
        return len(set(seen)) >= until

    await eventually(more, f"{until} distinct events", timeout=60)


async def test_a_restart_loses_no_acknowledged_event(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "nats").start()
    try:
        broker = NatsBroker(fresh_settings(server.url), ack_wait=1.0)
        subscription = broker.subscription(spec("wisp:async:default:fn"))
        await subscription.prepare()
        for n in range(100):
            await broker.publish(
                "wisp:async:default:fn",
                {"body": b"%d" % n},
                record_id=f"r{n}",
                record={"n": str(n)},
                retention=60,
            )
        done: list[bytes] = []
        for delivery in await subscription.fetch(30, 1.0):
            done.append(delivery.fields["body"])
            await subscription.ack(delivery)
        held = await subscription.fetch(10, 1.0)  # in flight when the server dies: not acknowledged
        failed = await subscription.fetch(1, 1.0)
        await subscription.retry(failed[0], attempt=2, delay=0.2, error="boom", now=time.time())

        server.kill()  # SIGKILL: no shutdown
        with pytest.raises(BrokerUnavailable):
            await broker.publish(
                "wisp:async:default:fn", {"body": b"x"}, record_id="x", record={}, retention=60
            )
        server.start()

        rest: list[bytes] = []
        await drain(subscription, 70, rest)
        assert sorted(set(rest) | set(done), key=int) == [b"%d" % n for n in range(100)]
        assert not set(rest) & set(done)  # what was acknowledged before the crash never comes back
        assert {d.fields["body"] for d in held} <= set(rest)
        assert await broker.record("r99") == {"n": "99"}
        await broker.close()
    finally:
        server.stop()


async def test_a_message_any_nats_client_publishes_is_a_queue_message(nats_server: NatsServer) -> None:
    settings = fresh_settings(nats_server.url)
    broker = NatsBroker(settings, ack_wait=1.0)
    subscription = broker.subscription(spec("orders", owned=False))
    await subscription.prepare()
    client = await nats.connect(nats_server.url)
    await client.jetstream().publish(
        f"{settings.subject_prefix}.orders", b'{"order": 7}', headers={"source": "shop"}
    )
    await client.close()

    async def fetched() -> list[Delivery]:
        return await subscription.fetch(1, 0.2)

    [delivery] = await eventually(fetched, "the plain message")
    assert delivery.fields == {"data": b'{"order": 7}', "source": b"shop"}
    await broker.close()


async def test_a_publish_that_finds_no_stream_for_a_moment_is_stored_once_it_is_there(
    nats_server: NatsServer,
) -> None:
    # As when a stream was just made (or fails over) and its subjects' interest has not reached
    # the server the gateway talks to: JetStream answers "no responders" for a while.
    settings = fresh_settings(nats_server.url)
    broker = NatsBroker(settings, ack_wait=1.0)
    js = await broker.js()  # makes the stream
    config = (await js.stream_info(settings.stream)).config
    await js.delete_stream(settings.stream)

    async def back_soon() -> None:
        await asyncio.sleep(0.1)
        await js.add_stream(config)

    returning = asyncio.create_task(back_soon())
    try:
        seq = await broker.publish("orders", {"body": b"kept"}, record_id="r1", record={}, retention=60)
    finally:
        await returning
    assert (await js.stream_info(settings.stream)).state.messages == 1
    assert seq == "1"
    await broker.close()


async def test_a_repeated_settlement_from_before_a_redrive_leaves_the_redriven_record(
    nats_server: NatsServer,
) -> None:
    """A failover can lose the acknowledgement of a dead-lettering; the delivery comes again and is
    settled again, possibly after an operator redrove the event: the redriven run's record stands."""
    broker = NatsBroker(fresh_settings(nats_server.url), ack_wait=1.0)
    try:
        subscription = broker.subscription(spec("wisp:async:default:fn"))
        await subscription.prepare()
        await broker.publish(
            "wisp:async:default:fn", {"body": b"1"}, record_id="r1", record={"status": "queued"}, retention=60
        )
        [delivery] = await subscription.fetch(1, 1.0)
        failed = RecordUpdate("r1", {"status": "failed", "reason": "rejected"}, 60)
        await subscription.dead_letter(delivery, reason="rejected", error="400", record=failed)
        dead_letters = "wisp:async:default:fn.dead"
        [dead] = await broker.dead_letters(dead_letters)
        queued = RecordUpdate("r1", {"status": "queued", "reason": "", "redrives": "1"}, 60)
        records = {dead.entry_id: queued}
        moved = await broker.redrive(dead_letters, [dead.entry_id], now=time.time(), records=records)
        assert moved == 1

        await broker.apply_record(failed, "repeated")  # the first settlement's record, once more
        assert await broker.record("r1") == {"status": "queued", "reason": "", "redrives": "1"}
        succeeded = RecordUpdate("r1", {"status": "succeeded", "redrives": "1"}, 60)
        await broker.apply_record(succeeded, "redriven")  # the redriven run's own outcome is written
        assert (await broker.record("r1") or {})["status"] == "succeeded"
    finally:
        await broker.close()


EVENTS = 2000


async def publish_all(broker: NatsBroker, stream: str, published: list[bytes]) -> None:
    """Publish EVENTS events, each retried until JetStream acknowledges it (a retry of one that
    was stored after all carries the same message id: JetStream drops the copy)."""
    for n in range(EVENTS):
        body = b"%s-%d" % (stream.encode(), n)
        while True:
            try:
                await broker.publish(
                    stream, {"body": body}, record_id=body.decode(), record={}, retention=600
                )
                break
            except BrokerUnavailable:
                await asyncio.sleep(0.05)
        published.append(body)


async def consume(subscription: Subscription, seen: list[bytes], stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            for delivery in await subscription.fetch(50, 0.2):
                seen.append(delivery.fields["body"])
                await subscription.ack(delivery)
        except BrokerUnavailable:
            await asyncio.sleep(0.05)


@pytest.mark.slow
async def test_a_cluster_loses_nothing_when_its_leader_is_killed_under_load(tmp_path: Path) -> None:
    cluster = NatsCluster(tmp_path).start()
    brokers: list[NatsBroker] = []
    tasks: list[asyncio.Task[None]] = []
    try:
        settings = fresh_settings(cluster.url, replicas=3)
        # Two gateway replicas, each with its own connection, consuming both streams.
        brokers = [NatsBroker(settings, ack_wait=2.0) for _ in range(2)]
        streams = {"wisp:async:default:fn": True, "orders": False}
        subscriptions = [
            b.subscription(spec(stream, f"c{i}", owned=owned))
            for i, b in enumerate(brokers)
            for stream, owned in streams.items()
        ]
        for subscription in subscriptions:
            await subscription.prepare()
        published: dict[str, list[bytes]] = {s: [] for s in streams}
        seen: list[bytes] = []
        stop = asyncio.Event()
        consumers = [asyncio.create_task(consume(s, seen, stop)) for s in subscriptions]
        producers = [asyncio.create_task(publish_all(brokers[0], s, published[s])) for s in streams]
        tasks = consumers + producers

        await eventually(lambda: len(published["orders"]) >= EVENTS // 3, "a third published")
        js = await brokers[0].js()
        leader = (await js.stream_info(settings.stream)).cluster.leader  # type: ignore[union-attr]
        [victim] = [s for s in cluster.servers if s.name == leader]
        victim.kill()  # SIGKILL the stream's leader mid-stream

        await asyncio.gather(*producers)
        everything = {b for bodies in published.values() for b in bodies}
        started = time.monotonic()
        await eventually(lambda: everything <= set(seen), "every published event consumed", timeout=120)
        drained_in = time.monotonic() - started
        stop.set()
        await asyncio.gather(*consumers)

        duplicates = len(seen) - len(set(seen))
        print(
            f"\n{len(everything)} events, leader {leader} killed, {duplicates} duplicates,"
            f" drained {drained_in:.1f}s after the last publish"
        )
        assert len(everything) == 2 * EVENTS
        assert set(seen) == everything  # nothing lost, nothing invented
        assert duplicates <= 2 * 50 * len(subscriptions)  # only deliveries in flight at the kill
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for broker in brokers:
            await broker.close()
        cluster.stop()
