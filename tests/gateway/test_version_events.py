"""Events for a version or an alias, through the gateway app with a real redis-server and real
runtime processes: ``/async-function/NAME:QUALIFIER``, Lambda's ``Event`` invocation with a
``Qualifier``, and queue and schedule Triggers with ``spec.qualifier`` reach that version (an
alias's by the registry's draw), and the invocation record says which version ran."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.gateway.conftest import GatewayFactory, GatewayUnderTest, Runtimes, make_function
from tests.gateway.test_events import (  # noqa: F401 (fixtures)
    ADMIN,
    events_gateway,
    eventually,
    group_exists,
    redis_client,
    redis_url,
)
from tests.gateway.test_lambda_invoke import _client, _in_thread
from tests.queue.test_async_controls import stream_records
from tests.support.redis import redis_server  # noqa: F401 (fixture)
from wisp.api.function import Function
from wisp.api.trigger import parse_trigger
from wisp.gateway.backend import FunctionInfo
from wisp.gateway.static import StaticBackend
from wisp.queue.extension import QUEUE
from wisp.queue.schedule import next_tick

pytestmark = pytest.mark.redis

# Each version writes what it got to its own file, so a delivery shows which version ran it;
# an event (or a queue message's data) with "fail" fails.
RECORDING = """import json

def handler(event, context):
    with open({path!r}, "a") as out:
        out.write(json.dumps(event) + "\\n")
    data = event.get("data", event) if isinstance(event, dict) else event
    if isinstance(data, dict) and data.get("fail"):
        raise ValueError("asked to fail")
    return {{"served": {label!r}}}
"""


def recording(tmp_path: Path, name: str, label: str, **spec: Any) -> Function:
    code = RECORDING.format(path=str(tmp_path / f"{label}.events"), label=label)
    return make_function(name, code={"inline": code}, **spec)


def seen(tmp_path: Path, label: str) -> list[Any]:
    path = tmp_path / f"{label}.events"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


async def versioned_events_gateway(
    gateway_factory: GatewayFactory,
    runtimes: Runtimes,
    redis_url: str,  # noqa: F811
    tmp_path: Path,
    **spec: Any,
) -> GatewayUnderTest:
    """hello ($LATEST, with ``spec``) with versions 1 and 2, each its own runtime; ``prod`` is 1
    with 10% to 2."""
    backend = StaticBackend()
    prod = {"version": 1, "additionalVersionWeights": {"2": 10}}
    latest = recording(tmp_path, "hello", "latest", access={"public": True}, aliases={"prod": prod}, **spec)
    backend.set_function(FunctionInfo(latest))
    backend.set_endpoints(latest.key, ((await runtimes.start(latest)).endpoint,))
    for number in (1, 2):
        fn = recording(tmp_path, f"hello-v{number}", str(number))
        backend.set_function(FunctionInfo(fn, version=str(number)))
        backend.set_endpoints(fn.key, ((await runtimes.start(fn)).endpoint,))
    return await events_gateway(gateway_factory, backend, redis_url)


async def finished(gw: GatewayUnderTest, invocation_id: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        async with gw.session.get(gw.url(f"/invocations/{invocation_id}"), headers=ADMIN) as resp:
            assert resp.status == 200
            document: dict[str, Any] = await resp.json()
            return document if document["status"] in ("succeeded", "failed") else None

    return await eventually(done)


async def submit(gw: GatewayUnderTest, path: str, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with gw.session.post(gw.url(path), json=event) as resp:
        return resp.status, await resp.json()


async def test_async_calls_of_a_version_or_an_alias_run_there_and_record_it(
    gateway_factory: GatewayFactory,
    runtimes: Runtimes,
    redis_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    gw = await versioned_events_gateway(gateway_factory, runtimes, redis_url, tmp_path)
    for path, draw, version in (
        ("/async-function/hello", 0.5, "$LATEST"),
        ("/async-function/hello:2", 0.5, "2"),
        ("/async-function/hello.default:1", 0.5, "1"),
        ("/async-function/hello:prod", 0.5, "1"),  # past the 10%: the alias's version
        ("/async-function/hello:prod", 0.05, "2"),  # within the 10%: its additional version
    ):
        gw.parts.registry.draw = lambda d=draw: d  # type: ignore[misc]
        status, accepted = await submit(gw, path, {"path": path})
        assert status == 202, accepted
        record = await finished(gw, accepted["invocationId"])
        assert record["status"] == "succeeded", record
        assert record["version"] == version, (path, record)
        served = "latest" if version == "$LATEST" else version
        assert json.loads(record["result"]["body"]) == {"served": served}
        qualifier = path.rpartition(":")[2] if ":" in path else None
        assert record.get("qualifier") == qualifier
    paths = [e["path"] for e in seen(tmp_path, "2")]
    assert paths == ["/async-function/hello:2", "/async-function/hello:prod"]

    # A qualifier naming nothing is refused before anything is stored.
    for path, message in (
        ("/async-function/hello:beta", "function hello.default has no alias or version beta"),
        ("/async-function/hello:9", "version 9 of hello.default not found"),
    ):
        status, body = await submit(gw, path, {})
        assert (status, body["error"]) == (404, "FunctionNotFound") and message in body["message"], body


async def test_lambdas_event_invocation_with_a_qualifier(
    gateway_factory: GatewayFactory,
    runtimes: Runtimes,
    redis_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    gw = await versioned_events_gateway(gateway_factory, runtimes, redis_url, tmp_path)
    gw.parts.registry.draw = lambda: 0.05  # prod: its additional version
    client = _client(gw)
    for kwargs, version in (
        ({"FunctionName": "hello", "Qualifier": "1"}, "1"),
        ({"FunctionName": "hello:prod"}, "2"),
        ({"FunctionName": "hello", "Qualifier": "$LATEST"}, "$LATEST"),
    ):
        answer = await _in_thread(client.invoke, InvocationType="Event", Payload=b'{"n": 1}', **kwargs)
        assert answer["StatusCode"] == 202
        invocation_id = answer["ResponseMetadata"]["HTTPHeaders"]["x-wisp-invocation-id"]
        record = await finished(gw, invocation_id)
        assert (record["status"], record["version"]) == ("succeeded", version), (kwargs, record)
    try:
        await _in_thread(client.invoke, FunctionName="hello", Qualifier="beta", InvocationType="Event")
    except client.exceptions.ResourceNotFoundException:
        pass
    else:
        raise AssertionError("an Event for a missing alias was accepted")


async def test_queue_and_schedule_triggers_deliver_to_their_qualifier(
    gateway_factory: GatewayFactory,
    runtimes: Runtimes,
    redis_url: str,  # noqa: F811
    redis_client: aioredis.Redis,  # noqa: F811
    tmp_path: Path,
) -> None:
    gw = await versioned_events_gateway(gateway_factory, runtimes, redis_url, tmp_path)
    gw.parts.registry.draw = lambda: 0.5  # prod: its version, 1
    manager = gw.server.app[QUEUE]
    backend = gw.backend
    for name, qualifier, kind in (
        ("to-prod", "prod", {"queue": {"stream": "orders"}}),
        ("to-two", "2", {"queue": {"stream": "refunds"}}),
        ("nightly", "2", {"schedule": {"cron": "0 3 * * *", "payload": {"job": "report"}}}),
    ):
        spec = {"function": "hello", "qualifier": qualifier, **kind}
        backend.set_trigger(parse_trigger({"metadata": {"name": name, "namespace": "default"}, "spec": spec}))

    await eventually(lambda: group_exists(redis_client, "orders"))
    await eventually(lambda: group_exists(redis_client, "refunds"))
    await redis_client.xadd("orders", {"data": json.dumps({"order": 1})})
    await redis_client.xadd("refunds", {"data": json.dumps({"refund": 1})})
    [order] = await eventually(lambda: seen(tmp_path, "1"))
    [refund] = await eventually(lambda: seen(tmp_path, "2"))
    assert (order["data"], refund["data"]) == ({"order": 1}, {"refund": 1})

    # A schedule tick is an async invocation of the Trigger's qualifier, recorded as one.
    # (It fires from its next tick on: the test moves the scheduler's clock there.)
    tick = next_tick("0 3 * * *", "UTC", datetime.now(UTC))
    [tick_id] = await manager.scheduler.fire_due(tick)
    record = await finished(gw, tick_id)
    assert (record["status"], record["qualifier"], record["version"]) == ("succeeded", "2", "2"), record
    assert [e["data"] for e in seen(tmp_path, "2")] == [{"refund": 1}, {"job": "report"}]
    assert seen(tmp_path, "latest") == []


async def test_destination_records_name_the_qualifier_the_event_was_invoked_with(
    gateway_factory: GatewayFactory,
    runtimes: Runtimes,
    redis_url: str,  # noqa: F811
    redis_client: aioredis.Redis,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Lambda's record: ``requestContext.functionArn`` ends with the qualifier the event named
    (``$LATEST`` when none); ``responseContext.executedVersion`` is the version that ran."""
    destinations = {"async": {"onSuccess": {"stream": "hello.done"}}}
    gw = await versioned_events_gateway(gateway_factory, runtimes, redis_url, tmp_path, **destinations)
    gw.parts.registry.draw = lambda: 0.05  # prod: its additional version, 2
    expected: dict[str, tuple[str, str]] = {}  # request id -> (ARN's qualifier, executed version)
    for path, qualifier, version in (
        ("/async-function/hello", "$LATEST", "$LATEST"),
        ("/async-function/hello:prod", "prod", "2"),
        ("/async-function/hello.default:1", "1", "1"),
    ):
        status, accepted = await submit(gw, path, {"path": path})
        assert status == 202, accepted
        expected[accepted["invocationId"]] = (qualifier, version)
    client = _client(gw)
    answer = await _in_thread(
        client.invoke, FunctionName="hello", Qualifier="2", InvocationType="Event", Payload=b"{}"
    )
    expected[answer["ResponseMetadata"]["HTTPHeaders"]["x-wisp-invocation-id"]] = ("2", "2")

    records = await stream_records(redis_client, "hello.done", len(expected))
    got = {
        r["requestContext"]["requestId"]: (
            r["requestContext"]["functionArn"],
            r["responseContext"]["executedVersion"],
        )
        for r in records
    }
    assert got == {
        request_id: (f"wisp:default:function:hello:{qualifier}", version)
        for request_id, (qualifier, version) in expected.items()
    }

    # A queue Trigger naming an alias: its failure record names the alias too.
    queue = {"stream": "orders", "maxRetries": 0, "onFailure": {"stream": "orders.failed"}}
    spec = {"function": "hello", "qualifier": "prod", "queue": queue}
    gw.backend.set_trigger(
        parse_trigger({"metadata": {"name": "to-prod", "namespace": "default"}, "spec": spec})
    )
    await eventually(lambda: group_exists(redis_client, "orders"))
    await redis_client.xadd("orders", {"data": json.dumps({"fail": True})})
    [failed] = await stream_records(redis_client, "orders.failed", 1)
    assert failed["requestContext"]["functionArn"] == "wisp:default:function:hello:prod"
    assert failed["requestContext"]["condition"] == "RetriesExhausted"
    assert failed["responseContext"]["executedVersion"] == "2"
