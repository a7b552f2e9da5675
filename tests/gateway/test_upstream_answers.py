"""What the gateway does with a pod's answer when it is not a plain final HTTP answer: interim
1xx statuses, ``Expect`` from the caller, malformed heads, and answers past the size limit.
A scripted pod (a raw socket server) says exactly the bytes each test needs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiohttp
import pytest

from tests.gateway.conftest import GatewayFactory, Runtimes, gateway_with_runtime, make_function
from tests.gateway.scripted import SAFETY_NET, ScriptedPod, gateway_for, ok
from tests.support.rawhttp import exchange, read_answer, request_bytes


@pytest.fixture(params=["fresh", "pooled"])
def pooled(request: pytest.FixtureRequest) -> bool:
    """Whether the scripted answers are to calls on a connection the gateway kept (a direct
    exchange) or on one it opened for them."""
    return bool(request.param == "pooled")


async def test_expect_100_continue_is_answered_by_the_gateway_and_never_shifts_answers(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    fn = make_function("echo")
    gw = await gateway_with_runtime(gateway_factory, runtimes, fn)
    for n in range(3):
        async with gw.session.post(
            gw.url("/function/echo"), json={"n": n}, expect100=True, timeout=SAFETY_NET
        ) as resp:
            assert (resp.status, (await resp.json())["echo"]) == (200, {"n": n})
        async with gw.session.post(gw.url("/function/echo"), json={"m": n}, timeout=SAFETY_NET) as resp:
            assert (resp.status, (await resp.json())["echo"]) == (200, {"m": n})


async def test_expect_is_never_forwarded_and_other_expectations_are_417(
    gateway_factory: GatewayFactory, scripted: Callable[..., ScriptedPod], pooled: bool
) -> None:
    pod = scripted(lambda n, head: ok(f"answer {n}"), pooled)
    gw = await gateway_for(gateway_factory, pod)
    assert gw.server.port is not None
    host, port = gw.server.host, gw.server.port
    answer = await exchange(
        host, port, request_bytes("POST", "/function/scripted", {"Expect": "100-continue"}, b"{}")
    )
    assert (answer.interim, answer.status, answer.body) == ((100,), 200, b"answer 1")
    assert b"expect" not in pod.heads[0].lower()
    answer = await exchange(
        host, port, request_bytes("POST", "/function/scripted", {"Expect": "x-magic"}, b"{}")
    )
    assert (answer.status, answer.json()["errorType"]) == (417, "ExpectationFailed")
    assert len(pod.heads) == 1


@pytest.mark.parametrize(
    "interim", [b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"]
)
async def test_a_1xx_answer_is_a_502_and_its_connection_is_not_reused(
    gateway_factory: GatewayFactory,
    scripted: Callable[..., ScriptedPod],
    pooled: bool,
    interim: bytes,
) -> None:
    # The first answer is a bare 1xx (a handler that returned statusCode 1xx), then the pod
    # would answer properly: the next call must get its own answer on a new connection.
    pod = scripted(lambda n, head: interim if n == 1 else ok(f"answer {n}"), pooled)
    gw = await gateway_for(gateway_factory, pod)
    async with gw.session.post(gw.url("/function/scripted"), data=b"{}", timeout=SAFETY_NET) as resp:
        body = await resp.json()
        assert (resp.status, body["errorType"]) == (502, "InvalidFunctionResponse")
        assert "informational status 1" in body["errorMessage"]
    async with gw.session.post(gw.url("/function/scripted"), data=b"{}", timeout=SAFETY_NET) as resp:
        assert (resp.status, await resp.text()) == (200, "answer 2")
    assert pod.connections == 2


async def test_bytes_after_an_answer_never_reach_the_next_call(
    gateway_factory: GatewayFactory, scripted: Callable[..., ScriptedPod], pooled: bool
) -> None:
    pod = scripted(lambda n, head: ok(f"answer {n}") + (ok("stale") if n == 1 else b""), pooled)
    gw = await gateway_for(gateway_factory, pod)
    for n in (1, 2, 3):
        async with gw.session.post(gw.url("/function/scripted"), data=b"{}", timeout=SAFETY_NET) as resp:
            assert (resp.status, await resp.text()) == (200, f"answer {n}")


async def test_an_answer_after_an_answer_never_reaches_a_pipelined_call(
    gateway_factory: GatewayFactory, scripted: Callable[..., ScriptedPod], pooled: bool
) -> None:
    # The second call is read with the first and starts as soon as the first is answered: the
    # connection it would ride on still holds the stray answer, unparsed.
    pod = scripted(lambda n, head: ok(f"answer {n}") + (ok("stale") if n == 1 else b""), pooled)
    gw = await gateway_for(gateway_factory, pod)
    assert gw.server.port is not None
    reader, writer = await asyncio.open_connection(gw.server.host, gw.server.port)
    try:
        call = b"POST /function/scripted HTTP/1.1\r\nHost: gateway.test\r\nContent-Length: 2\r\n\r\n{}"
        writer.write(call * 2)
        await writer.drain()
        answers = [await asyncio.wait_for(read_answer(reader), 15) for _ in range(2)]
    finally:
        writer.close()
    assert [(a.status, a.body) for a in answers] == [(200, b"answer 1"), (200, b"answer 2")]


async def test_a_stray_head_in_pieces_after_an_answer_never_reaches_the_next_call(
    gateway_factory: GatewayFactory, scripted: Callable[..., ScriptedPod], pooled: bool
) -> None:
    stray = b"HTTP/1.1 200 OK\r\nX-Stray: 1\r\n"  # a head not yet whole
    pod = scripted(lambda n, head: ok(f"answer {n}") + (stray if n == 1 else b""), pooled)
    gw = await gateway_for(gateway_factory, pod)
    for n in (1, 2):
        async with gw.session.post(gw.url("/function/scripted"), data=b"{}", timeout=SAFETY_NET) as resp:
            assert (resp.status, await resp.text()) == (200, f"answer {n}")


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 2\r\n\r\nok",
        b'HTTP/1.1 200 OK\r\nBad"Name: x\r\nContent-Length: 2\r\n\r\nok',
        b"HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\nok",
    ],
)
async def test_a_malformed_answer_is_a_clear_502(
    gateway_factory: GatewayFactory,
    scripted: Callable[..., ScriptedPod],
    pooled: bool,
    reply: bytes,
) -> None:
    pod = scripted(lambda n, head: reply if n == 1 else ok(f"answer {n}"), pooled)
    gw = await gateway_for(gateway_factory, pod)
    async with gw.session.post(gw.url("/function/scripted"), data=b"{}", timeout=SAFETY_NET) as resp:
        body = await resp.json()
    assert (resp.status, body["errorType"]) == (502, "InvalidFunctionResponse")
    assert "not valid HTTP/1.1" in body["errorMessage"]
    async with gw.session.post(gw.url("/function/scripted"), data=b"{}", timeout=SAFETY_NET) as resp:
        assert (resp.status, await resp.text()) == (200, "answer 2")


async def test_answers_past_the_response_limit_are_refused(
    gateway_factory: GatewayFactory, scripted: Callable[..., ScriptedPod], pooled: bool
) -> None:
    def reply(n: int, head: bytes) -> bytes:
        if n == 1:  # sized past the limit: refused from the head, before any byte of the body
            return b"HTTP/1.1 200 OK\r\nContent-Length: 7000000\r\n\r\n"
        if n == 2:  # sized within the limit
            return ok("x" * 1000)
        chunk = b"y" * 800  # chunked: cut once past the limit
        return (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + (b"320\r\n" + chunk + b"\r\n") * 2
            + b"0\r\n\r\n"
        )

    pod = scripted(reply, pooled)
    gw = await gateway_for(gateway_factory, pod, max_response_bytes=1000)
    async with gw.session.post(gw.url("/function/scripted"), data=b"{}", timeout=SAFETY_NET) as resp:
        body = await resp.json()
    assert (resp.status, body["errorType"]) == (502, "ResponseTooLarge")
    assert "1000 bytes (WISP_MAX_RESPONSE_BYTES)" in body["errorMessage"]
    async with gw.session.post(gw.url("/function/scripted"), data=b"{}", timeout=SAFETY_NET) as resp:
        assert (resp.status, len(await resp.read())) == (200, 1000)
    with pytest.raises(aiohttp.ClientPayloadError):
        async with gw.session.post(gw.url("/function/scripted"), data=b"{}", timeout=SAFETY_NET) as resp:
            await resp.read()
    result = await gw.parts.gateway.invoke("scripted.default", b"{}")
    assert (result.status, result.body and b"ResponseTooLarge" in result.body) == (502, True)


@pytest.mark.parametrize("version", ["HTTP/2.0", "HTTP/0.9"])
async def test_request_lines_in_other_http_versions_are_505(
    gateway_factory: GatewayFactory,
    scripted: Callable[..., ScriptedPod],
    pooled: bool,
    version: str,
) -> None:
    pod = scripted(lambda n, head: ok("reached"), pooled)
    gw = await gateway_for(gateway_factory, pod)
    assert gw.server.port is not None
    answer = await exchange(
        gw.server.host, gw.server.port, request_bytes("GET", "/function/scripted", version=version)
    )
    assert (answer.version, answer.status) == ("HTTP/1.1", 505)
    assert answer.json()["errorType"] == "HTTPVersionNotSupported"
    assert pod.heads == []
    assert gw.admin.port is not None
    answer = await exchange(
        gw.admin.host, gw.admin.port, request_bytes("GET", "/system/stats", version=version)
    )
    assert (answer.version, answer.status) == ("HTTP/1.1", 505)


async def test_a_connect_request_is_405_in_json_on_both_ports(
    gateway_factory: GatewayFactory, scripted: Callable[..., ScriptedPod], pooled: bool
) -> None:
    """Found by the fuzz test: aiohttp read ``CONNECT /hooks`` as an authority no route matched
    and answered its plain-text 404."""
    pod = scripted(lambda n, head: ok("reached"), pooled)
    gw = await gateway_for(gateway_factory, pod)
    assert gw.server.port is not None and gw.admin.port is not None
    for host, port, path in (
        (gw.server.host, gw.server.port, "/hooks"),
        (gw.admin.host, gw.admin.port, "/metrics"),
    ):
        answer = await exchange(host, port, request_bytes("CONNECT", path))
        assert answer.status == 405
        assert answer.json()["errorType"] == "MethodNotAllowed"
    assert pod.heads == []


async def test_the_invoker_tells_held_calls_from_the_gateway_not_from_a_functions_body(
    gateway_factory: GatewayFactory, scripted: Callable[..., ScriptedPod], pooled: bool
) -> None:
    from wisp.queue.extension import GatewayInvoker

    text = '{"errorType": "ColdStartTimeout", "errorMessage": "said by the function"}'
    pod = scripted(
        lambda n, head: f"HTTP/1.1 503 Busy\r\nContent-Length: {len(text)}\r\n\r\n{text}".encode(), pooled
    )
    gw = await gateway_for(gateway_factory, pod, max_held_requests=0)
    invoker = GatewayInvoker(gw.parts)
    result = await invoker("scripted.default", b"{}", {})
    assert (result.status, result.cold_start_pending) == (503, False)  # the function's own 503
    gw.backend.set_endpoints("scripted.default", ())  # at zero, and no call may be held
    result = await invoker("scripted.default", b"{}", {})
    assert (result.status, result.cold_start_pending) == (503, True)
