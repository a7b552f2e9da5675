"""A scripted pod (a raw socket server) that says exactly the bytes a test needs, and a gateway
in front of it; with ``pooled``, every scripted answer is to a call the gateway sends on a
connection it kept from an earlier one (a direct exchange, ``wisp.gateway.direct``), rather than
on one it opens for that call."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.gateway.conftest import GatewayFactory, GatewayUnderTest, info, make_function
from wisp.gateway.backend import Endpoint
from wisp.gateway.fastpath import FastServer
from wisp.gateway.static import StaticBackend

SAFETY_NET = aiohttp.ClientTimeout(total=15)  # a hung call fails the test; never asserted on
WARM = "warm"  # the body of the answer to the call that opens a pooled connection

# The n-th scripted request and its head -> the bytes to answer (None: hang up without a word).
Reply = Callable[[int, bytes], bytes | None]


def ok(text: str) -> bytes:
    return (
        f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {len(text)}\r\n\r\n{text}".encode()
    )


@dataclass
class ScriptedPod:
    """Answers the n-th request with ``reply(n, head)``, ``pause`` seconds after reading it,
    and hangs up after the answers numbered in ``hang_up_after``; records every request head.
    With ``warm``, the first request of the pod's first connection is answered ``ok(WARM)`` and
    is not counted."""

    reply: Reply
    warm: bool = False
    pause: float = 0.0
    hang_up_after: set[int] = field(default_factory=set)
    heads: list[bytes] = field(default_factory=list)
    connections: int = 0
    server: asyncio.Server | None = None

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        warming = self.warm and self.connections == 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        await reader.readexactly(int(line.split(b":", 1)[1]))
                if warming:
                    warming = False
                    writer.write(ok(WARM))
                    await writer.drain()
                    continue
                self.heads.append(head)
                n = len(self.heads)
                if self.pause:
                    await asyncio.sleep(self.pause)
                answer = self.reply(n, head)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if n in self.hang_up_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])


async def gateway_for(
    gateway_factory: GatewayFactory,
    *pods: ScriptedPod,
    name: str = "scripted",
    spec: dict[str, Any] | None = None,
    **settings: object,
) -> GatewayUnderTest:
    """A gateway whose function ``name`` (with ``spec``) has the pods as its endpoints; a warm
    pod gets its warming call (and the gateway a pooled connection to it) before this returns."""
    fn = make_function(name, **(spec or {}))
    backend = StaticBackend()
    backend.set_function(info(fn))
    endpoints = []
    for n, pod in enumerate(pods):
        pod.server = await asyncio.start_server(pod.serve, "127.0.0.1", 0)
        endpoints.append(Endpoint("127.0.0.1", pod.port, f"{name}-{n}"))
    backend.set_endpoints(fn.key, tuple(endpoints))
    gw = await gateway_factory(backend, **settings)
    for pod in pods:
        if pod.warm:
            # One endpoint at a time takes the warming call: the others are held busy.
            pool = gw.parts.registry.upstreams[fn.key].pool
            others = [s for s in pool.slots.values() if s.endpoint.port != pod.port]
            for slot in others:
                slot.in_flight += 10**6
            try:
                async with gw.session.post(
                    gw.url(f"/function/{name}"), data=b"{}", timeout=SAFETY_NET
                ) as resp:
                    assert (resp.status, await resp.text()) == (200, WARM)
            finally:
                for slot in others:
                    slot.in_flight -= 10**6
    return gw


def served_direct(gw: GatewayUnderTest) -> int:
    """Calls the gateway sent from its connections' callbacks (``wisp.gateway.direct``)."""
    server = gw.server.runner.server  # type: ignore[union-attr]
    assert isinstance(server, FastServer)
    return server.served_direct
