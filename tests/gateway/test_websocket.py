"""WebSockets through the real gateway to a real Python runtime: the handler gets API Gateway's
$connect / $default / $disconnect events, its answers go back on the socket, the Function's
limits close idle sockets, and an open socket keeps its function from being scaled to zero."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.gateway.conftest import GatewayFactory, GatewayUnderTest, Runtimes, info, make_function
from tests.support.wait import eventually
from wisp.api.trigger import parse_trigger
from wisp.gateway.backend import FunctionInfo
from wisp.gateway.static import StaticBackend

HANDLER = textwrap.dedent(
    """
    import json

    records = {}

    def handler(event, context):
        ctx = event["requestContext"]
        kind, connection = ctx["eventType"], ctx["connectionId"]
        if kind == "CONNECT":
            query = event.get("queryStringParameters") or {}
            if query.get("deny"):
                return {"statusCode": 403, "body": json.dumps({"message": "not you"})}
            records[connection] = query["record"]
        with open(records[connection], "a") as out:
            out.write(json.dumps({"route": ctx["routeKey"], "body": event.get("body"),
                                  "base64": event.get("isBase64Encoded")}) + "\\n")
        if kind == "MESSAGE":
            if event["body"] == "quiet":
                return None
            return {"statusCode": 200, "body": "echo: " + event["body"]}
        return {"statusCode": 200}
    """
)


async def _gateway(
    gateway_factory: GatewayFactory, runtimes: Runtimes, *functions: Any, **settings: Any
) -> tuple[GatewayUnderTest, StaticBackend]:
    backend = StaticBackend()
    for fn in functions:
        runtime = await runtimes.start(fn)
        backend.set_function(info(fn))
        backend.set_endpoints(fn.key, (runtime.endpoint,))
        backend.replicas[fn.key] = 1
    gw = await gateway_factory(backend, **settings)
    backend.set_trigger(
        parse_trigger(
            {
                "metadata": {"name": "chat", "namespace": "default"},
                "spec": {"function": "chat", "http": {"path": "/chat", "methods": ["GET"]}},
            }
        )
    )
    await eventually(lambda: "chat.default" in gw.parts.registry.triggers, "the trigger")
    return gw, backend


def _chat(**websocket: str) -> Any:
    return make_function("chat", code={"inline": HANDLER}, websocket=websocket)


def _records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [__import__("json").loads(line) for line in path.read_text().splitlines()]


async def test_an_echo_through_a_trigger(
    gateway_factory: GatewayFactory, runtimes: Runtimes, tmp_path: Path
) -> None:
    gw, _ = await _gateway(gateway_factory, runtimes, _chat())
    record = tmp_path / "events"
    async with gw.session.ws_connect(gw.url("/chat"), params={"record": str(record)}) as ws:
        await ws.send_str("hello")
        assert await ws.receive_str() == "echo: hello"
        await ws.send_str("quiet")  # an answer without a body sends nothing back
        await ws.send_bytes(b"\x00\x01")
        assert (await ws.receive_str()).startswith("echo: ")
    events = await eventually(lambda: len(_records(record)) == 5 and _records(record), "$disconnect")
    assert [e["route"] for e in events] == ["$connect", "$default", "$default", "$default", "$disconnect"]
    assert events[1]["body"] == "hello"
    assert events[3] == {"route": "$default", "body": "AAE=", "base64": True}


async def test_the_function_route_takes_websockets_too(
    gateway_factory: GatewayFactory, runtimes: Runtimes, tmp_path: Path
) -> None:
    gw, _ = await _gateway(gateway_factory, runtimes, _chat())
    url = gw.url("/function/chat")
    async with gw.session.ws_connect(url, params={"record": str(tmp_path / "events")}) as ws:
        await ws.send_str("via the function route")
        assert await ws.receive_str() == "echo: via the function route"


async def test_a_connect_handler_refuses_the_upgrade_with_its_answer(
    gateway_factory: GatewayFactory, runtimes: Runtimes, tmp_path: Path
) -> None:
    gw, _ = await _gateway(gateway_factory, runtimes, _chat())
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await gw.session.ws_connect(gw.url("/chat"), params={"deny": "1", "record": str(tmp_path / "e")})
    assert refused.value.status == 403


async def test_an_idle_socket_is_closed_at_its_idle_timeout(
    gateway_factory: GatewayFactory, runtimes: Runtimes, tmp_path: Path
) -> None:
    gw, _ = await _gateway(gateway_factory, runtimes, _chat(idleTimeout="1s"))
    record = tmp_path / "events"
    async with gw.session.ws_connect(gw.url("/chat"), params={"record": str(record)}) as ws:
        await ws.send_str("one")
        assert await ws.receive_str() == "echo: one"
        closed = await ws.receive()  # nothing more is sent: the gateway closes it
        assert closed.type == aiohttp.WSMsgType.CLOSE
        assert closed.data == 1001
        assert closed.extra == "the connection was idle for spec.websocket.idleTimeout"
    await eventually(lambda: [e["route"] for e in _records(record)][-1:] == ["$disconnect"], "$disconnect")


async def test_a_socket_is_closed_at_its_max_duration_even_while_busy(
    gateway_factory: GatewayFactory, runtimes: Runtimes, tmp_path: Path
) -> None:
    gw, _ = await _gateway(gateway_factory, runtimes, _chat(maxDuration="1s"))
    async with gw.session.ws_connect(gw.url("/chat"), params={"record": str(tmp_path / "e")}) as ws:
        while True:
            await ws.send_str("busy")
            message = await ws.receive()
            if message.type != aiohttp.WSMsgType.TEXT:
                break
    assert message.type == aiohttp.WSMsgType.CLOSE
    assert message.extra == "the connection reached spec.websocket.maxDuration"


async def test_an_open_socket_keeps_its_function_from_scaling_to_zero(
    gateway_factory: GatewayFactory, runtimes: Runtimes, tmp_path: Path
) -> None:
    chat = make_function("chat", code={"inline": HANDLER}, websocket={}, scale={"idleTimeout": "1s"})
    quiet = make_function("quiet", scale={"idleTimeout": "1s"})
    gw, backend = await _gateway(
        gateway_factory,
        runtimes,
        chat,
        quiet,
        autoscale=True,
        autoscale_tick=0.2,
        autoscale_stable_window=2.0,
        autoscale_panic_window=1.0,
    )
    async with gw.session.ws_connect(gw.url("/chat"), params={"record": str(tmp_path / "e")}) as ws:
        await ws.send_str("hello")
        assert await ws.receive_str() == "echo: hello"
        # The control: called after the socket's last message, idle as long, it goes to zero.
        async with gw.session.post(gw.url("/function/quiet"), json={}) as resp:
            assert resp.status == 200
        await eventually(lambda: ("quiet.default", 0) in backend.scale_calls, "the idle function at zero")
        assert ("chat.default", 0) not in backend.scale_calls
    await eventually(lambda: ("chat.default", 0) in backend.scale_calls, "zero once the socket closed")


async def test_a_socket_to_a_version_stays_on_that_version(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    def labelled(name: str, label: str, **spec: Any) -> Any:
        source = (
            "def handler(event, context):\n"
            "    if event['requestContext']['eventType'] == 'MESSAGE':\n"
            f"        return {{'statusCode': 200, 'body': {label!r} + ': ' + event['body']}}\n"
            "    return {'statusCode': 200}\n"
        )
        return make_function(name, code={"inline": source}, websocket={}, **spec)

    backend = StaticBackend()
    latest = labelled("chat", "latest", aliases={"prod": {"version": 1}})
    backend.set_function(FunctionInfo(latest))
    backend.set_endpoints(latest.key, ((await runtimes.start(latest)).endpoint,))
    first = labelled("chat-v1", "version 1")
    backend.set_function(FunctionInfo(first, version="1"))
    backend.set_endpoints(first.key, ((await runtimes.start(first)).endpoint,))
    gw = await gateway_factory(backend)
    for path, label in (("/function/chat", "latest"), ("/function/chat:prod", "version 1")):
        async with gw.session.ws_connect(gw.url(path)) as ws:
            for word in ("a", "b"):
                await ws.send_str(word)
                assert await ws.receive_str() == f"{label}: {word}"
