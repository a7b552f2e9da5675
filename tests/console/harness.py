"""A dev-mode console for tests: the gateway app with a ``StaticBackend`` whose scale hook runs
real runtime processes through ``wisp.launcher`` (as ``wisp dev``'s local backend does), and the
console mounted through ``make_app``'s extensions with a ``DevSource`` on a temporary folder.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

from wisp.api import contract
from wisp.api.function import Function
from wisp.console import DevHooks, DevSource, LogBook, console_extension
from wisp.gateway.app import make_app
from wisp.gateway.backend import Endpoint, FunctionInfo
from wisp.gateway.config import GatewayConfig
from wisp.gateway.state import COMPONENTS, Components
from wisp.gateway.static import StaticBackend
from wisp.launcher import LaunchSpec, RuntimeProcess, start_runtime
from wisp.queue.extension import Extension

PRICE = 0.0000166667


@dataclass
class LocalFunctions:
    """Replicas of functions as local runtime processes, driven by the gateway's scale calls."""

    workdir: Path
    logbook: LogBook
    backend: StaticBackend = field(init=False)
    functions: dict[str, Function] = field(default_factory=dict)
    processes: dict[str, list[tuple[RuntimeProcess, Endpoint]]] = field(default_factory=dict)
    started: int = 0

    def __post_init__(self) -> None:
        self.backend = StaticBackend(on_scale=self.scale)

    async def applied(self, fn: Function) -> None:
        await self._resize(fn.key, 0)  # new code: the next call starts a fresh replica
        self.functions[fn.key] = fn
        self.backend.set_function(FunctionInfo(fn))

    async def deleted(self, key: str) -> None:
        await self._resize(key, 0)
        self.functions.pop(key, None)
        self.backend.delete_function(key)

    async def scale(self, key: str, replicas: int) -> None:
        await self._resize(key, replicas)

    async def _resize(self, key: str, replicas: int) -> None:
        running = self.processes.setdefault(key, [])
        fn = self.functions.get(key)
        while fn is not None and len(running) < replicas:
            running.append(await self._start(fn))
        while len(running) > replicas:
            process, _ = running.pop()
            await process.stop(grace=2)
        if fn is not None:
            self.backend.set_endpoints(key, tuple(endpoint for _, endpoint in running))

    async def _start(self, fn: Function) -> tuple[RuntimeProcess, Endpoint]:
        self.started += 1
        pod = f"{fn.name}-{self.started}"
        code_dir = self.workdir / pod
        code_dir.mkdir(parents=True)
        for name, text in fn.spec.code_files().items():
            (code_dir / name).write_text(text)
        env = contract.runtime_environment(fn, code_dir=str(code_dir), host="127.0.0.1", port=0)
        process = await start_runtime(
            LaunchSpec(
                runtime=fn.spec.runtime,
                code_dir=code_dir,
                env=env,
                host="127.0.0.1",
                port=0,
                log_sink=self.logbook.sink(fn.key, pod),
            )
        )
        ready = await process.wait_ready(30)
        return process, Endpoint(ready.host, ready.port, pod)

    async def stop_all(self) -> None:
        for key in list(self.processes):
            await self._resize(key, 0)


@dataclass
class DevConsole:
    server: TestServer
    folder: Path
    local: LocalFunctions
    parts: Components
    session: aiohttp.ClientSession

    def url(self, path: str = "/ui/") -> str:
        return str(self.server.make_url(path))

    async def wait_for_log(
        self, name: str, request_id: str, message: str, timeout: float = 10
    ) -> list[dict[str, str]]:
        """The log lines of one call, once ``message`` among them has reached the console."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            async with self.session.get(
                self.url(f"/ui/api/functions/default/{name}/logs"), params={"requestId": request_id}
            ) as resp:
                lines: list[dict[str, str]] = (await resp.json())["lines"]
            if (
                any(line["message"] == message for line in lines)
                or asyncio.get_running_loop().time() > deadline
            ):
                return lines
            await asyncio.sleep(0.05)


async def start_dev_console(tmp_path: Path, extensions: Sequence[Extension] = ()) -> DevConsole:
    """``extensions`` go after the console's (the event path, for the dead-letter tab)."""
    folder = tmp_path / "functions"
    folder.mkdir()
    logbook = LogBook()
    local = LocalFunctions(tmp_path / "replicas", logbook)
    hooks = DevHooks(applied=local.applied, deleted=local.deleted)
    extension = console_extension(lambda live: DevSource(live, folder, logbook, hooks), PRICE)
    config = GatewayConfig(host="127.0.0.1", pod_name="test", autoscale_tick=0.5)
    app = make_app(config, local.backend, autoscale=True, extensions=[extension, *extensions])
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    session = aiohttp.ClientSession()
    return DevConsole(server, folder, local, app[COMPONENTS], session)


async def stop_dev_console(console: DevConsole) -> None:
    await console.session.close()
    await console.server.close()
    await console.local.stop_all()
