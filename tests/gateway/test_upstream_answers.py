"""What the gateway does with a pod's answer when it is not a plain final HTTP answer: interim
1xx statuses, ``Expect`` from the caller, malformed heads, and answers past the size limit.
A scripted pod (a raw socket server) says exactly the bytes each test needs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aiohttp
import pytest

from tests.gateway.conftest import GatewayFactory, GatewayUnderTest, Runtimes, info, make_function
from tests.support.rawhttp import exchange, request_bytes
from wisp.gateway.backend import Endpoint
from wisp.gateway.static import StaticBackend

SAFETY_NET = aiohttp.ClientTimeout(total=15)  # a hung call fails the test; never asserted on


@dataclass
class ScriptedPod:
    """Answers the n-th request with ``reply(n, head)``; records every request head."""

    reply: Callable[[int, bytes], bytes]
    heads: list[bytes] = field(default_factory=list)
    connections: int = 0
    server: asyncio.Server | None = None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.heads.append(head)
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        await reader.readexactly(int(line.split(b":", 1)[1]))
                writer.write(self.reply(len(self.heads), head))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[[Callable[[int, bytes], bytes]], ScriptedPod]]:
    pods: list[ScriptedPod] = []

    def make(reply: Callable[[int, bytes], bytes]) -> ScriptedPod:
        pod = ScriptedPod(reply)
        pods.append(pod)
        return pod

    yield make
    for pod in pods:
        if pod.server is not None:
            pod.server.close()
            await pod.server.wait_closed()


async def _gateway_for(
    gateway_factory: GatewayFactory, pod: ScriptedPod, **settings: object
) -> GatewayUnderTest:
    pod.server = await asyncio.start_server(pod.serve, "127.0.0.1", 0)
    fn = make_function("scripted")
    backend = StaticBackend()
    backend.set_function(info(fn))
    backend.set_endpoints(fn.key, (Endpoint("127.0.0.1", pod.port, "scripted-0"),))
    return await gateway_factory(backend, **settings)


def ok(text: str) -> bytes:
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {len(text)}\r\n\r\n{text}".encode()
    )


async def test_expect_100_continue_is_answered_by_the_gateway_and_never_shifts_answers(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    fn = make_function("echo")
    runtime = await runtimes.start(fn)
    backend = StaticBackend()
    backend.set_function(info(fn))
    backend.set_endpoints(fn.key, (runtime.endpoint,))
    gw = await gateway_factory(backend)
    for n in range(3):
        async with gw.session.post(
            gw.url("/function/echo"), json={"n": n}, expect100=True, timeout=SAFETY_NET
        ) as resp:
            assert (resp.status, (await resp.json())["echo"]) == (200, {"n": n})
        async with gw.session.post(gw.url("/function/echo"), json={"m": n}, timeout=SAFETY_NET) as resp:
            assert (resp.status, (await resp.json())["echo"]) == (200, {"m": n})


async def test_expect_is_never_forwarded_and_other_expectations_are_417(
    gateway_factory: GatewayFactory, scripted: Callable[[Callable[[int, bytes], bytes]], ScriptedPod]
) -> None:
    pod = scripted(lambda n, head: ok(f"answer {n}"))
    gw = await _gateway_for(gateway_factory, pod)
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
    scripted: Callable[[Callable[[int, bytes], bytes]], ScriptedPod],
    interim: bytes,
) -> None:
    # The first answer is a bare 1xx (a handler that returned statusCode 1xx), then the pod
    # would answer properly: the next call must get its own answer on a new connection.
    pod = scripted(lambda n, head: interim if n == 1 else ok(f"answer {n}"))
    gw = await _gateway_for(gateway_factory, pod)
    async with gw.session.post(gw.url("/function/scripted"), data=b"{}", timeout=SAFETY_NET) as resp:
        body = await resp.json()
        assert (resp.status, body["errorType"]) == (502, "InvalidFunctionResponse")
        assert "informational status 1" in body["errorMessage"]
    async with gw.session.post(gw.url("/function/scripted"), data=b"{}", timeout=SAFETY_NET) as resp:
        assert (resp.status, await resp.text()) == (200, "answer 2")
    assert pod.connections == 2


async def test_bytes_after_an_answer_never_reach_the_next_call(
    gateway_factory: GatewayFactory, scripted: Callable[[Callable[[int, bytes], bytes]], ScriptedPod]
) -> None:
    pod = scripted(lambda n, head: ok(f"answer {n}") + (ok("stale") if n == 1 else b""))
    gw = await _gateway_for(gateway_factory, pod)
    for n in (1, 2, 3):
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
    scripted: Callable[[Callable[[int, bytes], bytes]], ScriptedPod],
    reply: bytes,
) -> None:
    pod = scripted(lambda n, head: reply if n == 1 else ok(f"answer {n}"))
    gw = await _gateway_for(gateway_factory, pod)
    async with gw.session.post(gw.url("/function/scripted"), data=b"{}", timeout=SAFETY_NET) as resp:
        body = await resp.json()
    assert (resp.status, body["errorType"]) == (502, "InvalidFunctionResponse")
    assert "not valid HTTP/1.1" in body["errorMessage"]
    async with gw.session.post(gw.url("/function/scripted"), data=b"{}", timeout=SAFETY_NET) as resp:
        assert (resp.status, await resp.text()) == (200, "answer 2")


async def test_answers_past_the_response_limit_are_refused(
    gateway_factory: GatewayFactory, scripted: Callable[[Callable[[int, bytes], bytes]], ScriptedPod]
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

    pod = scripted(reply)
    gw = await _gateway_for(gateway_factory, pod, max_response_bytes=1000)
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
    scripted: Callable[[Callable[[int, bytes], bytes]], ScriptedPod],
    version: str,
) -> None:
    pod = scripted(lambda n, head: ok("reached"))
    gw = await _gateway_for(gateway_factory, pod)
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


async def test_the_invoker_tells_held_calls_from_the_gateway_not_from_a_functions_body(
    gateway_factory: GatewayFactory, scripted: Callable[[Callable[[int, bytes], bytes]], ScriptedPod]
) -> None:
    from wisp.queue.extension import GatewayInvoker

    text = '{"errorType": "ColdStartTimeout", "errorMessage": "said by the function"}'
    pod = scripted(lambda n, head: f"HTTP/1.1 503 Busy\r\nContent-Length: {len(text)}\r\n\r\n{text}".encode())
    gw = await _gateway_for(gateway_factory, pod, max_held_requests=0)
    invoker = GatewayInvoker(gw.parts)
    result = await invoker("scripted.default", b"{}", {})
    assert (result.status, result.cold_start_pending) == (503, False)  # the function's own 503
    gw.backend.set_endpoints("scripted.default", ())  # at zero, and no call may be held
    result = await invoker("scripted.default", b"{}", {})
    assert (result.status, result.cold_start_pending) == (503, True)
