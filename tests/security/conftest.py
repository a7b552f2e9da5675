"""Fixtures: one real runtime per test module (started through wisp.launcher) and secured
gateways in front of it. Modules using them run on a module-scoped event loop
(``pytestmark = pytest.mark.asyncio(loop_scope="module")``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest
import pytest_asyncio

from tests.security.support import SecuredGateway, make_secured_gateway, start_echo_runtime
from wisp.gateway.app import Extension
from wisp.gateway.backend import Endpoint
from wisp.security.settings import SecuritySettings

GatewayMaker = Callable[..., Awaitable[SecuredGateway]]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def runtime_endpoint(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Endpoint]:
    process = await start_echo_runtime(tmp_path_factory.mktemp("runtime"))
    ready = await process.wait_ready()
    yield Endpoint(ready.host, ready.port, "echo-0")
    await process.stop()


@pytest.fixture
def fast_path() -> bool:
    """Whether the gateways under test serve on the fast data path; a module that runs its
    tests on both paths overrides it with params."""
    return True


@pytest_asyncio.fixture(loop_scope="module")
async def make_gateway(runtime_endpoint: Endpoint, fast_path: bool) -> AsyncIterator[GatewayMaker]:
    made: list[SecuredGateway] = []

    async def make(
        settings: SecuritySettings | None = None, extensions: Sequence[Extension] = (), **config: Any
    ) -> SecuredGateway:
        gw = await make_secured_gateway(runtime_endpoint, settings, extensions, fast_path=fast_path, **config)
        made.append(gw)
        return gw

    yield make
    for gw in made:
        await gw.session.close()
        await gw.server.close()


@pytest_asyncio.fixture(loop_scope="module")
async def gateway(make_gateway: GatewayMaker) -> SecuredGateway:
    return await make_gateway()
