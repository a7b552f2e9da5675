"""Fixtures for the gateway's functional tests: real runtime processes, a StaticBackend, and
the gateway app served on a real loopback port (aiohttp's TestServer)."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from wisp.api import contract
from wisp.api.function import Function, parse_function
from wisp.gateway.admin import make_admin_app
from wisp.gateway.app import Extension, make_app
from wisp.gateway.backend import Endpoint, FunctionInfo
from wisp.gateway.config import GatewayConfig
from wisp.gateway.state import COMPONENTS, Components
from wisp.gateway.static import StaticBackend
from wisp.launcher import LaunchSpec, RuntimeProcess, start_runtime

if TYPE_CHECKING:
    from tests.gateway.scripted import ScriptedPod

HANDLER = textwrap.dedent(
    """
    import time

    def handler(event, context):
        if isinstance(event, dict) and event.get("sleep"):
            time.sleep(event["sleep"])
        if isinstance(event, dict) and "httpMethod" in event:
            return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
                    "body": __import__("json").dumps({"path": event["path"], "method": event["httpMethod"],
                        "query": event["queryStringParameters"], "headers": event["headers"]})}
        return {"echo": event, "pid": __import__("os").getpid()}
    """
)


def make_function(name: str = "echo", namespace: str = "default", **spec: Any) -> Function:
    body: dict[str, Any] = {
        "runtime": "python3.12",
        "handler": "main.handler",
        "code": {"inline": HANDLER},
        **spec,
    }
    return parse_function({"metadata": {"name": name, "namespace": namespace}, "spec": body})


@dataclass
class Started:
    process: RuntimeProcess
    endpoint: Endpoint


@dataclass
class Runtimes:
    """Starts real runtime servers for Functions on loopback, through ``wisp.launcher``."""

    code_root: Path
    started: list[Started] = field(default_factory=list)

    async def start(self, fn: Function, host: str = "127.0.0.1") -> Started:
        code_dir = self.code_root / f"{fn.name}-{len(self.started)}"
        code_dir.mkdir(parents=True)
        for name, text in fn.spec.code_files().items():
            (code_dir / name).write_text(text)
        env = contract.runtime_environment(fn, code_dir=str(code_dir), host=host, port=0)
        process = await start_runtime(LaunchSpec(fn.spec.runtime, code_dir, env, host=host, port=0))
        ready = await process.wait_ready()
        started = Started(process, Endpoint(host, ready.port, f"{fn.name}-{len(self.started)}"))
        self.started.append(started)
        return started

    async def stop_all(self) -> None:
        await asyncio.gather(*(s.process.stop() for s in self.started))


@pytest.fixture
async def runtimes(tmp_path: Path) -> AsyncIterator[Runtimes]:
    pool = Runtimes(tmp_path / "code")
    yield pool
    await pool.stop_all()


@dataclass
class GatewayUnderTest:
    server: TestServer
    admin: TestServer
    backend: StaticBackend
    parts: Components
    session: aiohttp.ClientSession

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    def admin_url(self, path: str) -> str:
        return str(self.admin.make_url(path))


GatewayFactory = Callable[..., Awaitable[GatewayUnderTest]]


@pytest.fixture
def fast_path() -> bool:
    """Whether the gateways under test serve on the fast data path (``make_app``'s
    ``fast_path``); a module that runs its tests on both paths overrides it with params."""
    return True


@pytest.fixture
async def gateway_factory(runtimes: Runtimes, fast_path: bool) -> AsyncIterator[GatewayFactory]:
    # Depends on ``runtimes`` so that gateways (and their keep-alive connections) close first.
    made: list[GatewayUnderTest] = []

    async def make(
        backend: StaticBackend | None = None,
        autoscale: bool = False,
        extensions: Sequence[Extension] = (),
        **settings: Any,
    ) -> GatewayUnderTest:
        backend = backend or StaticBackend()
        config = replace(GatewayConfig(host="127.0.0.1", pod_name="test"), **settings)
        app = make_app(config, backend, autoscale=autoscale, extensions=extensions, fast_path=fast_path)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        admin = TestServer(make_admin_app(app[COMPONENTS]), host="127.0.0.1")
        await admin.start_server()
        session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        gw = GatewayUnderTest(server, admin, backend, app[COMPONENTS], session)
        made.append(gw)
        return gw

    yield make
    for gw in made:
        await gw.session.close()
        await gw.admin.close()
        await gw.server.close()


async def serve_app(app: web.Application) -> TestServer:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


def info(fn: Function, ready: bool = True, reason: str = "") -> FunctionInfo:
    return FunctionInfo(fn, ready, reason)


async def gateway_with_runtime(
    gateway_factory: GatewayFactory, runtimes: Runtimes, fn: Function, **settings: Any
) -> GatewayUnderTest:
    """A gateway whose one function ``fn`` has one real runtime process as its endpoint."""
    runtime = await runtimes.start(fn)
    backend = StaticBackend()
    backend.set_function(info(fn))
    backend.set_endpoints(fn.key, (runtime.endpoint,))
    return await gateway_factory(backend, **settings)


@pytest.fixture
async def scripted() -> AsyncIterator[Callable[..., ScriptedPod]]:
    """Scripted pods (``tests.gateway.scripted``), stopped after the test."""
    from tests.gateway.scripted import Reply, ScriptedPod

    pods: list[ScriptedPod] = []

    def make(reply: Reply, warm: bool = False) -> ScriptedPod:
        pod = ScriptedPod(reply, warm)
        pods.append(pod)
        return pod

    yield make
    for pod in pods:
        if pod.server is not None:
            pod.server.close()
            await pod.server.wait_closed()
