"""Fixtures: one real runtime per test and a secured gateway in front of it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from wisp.gateway.backend import Endpoint
from wisp.launcher import RuntimeProcess
from wisp.security.settings import SecuritySettings
from tests.security.support import SecuredGateway, make_secured_gateway, start_echo_runtime

GatewayMaker = Callable[..., Awaitable[SecuredGateway]]


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[RuntimeProcess]:
    process = await start_echo_runtime(tmp_path)
    yield process
    await process.stop()


@pytest.fixture
async def make_gateway(runtime: RuntimeProcess) -> AsyncIterator[GatewayMaker]:
    ready = await runtime.wait_ready()
    endpoint = Endpoint(ready.host, ready.port, "echo-0")
    made: list[SecuredGateway] = []

    async def make(settings: SecuritySettings | None = None, **config: Any) -> SecuredGateway:
        gw = await make_secured_gateway(endpoint, settings, **config)
        made.append(gw)
        return gw

    yield make
    for gw in made:
        await gw.session.close()
        await gw.server.close()


@pytest.fixture
async def gateway(make_gateway: GatewayMaker) -> SecuredGateway:
    return await make_gateway()
