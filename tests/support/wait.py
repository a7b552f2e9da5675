"""Waiting in tests for something that happens in another process, task or watch.

Each wait is bounded and fails with what it waited for and the last value it saw; it polls a
condition, never sleeps for time to pass. ``eventually`` for async tests, ``wait_for`` for
synchronous ones.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def eventually(check: Callable[[], Any], what: str = "condition", timeout: float = 20.0) -> Any:
    """Wait for ``check()`` (or the awaitable it returns) to be truthy, and return it."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last value: {value!r})")
        await asyncio.sleep(0.05)


def wait_for(
    check: Callable[[], Any], timeout: float = 30.0, what: str = "condition", *, interval: float = 0.05
) -> Any:
    """Poll ``check()`` until it is truthy, and return it."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last value: {value!r})")
        time.sleep(interval)
