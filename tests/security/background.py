"""A secured gateway listening on a real port, run by its own event loop in a thread, for tests
that drive it synchronously (raw sockets, Hypothesis). ``stop`` reports tasks left behind."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from tests.security.support import start_echo_runtime
from wisp.gateway.app import make_app
from wisp.gateway.backend import Endpoint, FunctionInfo
from wisp.gateway.config import GatewayConfig
from wisp.gateway.state import COMPONENTS, Components
from wisp.gateway.static import StaticBackend
from wisp.launcher import RuntimeProcess
from wisp.security.extension import SECURITY, Security, security_extension
from wisp.security.secrets import StaticSecretSource
from wisp.security.settings import SecuritySettings

T = TypeVar("T")


@dataclass
class BackgroundGateway:
    settings: SecuritySettings
    work: Path
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    backend: StaticBackend = field(default_factory=StaticBackend)
    secrets: StaticSecretSource = field(default_factory=StaticSecretSource)
    port: int = 0
    endpoint: Endpoint | None = None
    _runner: web.AppRunner | None = None
    _runtime: RuntimeProcess | None = None
    _app: web.Application | None = None
    _thread: threading.Thread | None = None

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> BackgroundGateway:
        self._thread = threading.Thread(target=self.loop.run_forever, name="gateway-loop", daemon=True)
        self._thread.start()
        self.run(self._start())
        return self

    async def _start(self) -> None:
        self._runtime = await start_echo_runtime(self.work)
        ready = await self._runtime.wait_ready()
        self.endpoint = Endpoint(ready.host, ready.port, "echo-0")
        config = GatewayConfig(host="127.0.0.1", pod_name="fuzz", queue_timeout=2.0, cold_start_timeout=2.0)
        self._app = make_app(
            config,
            self.backend,
            autoscale=False,
            extensions=[security_extension(self.settings, self.secrets)],
        )
        self._runner = web.AppRunner(self._app, access_log=None, **self.settings.limits.server_settings())
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    @property
    def parts(self) -> Components:
        assert self._app is not None
        return self._app[COMPONENTS]

    @property
    def security(self) -> Security:
        assert self._app is not None
        return self._app[SECURITY]

    def add(self, info: FunctionInfo, endpoints: tuple[Endpoint, ...]) -> None:
        async def apply() -> None:
            self.backend.set_function(info)
            self.backend.set_endpoints(info.key, endpoints)

        self.run(apply())

    def stop(self) -> list[str]:
        """Shut everything down; the names of tasks still pending afterwards (leaks)."""

        async def shutdown() -> list[str]:
            if self._runner is not None:
                await self._runner.cleanup()
            if self._runtime is not None:
                await self._runtime.stop()
            await asyncio.sleep(0)
            current = asyncio.current_task()
            return [t.get_name() for t in asyncio.all_tasks() if t is not current and not t.done()]

        try:
            return self.run(shutdown())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            if self._thread is not None:
                self._thread.join(10)
            self.loop.close()
