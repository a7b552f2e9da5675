"""Giving the operator's freed memory back to the system.

A bulk apply parses thousands of API answers in a few minutes (every Function's and Deployment's
events, the children written, the statuses); glibc keeps what Python frees in its heap and
returns only the top of it by itself, so the resident size stays at the burst's high-water mark
long after the work is done (measured: 50 of 184 MiB at 100 Functions was such free memory).
One task asks glibc to hand it back (``malloc_trim``) once a period; where the C library has no
such call (musl, macOS) there is no task.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("wisp.operator")

PERIOD = 30.0  # seconds between two trims: a few milliseconds each, on the heap of a busy operator

Sleep = Callable[[float], Awaitable[None]]


def trimmer() -> Callable[[], int] | None:
    """glibc's ``malloc_trim(0)`` (returns 1 when memory was given back), or None without it."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: int(trim(0))


async def trim_forever(trim: Callable[[], int], period: float = PERIOD, sleep: Sleep = asyncio.sleep) -> None:
    """Trim once a ``period`` until cancelled; in a thread (ctypes lets the GIL go meanwhile)."""
    while True:
        await sleep(period)
        try:
            await asyncio.to_thread(trim)
        except OSError as exc:  # never seen; the operator's work matters more than its RSS
            log.warning("malloc_trim failed: %s", exc)
            return
