"""Waiting in async tests for something that happens in another process or task."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Wait for ``check()`` to return something truthy; fail with its last value otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met in {timeout}s (last value: {value!r})")
        await asyncio.sleep(0.05)
