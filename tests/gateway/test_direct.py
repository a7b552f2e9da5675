"""Calls sent from the connections' callbacks (``wisp.gateway.direct``): a warm call with a
small sized answer is answered there, as the coroutine would answer it, and everything else
becomes the coroutine's with what happened so far: a streamed or large answer, the runtime's
refusal, a pooled connection the pod hung up, a broken answer, the timeout, a failure of the
gateway's own."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.gateway.conftest import (
    GatewayFactory,
    GatewayUnderTest,
    Runtimes,
    gateway_with_runtime,
    make_function,
)
from tests.gateway.scripted import SAFETY_NET, ScriptedPod, gateway_for, ok, served_direct
from tests.support.rawhttp import read_answer, request_bytes
from wisp.api import contract
from wisp.gateway import direct
from wisp.gateway.fastpath import FastServer

KEY = "scripted.default"


async def _call(
    gw: GatewayUnderTest, path: str = "/function/scripted", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    async with gw.session.post(gw.url(path), data=b'{"n": 1}', headers=headers, timeout=SAFETY_NET) as resp:
        return resp.status, dict(resp.headers), await resp.read()


def _error_type(body: bytes) -> Any:
    return json.loads(body)["errorType"]


def _in_flight(gw: GatewayUnderTest, key: str = KEY) -> tuple[int, int]:
    """The calls the endpoint slots and the autoscaler's meter count as in flight."""
    up = gw.parts.registry.upstreams[key]
    return up.pool.in_flight, up.meter.in_flight


async def test_a_warm_call_is_answered_from_the_callbacks_as_the_coroutine_answers_it(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    fn = make_function("echo")
    gw = await gateway_with_runtime(gateway_factory, runtimes, fn)
    answers = []
    for _ in range(3):
        status, headers, body = await _call(gw, "/function/echo/sub?x=1", {contract.REQUEST_ID_HEADER: "r-1"})
        headers.pop("Date"), headers.pop(contract.DURATION_HEADER)
        answers.append((status, headers, body))
    assert served_direct(gw) == 2  # the first opened the connection the others rode on
    assert answers[0] == answers[1] == answers[2]
    status, headers, _ = answers[0]
    assert (status, headers["X-Wisp-Version"], headers[contract.REQUEST_ID_HEADER]) == (200, "$LATEST", "r-1")
    assert gw.parts.registry.upstreams[fn.key].stats.invocations == 3
    assert _in_flight(gw, fn.key) == (0, 0)
    async with gw.session.get(gw.admin_url("/metrics")) as resp:
        metrics = await resp.text()
    assert 'wisp_invocations_total{code="200",function="echo",namespace="default"} 3.0' in metrics


async def test_a_caller_that_says_close_is_answered_so_and_its_connection_closed(
    gateway_factory: GatewayFactory, scripted: Callable[..., ScriptedPod]
) -> None:
    pod = scripted(lambda n, head: ok(f"answer {n}"), warm=True)
    gw = await gateway_for(gateway_factory, pod)
    assert gw.server.port is not None
    reader, writer = await asyncio.open_connection(gw.server.host, gw.server.port)
    try:
        writer.write(request_bytes("DELETE", "/function/scripted"))  # says "Connection: close"
        answer = await asyncio.wait_for(read_answer(reader), 15)
        rest = await asyncio.wait_for(reader.read(), 15)  # the gateway closes its side
    finally:
        writer.close()
    assert (answer.status, answer.body, answer.headers["connection"], rest) == (
        200,
        b"answer 1",
        "close",
        b"",
    )
    assert served_direct(gw) == 1


STREAMED = (
    b"HTTP/1.1 200 OK\r\nX-Wisp-Stream: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
)
UNSIZED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
LARGE = b"HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n" + b"x" * 300000


@pytest.mark.parametrize(
    ("answer", "body"),
    [(STREAMED, b"hello world"), (UNSIZED, b"hello world"), (LARGE, b"x" * 300000)],
    ids=["streamed", "unsized", "large"],
)
async def test_an_answer_that_is_not_small_and_sized_is_carried_on_by_the_coroutine(
    gateway_factory: GatewayFactory, scripted: Callable[..., ScriptedPod], answer: bytes, body: bytes
) -> None:
    pod = scripted(lambda n, head: answer if n == 1 else ok("next"), warm=True)
    gw = await gateway_for(gateway_factory, pod)
    assert (await _call(gw))[::2] == (200, body)
    assert (await _call(gw))[::2] == (200, b"next")
    assert served_direct(gw) == 2
    assert (pod.connections, _in_flight(gw)) == (1, (0, 0))


async def test_a_runtime_refusal_on_a_pooled_connection_is_sent_to_another_endpoint(
    gateway_factory: GatewayFactory, scripted: Callable[..., ScriptedPod]
) -> None:
    refusal = b"HTTP/1.1 429 Too Many Requests\r\nX-Wisp-Throttled: runtime\r\nContent-Length: 0\r\n\r\n"
    full = scripted(lambda n, head: refusal, warm=True)
    free = scripted(lambda n, head: ok("served"), warm=True)
    gw = await gateway_for(gateway_factory, full, free)  # ``full`` comes first in rotation
    before = served_direct(gw)
    answers = [(await _call(gw))[::2] for _ in range(3)]
    assert answers == [(200, b"served")] * 3
    assert served_direct(gw) - before == 3
    assert (len(full.heads), len(free.heads)) == (1, 3)
    assert full.heads[0].split(b"\r\n")[0] == free.heads[0].split(b"\r\n")[0]
    assert _in_flight(gw) == (0, 0)


async def test_a_pooled_connection_the_pod_hung_up_is_sent_again_on_a_new_one(
    gateway_factory: GatewayFactory, scripted: Callable[..., ScriptedPod]
) -> None:
    # The pod reads the call and closes the connection without a word: a keep-alive
    # connection it had closed looks the same, and such a call was never run.
    pod = scripted(lambda n, head: None if n == 1 else ok(f"answer {n}"), warm=True)
    gw = await gateway_for(gateway_factory, pod)
    assert (await _call(gw))[::2] == (200, b"answer 2")
    assert (served_direct(gw), pod.connections, _in_flight(gw)) == (1, 2, (0, 0))
    assert pod.heads[0] == pod.heads[1]  # the same request, its request id included


@pytest.mark.parametrize(
    ("answer", "error_type"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part", "BadGateway"),
        (b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", "InvalidFunctionResponse"),
        (b"HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok", "InvalidFunctionResponse"),
    ],
    ids=["cut-off", "interim", "malformed"],
)
async def test_a_broken_answer_is_a_502_and_its_connection_is_never_used_again(
    gateway_factory: GatewayFactory, scripted: Callable[..., ScriptedPod], answer: bytes, error_type: str
) -> None:
    pod = scripted(lambda n, head: answer if n == 1 else ok(f"answer {n}"), warm=True)
    pod.hang_up_after = {1}
    gw = await gateway_for(gateway_factory, pod)
    status, _, body = await _call(gw)
    assert (status, _error_type(body)) == (502, error_type)
    assert _in_flight(gw) == (0, 0)
    assert (await _call(gw))[::2] == (200, b"answer 2")
    assert (served_direct(gw), pod.connections) == (1, 2)


async def test_a_pod_that_never_answers_is_a_504_at_the_functions_timeout(
    gateway_factory: GatewayFactory, scripted: Callable[..., ScriptedPod]
) -> None:
    pod = scripted(lambda n, head: b"" if n == 1 else ok(f"answer {n}"), warm=True)  # silence
    gw = await gateway_for(gateway_factory, pod, spec={"timeout": "1s"}, timeout_margin=0.0)
    began = time.monotonic()
    status, _, body = await _call(gw)
    waited = time.monotonic() - began
    assert (status, _error_type(body)) == (504, "GatewayTimeout")
    assert 0.9 < waited < 5
    assert (await _call(gw))[::2] == (200, b"answer 2")
    assert (served_direct(gw), pod.connections, _in_flight(gw)) == (1, 2, (0, 0))


async def test_a_failure_of_the_gateways_own_is_a_500_and_loses_nothing_else(
    gateway_factory: GatewayFactory, scripted: Callable[..., ScriptedPod], monkeypatch: pytest.MonkeyPatch
) -> None:
    pod = scripted(lambda n, head: ok(f"answer {n}"), warm=True)
    gw = await gateway_for(gateway_factory, pod)

    def broken(*args: object) -> None:
        raise RuntimeError("a bug")

    with monkeypatch.context() as patch:
        patch.setattr(direct, "downstream_headers", broken)
        status, _, body = await _call(gw)
    assert (status, _error_type(body)) == (500, "InternalError")
    assert _in_flight(gw) == (0, 0)
    assert (await _call(gw))[::2] == (200, b"answer 2")
    assert gw.parts.registry.upstreams[KEY].stats.invocations == 3  # the warming call, and these


async def test_a_graceful_shutdown_waits_for_a_direct_call_in_flight(
    gateway_factory: GatewayFactory, scripted: Callable[..., ScriptedPod]
) -> None:
    pod = scripted(lambda n, head: ok("late"), warm=True)
    gw = await gateway_for(gateway_factory, pod)
    pod.pause = 0.5
    call = asyncio.ensure_future(_call(gw))
    while not pod.heads:
        await asyncio.sleep(0.01)
    assert served_direct(gw) == 1
    server = gw.server.runner.server  # type: ignore[union-attr]
    assert isinstance(server, FastServer)
    began = time.monotonic()
    await server.shutdown(10)
    waited = time.monotonic() - began
    assert (await call)[::2] == (200, b"late")
    assert 0.3 < waited < 5  # until the answer, not the shutdown's timeout
