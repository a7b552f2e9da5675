"""The operator hands freed memory back to the system once a period (glibc's malloc_trim)."""

from __future__ import annotations

import asyncio

import pytest

from wisp.controller import heap


def test_glibc_trims_here() -> None:
    trim = heap.trimmer()
    assert trim is not None  # the images and this machine run glibc
    assert trim() in (0, 1)


def test_one_trim_a_period_until_cancelled() -> None:
    trims: list[int] = []
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) > 3:
            raise asyncio.CancelledError

    def trim() -> int:
        trims.append(1)
        return 1

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(heap.trim_forever(trim, period=30.0, sleep=sleep))
    assert pauses == [30.0] * 4 and len(trims) == 3
