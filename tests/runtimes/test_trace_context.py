"""The call's W3C trace context reaches the handler: on ``context``, in Lambda's
``_X_AMZN_TRACE_ID``, and (Python) as the parent of the spans its OpenTelemetry SDK starts."""

from __future__ import annotations

import aiohttp
import pytest

from tests.runtimes.conftest import Start
from tests.runtimes.languages import NODE, PYTHON, Language

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
