"""The fast data path (``wisp.gateway.fastpath``): what it does differently from aiohttp's
server is framing requests itself, so these tests speak raw HTTP/1.1 to the gateway: pipelined
and split requests, keep-alive and ``Connection: close``, requests it hands to aiohttp on the
same connection (chunked uploads, other routes, malformed heads), callers that leave, pods that
reset the connection, bodies that never come."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.gateway.conftest import GatewayFactory, GatewayUnderTest, Runtimes, info, make_function
from tests.support.rawhttp import RawAnswer, read_answer
from tests.support.wait import eventually
from wisp.api.trigger import parse_trigger
from wisp.gateway.app import make_app
from wisp.gateway.backend import Endpoint
from wisp.gateway.config import GatewayConfig
from wisp.gateway.fastpath import FastServer
from wisp.gateway.server import GatewayRunner
from wisp.gateway.static import StaticBackend
from wisp.security.credentials import sign
from wisp.security.extension import security_extension
from wisp.security.secrets import StaticSecretSource
from wisp.security.settings import SecuritySettings

KEY = "echo.default"


async def _gateway(
    gateway_factory: GatewayFactory, runtimes: Runtimes, **settings: object
) -> GatewayUnderTest:
    fn = make_function("echo")
    runtime = await runtimes.start(fn)
    backend = StaticBackend()
    backend.set_function(info(fn))
    backend.set_endpoints(fn.key, (runtime.endpoint,))
    return await gateway_factory(backend, **settings)


def _post(body: dict[str, object], *, path: str = "/function/echo", extra: str = "") -> bytes:
    data = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n{extra}"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


async def _open(gw: GatewayUnderTest) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    assert gw.server.port is not None
    return await asyncio.open_connection(gw.server.host, gw.server.port)


def _fast_connections(gw: GatewayUnderTest) -> int:
    server = gw.server.runner.server if gw.server.runner is not None else None
    assert isinstance(server, FastServer)
    return len(server.fast_connections)


@pytest.fixture
async def gw(gateway_factory: GatewayFactory, runtimes: Runtimes) -> GatewayUnderTest:
    return await _gateway(gateway_factory, runtimes)


@pytest.fixture
async def connection(
    gw: GatewayUnderTest,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    reader, writer = await _open(gw)
    yield reader, writer
    writer.close()


def _echo(answer: RawAnswer) -> object:
    assert answer.status == 200, answer.body
    return answer.json()["echo"]


async def test_pipelined_calls_are_answered_in_order(
    gw: GatewayUnderTest, connection: tuple[asyncio.StreamReader, asyncio.StreamWriter]
) -> None:
    reader, writer = connection
    writer.write(b"".join(_post({"n": n}) for n in range(5)))
    await writer.drain()
    answers = [await read_answer(reader) for _ in range(5)]
    assert [_echo(a) for a in answers] == [{"n": n} for n in range(5)]
    assert all(a.headers["x-wisp-version"] == "$LATEST" for a in answers)
    assert _fast_connections(gw) == 1  # served on the fast path, not handed over


async def test_a_request_split_across_packets_is_served(
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter],
) -> None:
    reader, writer = connection
    request = _post({"split": True})
    head_end = request.index(b"\r\n\r\n") + 4
    for part in (request[:head_end], request[head_end : head_end + 3], request[head_end + 3 :]):
        writer.write(part)
        await writer.drain()
        await asyncio.sleep(0.05)
    assert _echo(await read_answer(reader)) == {"split": True}


@pytest.mark.parametrize(
    "request_bytes",
    [
        _post({"n": 1}, extra="Connection: close\r\n"),
        b"GET /function/echo HTTP/1.1\r\nHost: gw\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        b"GET /function/echo HTTP/1.1\r\nHost: gw\r\nConnection: keep-alive, Close\r\n\r\n",
    ],
    ids=["with-a-body", "empty-body", "token-list"],
)
async def test_connection_close_is_honoured(
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter], request_bytes: bytes
) -> None:
    reader, writer = connection
    writer.write(request_bytes)
    await writer.drain()
    answer = await read_answer(reader)
    assert answer.status == 200
    assert answer.headers["connection"] == "close"
    assert await reader.read() == b""  # the gateway closed the connection


async def test_a_chunked_upload_is_handed_to_aiohttp_on_the_same_connection(
    gw: GatewayUnderTest, connection: tuple[asyncio.StreamReader, asyncio.StreamWriter]
) -> None:
    reader, writer = connection
    writer.write(_post({"first": 1}))
    await writer.drain()
    assert _echo(await read_answer(reader)) == {"first": 1}
    data = json.dumps({"chunked": True}).encode()
    writer.write(
        b"POST /function/echo HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%b\r\n0\r\n\r\n" % (len(data), data)
    )
    writer.write(_post({"after": 1}))  # pipelined behind it: aiohttp serves it too
    await writer.drain()
    assert _echo(await read_answer(reader)) == {"chunked": True}
    assert _echo(await read_answer(reader)) == {"after": 1}
    assert _fast_connections(gw) == 0


async def test_other_routes_and_calls_share_a_connection(
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter],
) -> None:
    reader, writer = connection
    writer.write(_post({"n": 1}) + b"GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n" + _post({"n": 2}))
    await writer.drain()
    assert _echo(await read_answer(reader)) == {"n": 1}
    health = await read_answer(reader)
    assert health.status == 200 and health.json() == {"status": "ok"}
    assert _echo(await read_answer(reader)) == {"n": 2}


@pytest.fixture
async def served(runtimes: Runtimes) -> AsyncIterator[int]:
    """The gateway served as ``wisp gateway`` serves it (``GatewayRunner``): its port."""
    fn = make_function("echo")
    runtime = await runtimes.start(fn)
    backend = StaticBackend()
    backend.set_function(info(fn))
    backend.set_endpoints(fn.key, (runtime.endpoint,))
    app = make_app(GatewayConfig(host="127.0.0.1", pod_name="test"), backend, autoscale=False)
    runner = GatewayRunner(app, head_timeout=5.0, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield int(runner.addresses[0][1])
    await runner.cleanup()


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"POST /function/echo HTTP/1.1\r\nHost: gw\r\nBad Header: x\r\nContent-Length: 2\r\n\r\n{}",
        b"POST /function/echo HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
        b"POST /function/echo HTTP/1.1\r\nHost: gw\r\nContent-Length: x\r\n\r\n{}",
    ],
    ids=["space-in-header-name", "two-lengths", "non-numeric-length"],
)
async def test_a_malformed_request_is_a_json_400(served: int, request_bytes: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", served)
    writer.write(_post({"n": 1}) + request_bytes)  # after a call served on the fast path
    await writer.drain()
    assert _echo(await read_answer(reader)) == {"n": 1}
    answer = await read_answer(reader)
    writer.close()
    assert answer.status == 400
    assert answer.json()["errorType"] == "BadRequest"


async def test_an_unknown_function_is_a_json_404(
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter],
) -> None:
    reader, writer = connection
    writer.write(_post({}, path="/function/missing"))
    await writer.drain()
    answer = await read_answer(reader)
    assert answer.status == 404
    assert answer.json() == {
        "errorType": "FunctionNotFound",
        "errorMessage": "function missing.default not found",
    }


async def test_a_caller_that_leaves_mid_call_gives_its_slot_back(gw: GatewayUnderTest) -> None:
    _, writer = await _open(gw)
    writer.write(_post({"sleep": 0.5}))
    await writer.drain()
    await eventually(lambda: gw.parts.registry.upstreams[KEY].pool.in_flight == 1, "the call in flight")
    writer.close()
    await eventually(lambda: gw.parts.registry.upstreams[KEY].pool.in_flight == 0, "the slot given back")
    async with gw.session.post(gw.url("/function/echo"), json={"n": 1}) as resp:
        assert resp.status == 200


async def test_a_body_that_never_comes_is_a_json_408(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    gw = await _gateway(gateway_factory, runtimes, body_read_timeout=0.3)
    reader, writer = await _open(gw)
    writer.write(b"POST /function/echo HTTP/1.1\r\nHost: gw\r\nContent-Length: 10\r\n\r\n{")
    await writer.drain()
    answer = await read_answer(reader)
    writer.close()
    assert answer.status == 408
    assert answer.json()["errorType"] == "RequestTimeout"
    assert gw.parts.registry.upstreams[KEY].pool.in_flight == 0


async def test_an_idle_connection_is_closed_after_the_keepalive_and_a_busy_one_is_kept(
    runtimes: Runtimes,
) -> None:
    keepalive = 0.5
    fn = make_function("echo")
    runtime = await runtimes.start(fn)
    backend = StaticBackend()
    backend.set_function(info(fn))
    backend.set_endpoints(fn.key, (runtime.endpoint,))
    app = make_app(GatewayConfig(host="127.0.0.1", pod_name="test"), backend, fast_path=True)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(keepalive_timeout=keepalive)
    try:
        reader, writer = await asyncio.open_connection(server.host, server.port)
        # Calls closer together than the keep-alive, for three times its length: one connection.
        began = time.monotonic()
        n = 0
        while time.monotonic() - began < 3 * keepalive:
            writer.write(_post({"n": n}))
            await writer.drain()
            assert _echo(await read_answer(reader)) == {"n": n}
            answered = time.monotonic()
            n += 1
            await asyncio.sleep(keepalive / 3)
        # Then idle: the gateway closes it a keep-alive after its last answer.
        assert await asyncio.wait_for(reader.read(), 10 * keepalive) == b""
        assert time.monotonic() - answered >= keepalive * 0.9
        writer.close()
    finally:
        await server.close()


async def _resetting_pod() -> tuple[asyncio.Server, int]:
    """A pod that reads a request and resets the connection without answering."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        transport = writer.transport
        assert isinstance(transport, asyncio.WriteTransport)
        transport.abort()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_a_pod_that_resets_the_connection_is_a_json_502(gateway_factory: GatewayFactory) -> None:
    server, port = await _resetting_pod()
    fn = make_function("echo")
    backend = StaticBackend()
    backend.set_function(info(fn))
    backend.set_endpoints(fn.key, (Endpoint("127.0.0.1", port),))
    gw = await gateway_factory(backend)
    try:
        reader, writer = await _open(gw)
        writer.write(_post({"n": 1}))
        await writer.drain()
        answer = await read_answer(reader)
        writer.close()
    finally:
        server.close()
    assert answer.status == 502
    assert answer.json()["errorType"] == "BadGateway"
    assert gw.parts.registry.upstreams[KEY].pool.in_flight == 0


async def test_an_http_trigger_is_served_on_the_fast_path(gw: GatewayUnderTest) -> None:
    gw.backend.set_trigger(
        parse_trigger(
            {
                "metadata": {"name": "orders", "namespace": "default"},
                "spec": {"function": "echo", "http": {"path": "/orders", "methods": ["POST"]}},
            }
        )
    )
    await eventually(lambda: "orders.default" in gw.parts.registry.triggers, "the trigger routed")
    reader, writer = await _open(gw)
    writer.write(_post({"n": 1}, path="/orders/42?x=1") + _post({"n": 2}, path="/orders"))
    await writer.drain()
    first, second = await read_answer(reader), await read_answer(reader)
    assert first.status == 200, first.body
    assert first.json() == {
        "path": "/orders/42",
        "method": "POST",
        "query": {"x": "1"},
        "headers": first.json()["headers"],
    }
    assert second.json()["path"] == "/orders"
    assert _fast_connections(gw) == 1  # both served on the fast path
    writer.write(b"GET /orders HTTP/1.1\r\nHost: gw\r\n\r\n")  # the method no Trigger takes
    await writer.drain()
    refused = await read_answer(reader)
    writer.close()
    assert refused.status == 405
    assert refused.headers["allow"] == "POST"


HOOK_KEY = b"hook-key"


async def _secured(gateway_factory: GatewayFactory, runtimes: Runtimes) -> GatewayUnderTest:
    """A gateway with the security layer, a private ``echo`` (token Secret ``callers``) and a
    public ``open`` on one runtime."""
    private = make_function("echo", access={"tokenSecrets": [{"name": "callers", "key": "token"}]})
    runtime = await runtimes.start(private)
    backend = StaticBackend()
    hook = make_function("hook", access={"hmacSecret": {"name": "hook", "key": "key"}})
    unloaded = make_function("unloaded", access={"tokenSecrets": [{"name": "elsewhere", "key": "token"}]})
    for fn in (private, make_function("open", access={"public": True}), hook, unloaded):
        backend.set_function(info(fn))
        backend.set_endpoints(fn.key, (runtime.endpoint,))
    secrets = StaticSecretSource()
    secrets.put("default", "callers", {"token": "s3cret\n"})
    secrets.put("default", "hook", {"key": HOOK_KEY})
    return await gateway_factory(backend, extensions=[security_extension(SecuritySettings(), secrets)])


async def test_a_private_function_is_served_on_the_fast_path(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    gw = await _secured(gateway_factory, runtimes)
    reader, writer = await _open(gw)
    writer.write(
        _post({"n": 0})
        + _post({"n": 1}, extra="Authorization: Bearer wrong\r\n")
        + _post({"n": 2}, extra="Authorization: Bearer s3cret\r\n")
        + _post({"n": 3}, path="/function/open")
    )
    await writer.drain()
    refused, forbidden, served, public = [await read_answer(reader) for _ in range(4)]
    assert refused.status == 401 and refused.json()["errorType"] == "Unauthorized"
    assert refused.headers["www-authenticate"] == 'Bearer realm="wisp"'
    assert forbidden.status == 403 and forbidden.json()["errorType"] == "Forbidden"
    assert _echo(served) == {"n": 2}
    assert _echo(public) == {"n": 3}
    writer.write(_post({"n": 4}, extra="Authorization: Basic Zm9vOmJhcg==\r\n"))  # another scheme
    await writer.drain()
    other = await read_answer(reader)
    assert other.status == 403
    assert _fast_connections(gw) == 1  # every call above was the fast path's
    # A function whose token Secret is not loaded: aiohttp's path (which waits for it) decides.
    writer.write(_post({"n": 5}, path="/function/unloaded", extra="Authorization: Bearer s3cret\r\n"))
    await writer.drain()
    unloaded = await read_answer(reader)
    writer.close()
    assert unloaded.status == 403
    assert _fast_connections(gw) == 0


def _invoke(payload: bytes, name: str = "echo", extra: str = "") -> bytes:
    head = (
        f"POST /2015-03-31/functions/{name}/invocations HTTP/1.1\r\nHost: gw\r\n{extra}"
        f"Content-Length: {len(payload)}\r\n\r\n"
    )
    return head.encode() + payload


async def test_lambdas_invoke_api_is_served_on_the_fast_path(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    gw = await _secured(gateway_factory, runtimes)
    token = "Authorization: Bearer s3cret\r\n"
    reader, writer = await _open(gw)
    writer.write(
        _invoke(b'{"n": 1}', extra=token)
        + _invoke(b"", extra=token + "X-Amz-Invocation-Type: DryRun\r\n")
        + _invoke(b"{}")
        + _invoke(b"{}", name="echo:7", extra=token)
        + _invoke(
            b'{"n": 2}', name="arn%3Aaws%3Alambda%3Aus-east-1%3Adefault%3Afunction%3Aopen"
        )  # as SDKs send
    )
    await writer.drain()
    value, dry, refused, missing, public = [await read_answer(reader) for _ in range(5)]
    assert value.status == 200 and value.json()["echo"] == {"n": 1}
    assert value.headers["x-amz-executed-version"] == "$LATEST"
    assert dry.status == 204 and "content-length" not in dry.headers
    assert refused.status == 401 and refused.headers["x-amzn-errortype"] == "UnrecognizedClientException"
    assert missing.status == 404 and missing.headers["x-amzn-errortype"] == "ResourceNotFoundException"
    assert public.status == 200 and public.json()["echo"] == {"n": 2}
    assert _fast_connections(gw) == 1
    writer.close()


async def test_a_signed_webhook_is_checked_on_its_body_on_the_fast_path(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    gw = await _secured(gateway_factory, runtimes)
    body = json.dumps({"n": 1}).encode()
    good = sign(HOOK_KEY, body, int(time.time()))
    bad = sign(b"another-key", body, int(time.time()))
    reader, writer = await _open(gw)
    for signature in (good, bad, good):
        writer.write(_post({"n": 1}, path="/function/hook", extra=f"X-Wisp-Signature: {signature}\r\n"))
    await writer.drain()
    first, forged, again = [await read_answer(reader) for _ in range(3)]
    writer.close()
    assert _echo(first) == {"n": 1} and _echo(again) == {"n": 1}
    assert forged.status == 403 and forged.json()["errorType"] == "Forbidden"
    assert _fast_connections(gw) == 1
    assert gw.parts.fast_guard is not None
