"""Traces across the gateway, the activator, the queue and the runtime, received by a real
OpenTelemetry Collector (tests/support/otelcol.py): spans share the caller's trace id and hang
off one another, and the handler sees the context of its own span."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.gateway.conftest import GatewayFactory, Runtimes, make_function
from tests.gateway.test_events import (  # noqa: F401 (fixtures)
    events_gateway,
    eventually,
    group_exists,
    redis_client,
    redis_url,
    scaling_backend,
)
from tests.support.otelcol import Collector, collector, otelcol_binary  # noqa: F401 (fixtures)
from tests.support.redis import redis_server, redis_server_factory  # noqa: F401 (fixtures)
from wisp.api.trigger import parse_trigger

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"
CALLER = f"00-{TRACE_ID}-{CALLER_SPAN}-01"
SERVER, CONSUMER, PRODUCER = 2, 5, 4

# Answers (and appends to a file) the trace context the handler was called in.
TRACED = textwrap.dedent(
    """
    import json

    def handler(event, context):
        seen = {"traceparent": context.traceparent, "traceId": context.trace_id}
        with open(SEEN_FILE, "a") as out:
            out.write(json.dumps(seen) + "\\n")
        return seen
    """
)


# Fails its first call, then answers: an async invocation of it is retried once.
FLAKY = textwrap.dedent(
    """
    import os

    def handler(event, context):
        if not os.path.exists(FLAG_FILE):
            open(FLAG_FILE, "w").close()
            raise RuntimeError("first attempt fails")
        return {"traceparent": context.traceparent}
    """
)


def traced_function(tmp_path: Path, name: str = "traced", **spec: Any) -> Any:
    code = TRACED.replace("SEEN_FILE", repr(str(tmp_path / f"{name}.seen")))
    return make_function(name, code={"inline": code}, **spec)


def seen(tmp_path: Path, name: str = "traced") -> list[dict[str, Any]]:
    path = tmp_path / f"{name}.seen"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def span_id(traceparent: str) -> str:
    return traceparent.split("-")[2]


async def test_a_call_from_zero_is_one_trace_from_the_caller_to_the_handler(
    gateway_factory: GatewayFactory,
    runtimes: Runtimes,
    collector: Collector,  # noqa: F811
    tmp_path: Path,
) -> None:
    fn = traced_function(tmp_path)
    backend = scaling_backend(runtimes, [fn])
    gw = await gateway_factory(backend, otlp_endpoint=collector.endpoint)

    headers = {"traceparent": CALLER, "tracestate": "vendor=opaque"}
    async with gw.session.post(gw.url("/function/traced"), json={}, headers=headers) as resp:
        assert resp.status == 200
        handler_saw = await resp.json()

    spans = await collector.sink.wait_for(TRACE_ID, {"POST /function/traced", "cold start", "handler"})
    gateway, cold, handler = spans["POST /function/traced"], spans["cold start"], spans["handler"]
    assert gateway["parentSpanId"] == CALLER_SPAN
    assert gateway["kind"] == SERVER and gateway["service"] == "wisp-gateway"
    assert cold["parentSpanId"] == handler["parentSpanId"] == gateway["spanId"]
    assert gateway["traceState"] == "vendor=opaque"
    # The handler ran in the context of the handler span: its own spans hang off that one.
    assert handler_saw["traceId"] == TRACE_ID
    assert span_id(handler_saw["traceparent"]) == handler["spanId"]
    attributes = {a["key"]: a["value"] for a in gateway["attributes"]}
    assert attributes["faas.name"] == {"stringValue": "traced"}
    assert attributes["faas.coldstart"] == {"boolValue": True}
    assert attributes["http.response.status_code"] == {"intValue": "200"}
    assert int(cold["endTimeUnixNano"]) <= int(handler["startTimeUnixNano"])


async def test_a_call_without_a_trace_starts_one_and_sampling_is_honoured(
    gateway_factory: GatewayFactory,
    runtimes: Runtimes,
    collector: Collector,  # noqa: F811
    tmp_path: Path,
) -> None:
    fn = traced_function(tmp_path)
    backend = scaling_backend(runtimes, [fn])
    gw = await gateway_factory(backend, otlp_endpoint=collector.endpoint, trace_sample_ratio=0.0)

    # Ratio 0: a trace the gateway starts is passed on unsampled and exports nothing ...
    async with gw.session.post(gw.url("/function/traced"), json={}) as resp:
        unsampled = await resp.json()
    assert unsampled["traceparent"].endswith("-00")
    # ... while a caller's sampled trace is kept sampled (parent-based), and one it starts
    # is a root: no parent.
    async with gw.session.post(gw.url("/function/traced"), json={}, headers={"traceparent": CALLER}) as resp:
        assert resp.status == 200
    await collector.sink.wait_for(TRACE_ID, {"POST /function/traced", "handler"})
    assert collector.sink.trace(unsampled["traceId"]) == []  # exported in order: it would be here

    gw_sampled = await gateway_factory(backend, otlp_endpoint=collector.endpoint)
    async with gw_sampled.session.post(gw_sampled.url("/function/traced"), json={}) as resp:
        started = await resp.json()
    assert started["traceparent"].endswith("-01")
    spans = await collector.sink.wait_for(started["traceId"], {"POST /function/traced", "handler"})
    assert (
        "parentSpanId" not in spans["POST /function/traced"]
        or not spans["POST /function/traced"]["parentSpanId"]
    )


async def test_a_lambda_invoke_api_call_continues_the_callers_trace(
    gateway_factory: GatewayFactory,
    runtimes: Runtimes,
    collector: Collector,  # noqa: F811
    tmp_path: Path,
) -> None:
    fn = traced_function(tmp_path)
    gw = await gateway_factory(scaling_backend(runtimes, [fn]), otlp_endpoint=collector.endpoint)
    async with gw.session.post(
        gw.url("/2015-03-31/functions/traced/invocations"), data=b"{}", headers={"traceparent": CALLER}
    ) as resp:
        assert resp.status == 200
        handler_saw = await resp.json()
    spans = await collector.sink.wait_for(TRACE_ID, {"invoke", "handler"})
    assert spans["invoke"]["parentSpanId"] == CALLER_SPAN
    assert spans["handler"]["parentSpanId"] == spans["invoke"]["spanId"]
    assert span_id(handler_saw["traceparent"]) == spans["handler"]["spanId"]


async def test_with_tracing_off_the_callers_context_reaches_the_handler_unchanged(
    gateway_factory: GatewayFactory, runtimes: Runtimes, tmp_path: Path
) -> None:
    fn = traced_function(tmp_path)
    gw = await gateway_factory(scaling_backend(runtimes, [fn]))
    assert gw.parts.gateway.tracing is None
    async with gw.session.post(gw.url("/function/traced"), json={}, headers={"traceparent": CALLER}) as resp:
        assert (await resp.json())["traceparent"] == CALLER


@pytest.mark.redis
async def test_an_async_call_and_a_queue_delivery_carry_the_callers_trace(
    gateway_factory: GatewayFactory,
    runtimes: Runtimes,
    collector: Collector,  # noqa: F811
    redis_url: str,  # noqa: F811
    redis_client: aioredis.Redis,  # noqa: F811
    tmp_path: Path,
) -> None:
    fn = traced_function(tmp_path, access={"public": True})
    backend = scaling_backend(runtimes, [fn])
    gw = await events_gateway(gateway_factory, backend, redis_url, otlp_endpoint=collector.endpoint)

    # Async: the accepted invocation's span is stored with it; its delivery is a child of it.
    async with gw.session.post(
        gw.url("/async-function/traced"), json={}, headers={"traceparent": CALLER}
    ) as resp:
        assert resp.status == 202
    spans = await collector.sink.wait_for(TRACE_ID, {"async accept", "deliver", "queue wait", "handler"})
    accept, deliver = spans["async accept"], spans["deliver"]
    assert accept["parentSpanId"] == CALLER_SPAN and accept["kind"] == PRODUCER
    assert deliver["parentSpanId"] == accept["spanId"] and deliver["kind"] == CONSUMER
    assert spans["queue wait"]["parentSpanId"] == spans["handler"]["parentSpanId"] == deliver["spanId"]
    [async_saw] = await eventually(lambda: seen(tmp_path))
    assert span_id(async_saw["traceparent"]) == spans["handler"]["spanId"]

    # A queue Trigger: the producer's context travels as the message's traceparent attribute.
    backend.set_trigger(
        parse_trigger(
            {
                "metadata": {"name": "on-job", "namespace": "default"},
                "spec": {"function": "traced", "queue": {"stream": "jobs"}},
            }
        )
    )
    await eventually(lambda: group_exists(redis_client, "jobs"))
    producer_trace = "0af7651916cd43dd8448eb211c80319c"
    producer = f"00-{producer_trace}-b7ad6b7169203331-01"
    await redis_client.xadd("jobs", {"data": json.dumps({"job": 1}), "traceparent": producer})
    spans = await collector.sink.wait_for(producer_trace, {"deliver", "queue wait", "handler"})
    assert spans["deliver"]["parentSpanId"] == "b7ad6b7169203331"
    queued_saw = (await eventually(lambda: seen(tmp_path)[1:]))[0]
    assert queued_saw["traceId"] == producer_trace
    assert span_id(queued_saw["traceparent"]) == spans["handler"]["spanId"]


@pytest.mark.redis
async def test_each_retry_of_an_async_call_is_a_delivery_in_the_callers_trace(
    gateway_factory: GatewayFactory,
    runtimes: Runtimes,
    collector: Collector,  # noqa: F811
    redis_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    code = FLAKY.replace("FLAG_FILE", repr(str(tmp_path / "failed-once")))
    fn = make_function("flaky", code={"inline": code}, access={"public": True})
    gw = await events_gateway(
        gateway_factory, scaling_backend(runtimes, [fn]), redis_url, otlp_endpoint=collector.endpoint
    )
    async with gw.session.post(
        gw.url("/async-function/flaky"), json={}, headers={"traceparent": CALLER}
    ) as resp:
        assert resp.status == 202

    def deliveries() -> list[dict[str, Any]]:
        found = [s for s in collector.sink.trace(TRACE_ID) if s["name"] == "deliver"]
        return found if len(found) == 2 else []

    first, second = sorted(await eventually(deliveries), key=lambda s: int(s["startTimeUnixNano"]))
    [accept] = [s for s in collector.sink.trace(TRACE_ID) if s["name"] == "async accept"]
    assert first["parentSpanId"] == second["parentSpanId"] == accept["spanId"]
    assert first["status"]["code"] == 2 and second["status"].get("code", 0) == 0
