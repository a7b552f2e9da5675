"""The call's W3C trace context reaches the handler: on ``context``, in Lambda's
``_X_AMZN_TRACE_ID``, and (Python) as the parent of the spans its OpenTelemetry SDK starts."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from tests.runtimes.conftest import Start
from tests.runtimes.languages import NODE, PYTHON, Language
from wisp.launcher import install_dependencies

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT}-01"


@pytest.fixture(params=[PYTHON, NODE], ids=str)
def language(request: pytest.FixtureRequest) -> Language:
    lang: Language = request.param
    return lang


async def test_handler_sees_the_calls_trace_context(start: Start, http: aiohttp.ClientSession) -> None:
    runtime = await start("trace_context")
    headers = {"traceparent": TRACEPARENT.upper(), "tracestate": "vendor=1"}
    async with http.post(runtime.url, json={}, headers=headers) as response:
        body = await response.json()
    assert body == {
        "traceId": TRACE_ID,
        "traceparent": TRACEPARENT,
        "xray": f"Root=1-{TRACE_ID[:8]}-{TRACE_ID[8:]};Parent={PARENT};Sampled=1",
    }


@pytest.mark.parametrize("value", ["", "00-zz-00f067aa0ba902b7-01", f"00-{'0' * 32}-{PARENT}-01"])
async def test_no_or_a_malformed_traceparent_gives_no_trace(
    start: Start, http: aiohttp.ClientSession, value: str
) -> None:
    runtime = await start("trace_context")
    async with http.post(runtime.url, json={}, headers={"traceparent": TRACEPARENT}) as response:
        assert (await response.json())["traceId"] == TRACE_ID
    async with http.post(runtime.url, json={}, headers={"traceparent": value}) as response:
        body = await response.json()
    # Nothing of the earlier call's trace is left behind for this one.
    assert body == {"traceId": None, "traceparent": None, "xray": None}


@pytest.mark.parametrize("language", [PYTHON], ids=str)
async def test_the_handlers_opentelemetry_spans_are_children_of_the_caller(
    start: Start, http: aiohttp.ClientSession
) -> None:
    runtime = await start("otel", handler_ref="otel_handler.handler")
    async with http.post(runtime.url, json={}, headers={"traceparent": TRACEPARENT}) as response:
        body = await response.json()
    assert body == {"traceId": TRACE_ID, "parentSpanId": PARENT, "parentIsRemote": True}
    # A call without a trace starts the handler's own root span, not a child of the last call's.
    async with http.post(runtime.url, json={}) as response:
        body = await response.json()
    assert body["parentSpanId"] is None
    assert body["traceId"] != TRACE_ID


# A Node.js handler instrumented with the OpenTelemetry JS SDK, from the npm registry.
NODE_OTEL_PACKAGES = {
    "@opentelemetry/api": "1.9.0",
    "@opentelemetry/context-async-hooks": "2.12.1",
    "@opentelemetry/core": "2.12.1",
    "@opentelemetry/sdk-trace-base": "2.12.1",
}
NODE_OTEL_HANDLER = """
const api = require('@opentelemetry/api');
const { AsyncLocalStorageContextManager } = require('@opentelemetry/context-async-hooks');
const { W3CTraceContextPropagator } = require('@opentelemetry/core');
const sdk = require('@opentelemetry/sdk-trace-base');

const exporter = new sdk.InMemorySpanExporter();
const provider = new sdk.BasicTracerProvider({ spanProcessors: [new sdk.SimpleSpanProcessor(exporter)] });
api.trace.setGlobalTracerProvider(provider);
api.context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
api.propagation.setGlobalPropagator(new W3CTraceContextPropagator());
const tracer = api.trace.getTracer('handler');

exports.handler = async () => {
  const own = await tracer.startActiveSpan('work', async (span) => {
    await new Promise((resolve) => setTimeout(resolve, 1));
    span.end();
    return span.spanContext();
  });
  const finished = exporter.getFinishedSpans().at(-1);
  const parent = finished.parentSpanContext;
  return {
    traceId: own.traceId,
    parentSpanId: parent ? parent.spanId : null,
    parentIsRemote: Boolean(parent && parent.isRemote),
  };
};
"""


@pytest.mark.parametrize("language", [NODE], ids=str)
async def test_the_node_handlers_opentelemetry_spans_are_children_of_the_caller(
    start: Start, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    code_dir, deps_dir = tmp_path / "code", tmp_path / "deps"
    code_dir.mkdir()
    package = {"name": "otel-fn", "version": "1.0.0", "dependencies": NODE_OTEL_PACKAGES}
    (code_dir / "package.json").write_text(json.dumps(package))
    (code_dir / "index.js").write_text(NODE_OTEL_HANDLER)
    output: list[str] = []
    await install_dependencies(NODE.runtime, code_dir, deps_dir, log_sink=output.append)
    runtime = await start("", code_dir=code_dir, handler_ref="index.handler", WISP_DEPS_DIR=str(deps_dir))
    async with http.post(runtime.url, json={}, headers={"traceparent": TRACEPARENT}) as response:
        assert response.status == 200, await response.text()
        body = await response.json()
    assert body == {"traceId": TRACE_ID, "parentSpanId": PARENT, "parentIsRemote": True}
    async with http.post(runtime.url, json={}) as response:
        body = await response.json()
    assert body["parentSpanId"] is None
    assert body["traceId"] != TRACE_ID
