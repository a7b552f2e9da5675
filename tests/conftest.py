"""Shared test configuration: the real control plane fixtures and test hygiene."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

pytest_plugins = ["tests.cluster.fixtures"]


@pytest_asyncio.fixture(autouse=True)
async def _no_leaked_tasks(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Fail a test that leaves asyncio tasks running after its fixtures were torn down."""
    before = asyncio.all_tasks()
    yield
    if not asyncio.iscoroutinefunction(request.function):
        return
    for _ in range(3):  # let cancellations that are already under way finish
        await asyncio.sleep(0)
    leaked = [t for t in asyncio.all_tasks() - before if t is not asyncio.current_task() and not t.done()]
    for task in leaked:
        task.cancel()
    assert not leaked, f"test leaked asyncio tasks: {[t.get_coro() for t in leaked]}"
