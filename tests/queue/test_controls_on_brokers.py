"""Each async control of a function and of a queue Trigger, end to end through a ``QueueManager``
and real runtimes, on every broker (Redis Streams and NATS JetStream): retries exhausted reach the
failure destination, an event past its age is dropped with the reason, the success destination
gets the response, a redrive runs the fixed function, the same idempotency key runs once, a
function re-invoking itself stops at the hop limit, and a batch retries only its failed items.

The controls also hold on a 3-server JetStream cluster (R3 streams) whose stream leader is
SIGKILLed mid-run (``disrupt``): clients fail over, a new leader is elected, and each control's
outcome is the same as on one healthy server."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.queue.conftest import FAST, Managers, function, queue_trigger
from tests.queue.runtime import RuntimeProcess
from tests.queue.test_async_controls import async_function
from tests.support.nats import NatsCluster, fresh_settings
from tests.support.wait import eventually
from wisp.queue.broker import Broker, BrokerUnavailable
from wisp.queue.deadletters import SourceKind
from wisp.queue.nats_broker import NatsBroker
from wisp.queue.redis_broker import RedisBroker
from wisp.queue.settings import RedisSettings

# A failover (election of a new stream leader, clients reconnecting) takes seconds.
WAIT = 60.0


@pytest.fixture(
    params=[
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("nats", marks=pytest.mark.nats),
        pytest.param("nats-cluster", marks=[pytest.mark.nats, pytest.mark.slow]),
    ]
)
def broker(request: pytest.FixtureRequest) -> Broker:
    """A broker the ``managers`` fixture closes (it owns what it is given)."""
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
        return RedisBroker(RedisSettings(url=url), read_block=FAST.read_block)
    if request.param == "nats-cluster":
        cluster: NatsCluster = request.getfixturevalue("nats_cluster")
        settings = fresh_settings(cluster.url, replicas=3)
    else:
        settings = request.getfixturevalue("nats_settings")
    return NatsBroker(settings, ack_wait=FAST.visibility_timeout, retention=FAST.retention)


class Disrupt:
    """Each test calls it mid-run. On the JetStream cluster it SIGKILLs the server leading the
    test's stream (the one holding its events); on one server it does nothing.

    ``slack``: extra runs of a handler the kill may cause. A delivery whose acknowledgement cannot
    reach a leader comes again after each visibility timeout (1 s here) until a new leader takes
    it: at-least-once (docs/events.md). Its outcome (dead letter, destinations, callback) is
    written once all the same: JetStream drops the repeats by their message id."""

    def __init__(self, kill: Callable[[], Awaitable[None]] | None = None) -> None:
        self._kill = kill
        self.slack = 0 if kill is None else 10

    async def __call__(self) -> None:
        if self._kill is not None:
            await self._kill()

    def repeats(self, extra: set[str]) -> None:
        """Items run again although they succeeded: none without a failover."""
        assert len(extra) <= self.slack, extra

    def runs(self, runs: int, expected: int) -> None:
        """A handler ran ``runs`` times where ``expected`` without a failover: never fewer, more
        only within the slack; the repeats are printed (``-s``), counted per test."""
        assert expected <= runs <= expected + self.slack, (runs, expected)
        if self._kill is not None:
            print(f"\nfailover: {runs - expected} repeated run(s)")


@pytest.fixture
def disrupt(request: pytest.FixtureRequest, broker: Broker) -> Iterator[Disrupt]:
    """The killed server is started again after the test: the next one finds the cluster whole."""
    if request.node.callspec.params["broker"] != "nats-cluster":
        yield Disrupt()
        return
    cluster: NatsCluster = request.getfixturevalue("nats_cluster")
    assert isinstance(broker, NatsBroker)

    async def kill_leader() -> None:
        js = await broker.js()
        info = await js.stream_info(broker.settings.stream)
        assert info.cluster is not None
        [leader] = [s for s in cluster.servers if s.name == info.cluster.leader]
        leader.kill()

    yield Disrupt(kill_leader)
    cluster.heal()


async def settled(manager: Any, invocation: str) -> dict[str, Any] | None:
    """The invocation's record once it is no longer queued (JetStream writes a settlement's
    destinations before its record: a destination may be seen first)."""
    status: dict[str, Any] | None = await or_none(manager.invocations.status(invocation))
    return status if status is not None and status["status"] != "queued" else None


def one_event(calls: list[dict[str, Any]], disrupt: Disrupt) -> dict[str, Any]:
    """The call a destination function got for one event: more only as a handler may run again."""
    disrupt.runs(len(calls), 1)
    assert all(c["event"]["requestContext"] == calls[0]["event"]["requestContext"] for c in calls), calls
    return calls[0]


async def only(broker: Broker, stream: str) -> dict[str, Any]:
    """The one entry of ``stream``, read once the outcome that wrote it is settled."""
    [entry] = await broker.dead_letters(stream)
    return dict(entry.fields)


async def submit(manager: Any, function: str, body: bytes, headers: dict[str, str], **kwargs: Any) -> str:
    """Submit as a producer does: a 503 (no stream leader for a moment) is tried again."""

    async def accepted() -> str | None:
        try:
            invocation: str = await manager.invocations.submit(function, body, headers, **kwargs)
        except BrokerUnavailable:
            return None
        return invocation

    result: str = await eventually(accepted, f"{function} accepts the event", timeout=WAIT)
    return result


async def or_none(answer: Awaitable[Any]) -> Any:
    """``answer``, or None while the broker fails over (for ``eventually``: ask again)."""
    try:
        return await answer
    except BrokerUnavailable:
        return None


@pytest.fixture
async def reader(broker: Broker) -> AsyncIterator[Callable[[str, int], Any]]:
    async def records(stream: str, count: int) -> list[dict[str, Any]]:
        """The entries of ``stream`` (a destination or dead-letter stream), once there are ``count``."""

        async def arrived() -> list[Any] | None:
            try:
                entries = await broker.dead_letters(stream)
            except BrokerUnavailable:
                return None  # a failover: read again
            return entries if len(entries) >= count else None

        return [
            dict(e.fields) for e in await eventually(arrived, f"{count} entries on {stream}", timeout=WAIT)
        ]

    yield records


async def test_exhausted_retries_reach_the_failure_destination(
    broker: Broker,
    reader: Any,
    runtimes: Callable[..., RuntimeProcess],
    managers: Managers,
    disrupt: Disrupt,
) -> None:
    runtime = runtimes("events.fails")
    manager = managers(broker, {"orders.default": runtime.url})
    manager.update_functions(
        [async_function("orders", "events.fails", maxRetries=1, onFailure={"stream": "orders.failed"})]
    )
    invocation = await submit(manager, "orders.default", b'{"order": 7}', {})
    await disrupt()
    [entry] = await reader("orders.failed", 1)
    record = json.loads(entry["data"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["requestId"] == invocation
    # Each run is an attempt the record counts: redeliveries during a failover count too.
    disrupt.runs(record["requestContext"]["approximateInvokeCount"], 2)
    assert record["responsePayload"]["errorMessage"] == "planned failure"
    disrupt.runs(len(runtime.records("failed")), 2)
    [dead] = await reader("wisp:async:default:orders:dead", 1)
    assert dead["wisp.reason"] == b"retries_exhausted"
    await eventually(lambda: settled(manager, invocation), "its outcome", timeout=WAIT)
    assert await only(broker, "orders.failed") == entry  # written once


async def test_an_event_past_its_age_is_dropped_with_the_reason(
    broker: Broker,
    reader: Any,
    runtimes: Callable[..., RuntimeProcess],
    managers: Managers,
    disrupt: Disrupt,
) -> None:
    runtime = runtimes("events.record")
    manager = managers(broker, {"orders.default": runtime.url}, clock=lambda: time.time() + 120)
    invocation = await submit(manager, "orders.default", b'{"order": 9}', {})
    await disrupt()
    manager.update_functions(
        [async_function("orders", "events.record", maxEventAge="60s", onFailure={"stream": "too-old"})]
    )
    [entry] = await reader("too-old", 1)
    assert json.loads(entry["data"])["requestContext"]["condition"] == "EventAgeExceeded"
    status = await eventually(lambda: settled(manager, invocation), "its outcome", timeout=WAIT)
    assert (status["status"], status["reason"]) == ("failed", "event_age_exceeded")
    assert runtime.records() == []  # never run late
    assert await only(broker, "too-old") == entry  # written once


async def test_the_success_destination_receives_the_response(
    broker: Broker, runtimes: Callable[..., RuntimeProcess], managers: Managers, disrupt: Disrupt
) -> None:
    orders, audit = runtimes("events.record"), runtimes("events.context_record")
    manager = managers(broker, {"orders.default": orders.url, "audit.default": audit.url})
    manager.update_functions(
        [
            async_function("orders", "events.record", onSuccess={"function": "audit"}),
            async_function("audit", "events.context_record"),
        ]
    )
    invocation = await submit(manager, "orders.default", b'{"order": 8}', {})
    await disrupt()
    done = one_event(await eventually(audit.records, "the audit function's call", timeout=WAIT), disrupt)
    assert done["event"]["requestContext"]["condition"] == "Success"
    assert done["event"]["requestContext"]["requestId"] == invocation
    assert done["event"]["responsePayload"] == {"ok": True, "requestId": invocation}


async def test_a_redrive_runs_the_fixed_function(
    tmp_path: Path,
    broker: Broker,
    runtimes: Callable[..., RuntimeProcess],
    managers: Managers,
    disrupt: Disrupt,
) -> None:
    fixed = tmp_path / "fixed"
    runtime = runtimes("events.fixable", env={"FIXED_FILE": str(fixed)})
    manager = managers(broker, {"orders.default": runtime.url})
    manager.update_functions([async_function("orders", "events.fixable", maxRetries=0)])
    invocation = await submit(manager, "orders.default", b'{"n": 1}', {})
    source = manager.dead_letters.source(SourceKind.FUNCTION, "orders.default")
    assert source is not None

    async def dead() -> bool:
        count: int | None = await or_none(broker.count_dead_letters(source.stream))
        return count == 1

    await eventually(dead, "the dead letter", timeout=WAIT)
    await disrupt()  # the redrive goes to the stream's next leader
    fixed.touch()

    async def redriven() -> bool:
        # A redrive cut short by the failover is asked for again; a moved entry moves once.
        await or_none(manager.dead_letters.redrive(source, None))
        count: int | None = await or_none(broker.count_dead_letters(source.stream))
        return count == 0

    await eventually(redriven, "the redrive", timeout=WAIT)

    async def succeeded() -> dict[str, Any] | None:
        # Across a failover the first delivery's failure may be settled again meanwhile (its
        # acknowledgement was lost): the record says so until the redriven event succeeds.
        status = await settled(manager, invocation)
        return status if status is not None and status["status"] == "succeeded" else None

    status = await eventually(succeeded, "the redriven invocation's success", timeout=WAIT)
    assert status["redrives"] == 1
    disrupt.runs(len(runtime.records("done")), 1)


async def test_the_same_idempotency_key_twice_runs_once(
    broker: Broker, runtimes: Callable[..., RuntimeProcess], managers: Managers, disrupt: Disrupt
) -> None:
    runtime = runtimes("events.context_record")
    manager = managers(broker, {"orders.default": runtime.url})
    first = await submit(
        manager, "orders.default", b'{"n": 1}', {"Idempotency-Key": "k"}, idempotency_key="k"
    )
    await disrupt()  # the key is checked again by the next leader
    again = await submit(
        manager, "orders.default", b'{"n": 2}', {"Idempotency-Key": "k"}, idempotency_key="k"
    )
    other = await submit(manager, "orders.default", b'{"n": 3}', {})
    assert first == again != other
    manager.update_functions([async_function("orders", "events.context_record")])

    def ran() -> set[int]:
        return {r["event"]["n"] for r in runtime.records()}

    await eventually(lambda: ran() >= {1, 3}, "the first and the other call", timeout=WAIT)
    assert ran() == {1, 3}  # the second submit of the key never ran
    disrupt.runs(len(runtime.records()), 2)


async def test_a_function_that_re_invokes_itself_stops_at_the_hop_limit(
    broker: Broker,
    reader: Any,
    runtimes: Callable[..., RuntimeProcess],
    managers: Managers,
    disrupt: Disrupt,
) -> None:
    runtime = runtimes("events.record")
    manager = managers(broker, {"loop.default": runtime.url})
    manager.update_functions(
        [
            async_function(
                "loop", "events.record", onSuccess={"function": "loop"}, onFailure={"stream": "loops"}
            )
        ]
    )
    await submit(manager, "loop.default", b'{"start": true}', {})
    await disrupt()
    [entry] = await reader("loops", 1)
    assert json.loads(entry["data"])["requestContext"]["condition"] == "RecursiveInvocationLoop"
    # A hop run again (a failover) starts no second chain: its destination is written once.
    disrupt.runs(len(runtime.records()), 16)
    assert await only(broker, "loops") == entry


async def test_a_batch_with_two_failing_items_retries_only_those(
    broker: Broker, runtimes: Callable[..., RuntimeProcess], managers: Managers, disrupt: Disrupt
) -> None:
    runtime = runtimes("events.batch")
    ids = []
    for n in range(5):
        data = json.dumps({"n": n, "fail": n in (1, 3)}).encode()
        ids.append(await broker.publish("orders", {"data": data}, record_id=f"m{n}", record={}, retention=60))
    await disrupt()  # the batches are read from the stream's next leader
    manager = managers(broker, {"orders.default": runtime.url})
    manager.update_functions([function("orders", "events.batch")])
    manager.update_triggers(
        [
            queue_trigger(
                "on-order",
                "orders",
                "orders",
                batchSize=10,
                batchWindow="200ms",
                backoff={"initial": "10ms", "max": "10ms"},
            )
        ]
    )

    def handled() -> list[tuple[str, int]]:
        return [(item[0], item[1]) for call in runtime.records("batch") for item in call["items"]]

    def retried() -> set[str]:
        return {i for i, attempt in handled() if attempt > 1}

    await eventually(lambda: retried() >= {ids[1], ids[3]}, "the two failed items again", timeout=WAIT)
    assert {i for i, attempt in handled() if attempt == 1} == set(ids)
    # Only the failed ones; across a failover a delivery whose acknowledgement found no leader
    # comes again whole, so its succeeded items run again too (within the slack).
    disrupt.repeats(retried() - {ids[1], ids[3]})
    disrupt.runs(len(handled()), 7)

    async def no_dead_letters() -> bool:  # asked again while the cluster elects a leader
        count: int | None = await or_none(broker.count_dead_letters("orders.dead"))
        return count == 0

    await eventually(no_dead_letters, "the dead-letter count", timeout=WAIT)
