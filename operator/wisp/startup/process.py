"""One gateway process: the two apps, their listening sockets, and the run until a signal.

``make_apps`` builds the invocation app (``make_app`` with the caller's extensions, the
security layer among them) and the admin app guarded by the admin token; ``Servers`` listens on
both ports and stops them; ``run_until_stopped`` runs an async main on uvloop (where it builds)
until SIGINT or SIGTERM sets its stop event.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

from wisp.autoscaler.exchange import LeaderElection, SampleExchange
from wisp.gateway.admin import make_admin_app
from wisp.gateway.app import Extension, make_app
from wisp.gateway.backend import Backend
from wisp.gateway.config import GatewayConfig
from wisp.gateway.server import GatewayRunner
from wisp.gateway.state import COMPONENTS
from wisp.security.extension import secure_admin_app
from wisp.security.settings import SecuritySettings

BACKLOG = 1024


@dataclass(frozen=True)
class Apps:
    invocations: web.Application
    admin: web.Application


def make_apps(
    config: GatewayConfig,
    backend: Backend,
    security: SecuritySettings,
    extensions: Sequence[Extension],
    *,
    exchange: SampleExchange | None = None,
    election: LeaderElection | None = None,
) -> Apps:
    app = make_app(config, backend, exchange=exchange, election=election, extensions=extensions)
    return Apps(app, secure_admin_app(make_admin_app(app[COMPONENTS]), security))


class ListenError(Exception):
    """A port the process cannot listen on (in use, not allowed)."""

    def __init__(self, host: str, port: int, reason: str, admin: bool) -> None:
        super().__init__(f"cannot listen on {host}:{port} ({reason})")
        self.host = host
        self.port = port
        self.reason = reason
        self.admin = admin  # the admin port, else the invocation port


class Servers:
    """The invocation port (with the security layer's parser limits) and the admin port.

    With ``head_timeout`` both serve through ``GatewayRunner``, which answers a request head
    that does not arrive in time with a 408 (``wisp gateway``); without, plain ``AppRunner``s.
    """

    def __init__(self, apps: Apps, security: SecuritySettings, *, head_timeout: float | None = None) -> None:
        self.apps = apps
        limits = security.limits.server_settings()
        if head_timeout is None:
            self.runners = [
                web.AppRunner(apps.invocations, access_log=None, **limits),
                web.AppRunner(apps.admin, access_log=None),
            ]
        else:
            self.runners = [
                GatewayRunner(apps.invocations, head_timeout=head_timeout, access_log=None, **limits),
                GatewayRunner(apps.admin, head_timeout=head_timeout, access_log=None),
            ]

    async def start(self, host: str, port: int, admin_port: int) -> None:
        for runner in self.runners:
            await runner.setup()
        for runner, number, admin in ((self.runners[0], port, False), (self.runners[1], admin_port, True)):
            try:
                await web.TCPSite(runner, host, number, backlog=BACKLOG).start()
            except OSError as exc:
                raise ListenError(host, number, exc.strerror or str(exc), admin) from None

    async def stop(self) -> None:
        # Idle keep-alive connections to the runtimes would hold a local runtime's graceful stop
        # for its whole grace period; calls in flight keep theirs and finish.
        await self.apps.invocations[COMPONENTS].gateway.forwarder.connections.close()
        for runner in reversed(self.runners):
            await runner.cleanup()


def run_until_stopped(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run ``main(stop)`` on uvloop where available; SIGINT and SIGTERM set ``stop``."""
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
        runner = asyncio.Runner()

    async def signalled() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(signum, stop.set)
        await main(stop)

    with runner:
        runner.run(signalled())
