"""Call deadlines kept without a timer each (wisp.gateway.deadlines): a call past its limit gets
TimeoutError as under asyncio.timeout, on time whatever the order the calls came in, another's
cancellation stays a cancellation, and nothing is left scheduled once no call is in flight."""

from __future__ import annotations

import asyncio
import time

import pytest

from wisp.gateway.deadlines import SLACK, Deadlines


async def limited(deadlines: Deadlines, limit: float, work: float) -> float:
    """Sleep ``work`` seconds under a ``limit``: the time it took, or TimeoutError."""
    began = time.monotonic()
    with deadlines.start(limit):
        await asyncio.sleep(work)
    return time.monotonic() - began


async def test_a_call_past_its_limit_times_out_near_it() -> None:
    deadlines = Deadlines()
    began = time.monotonic()
    with pytest.raises(TimeoutError):
        await limited(deadlines, 0.1, 5)
    assert 0.09 <= time.monotonic() - began < 0.1 + SLACK + 0.2
    # The cancellation was taken back: the task's later waits are not cut short by it.
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0.01)


async def test_a_call_within_its_limit_is_left_alone() -> None:
    assert await limited(Deadlines(), 1, 0.05) < 1


async def outcome(deadlines: Deadlines, limit: float, work: float) -> tuple[bool, float]:
    """Whether the call timed out, and when it ended."""
    began = time.monotonic()
    try:
        await limited(deadlines, limit, work)
    except TimeoutError:
        return True, time.monotonic() - began
    return False, time.monotonic() - began


@pytest.mark.parametrize(
    ("limits", "work", "timed_out"),
    [
        # A shorter limit after a longer one moves the sweep earlier.
        ((5, 0.1), 0.5, [False, True]),
        ((0.1, 5), 0.5, [True, False]),
        ((0.1, 0.1, 0.1), 0.5, [True, True, True]),
        ((0.3, 0.1), 0.5, [True, True]),
        ((5, 5), 0.05, [False, False]),
    ],
)
async def test_each_call_gets_its_own_limit(
    limits: tuple[float, ...], work: float, timed_out: list[bool]
) -> None:
    deadlines = Deadlines()
    results = await asyncio.gather(*(outcome(deadlines, limit, work) for limit in limits))
    assert [out for out, _ in results] == timed_out
    for limit, (out, took) in zip(limits, results, strict=True):
        if out:  # ended at its own limit, not at another call's
            assert limit - 0.01 <= took < limit + SLACK + 0.15


async def test_a_cancellation_from_elsewhere_stays_one() -> None:
    deadlines = Deadlines()
    task = asyncio.ensure_future(limited(deadlines, 5, 5))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_nothing_stays_scheduled_once_no_call_is_in_flight() -> None:
    deadlines = Deadlines()
    await asyncio.gather(limited(deadlines, 0.1, 0.01), limited(deadlines, 0.2, 0.01))
    await asyncio.sleep(0.2 + SLACK + 0.1)  # the planned sweep ran and found no call
    assert deadlines._sweep is None
    assert not deadlines._live
