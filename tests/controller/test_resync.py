"""The one resync task: no kopf timer or daemon per Function, Functions spread over a period,
and only the active replica resyncs. Time is a fake ``sleep`` that records what was asked."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Mapping
from typing import Any

import kopf
import pytest

from wisp.controller import handlers
from wisp.controller.resync import due_functions, gap, peering_allows, resync_forever

NOW = datetime.datetime(2026, 12, 4, 15, 0, tzinfo=datetime.UTC)


def body(name: str, namespace: str = "ns", **meta: Any) -> dict[str, Any]:
    return {"kind": "Function", "metadata": {"name": name, "namespace": namespace, **meta}}


def test_no_handler_is_scheduled_per_function() -> None:
    """Timers and daemons are per-object tasks; the operator registers none."""
    assert handlers.FUNCTIONS  # imported for its registrations
    registry = kopf.get_default_registry()
    assert registry._spawning.get_all_handlers() == []
    activities = {h.id for h in registry._activities.get_all_handlers()}
    assert {"start_resync", "stop_resync"} <= activities
    # Without a timer kopf adds its finalizer only for a delete handler that is not optional,
    # and without the finalizer a quick deletion is never seen (Triggers would stay Bound).
    (deleted,) = [h for h in registry._changing.get_all_handlers() if h.id == "function_deleted"]
    assert deleted.requires_finalizer


class Done(Exception):
    """Raised by the fake sleep to end the loop after the rounds a test wants."""


class Clock:
    def __init__(self, rounds: int, period: float) -> None:
        self.slept: list[float] = []
        self.limit = rounds * period
        self.now = 0.0

    async def sleep(self, seconds: float) -> None:
        if self.now + seconds > self.limit + 1e-6:
            raise Done
        self.slept.append(seconds)
        self.now += seconds


async def run(
    bodies: list[dict[str, Any]], rounds: int, period: float = 60.0, active: bool = True
) -> tuple[list[str], Clock, int]:
    clock = Clock(rounds, period)
    seen: list[str] = []
    before = len(asyncio.all_tasks())
    most = before

    async def reconcile_one(b: dict[str, Any]) -> None:
        nonlocal most
        most = max(most, len(asyncio.all_tasks()))
        seen.append(b["metadata"]["name"])

    async def allowed() -> bool:
        return active

    with pytest.raises(Done):
        await resync_forever(lambda: bodies, reconcile_one, period, allowed, sleep=clock.sleep)
    return seen, clock, most - before


async def test_a_thousand_idle_functions_are_one_task_spread_over_the_period() -> None:
    bodies = [body(f"fn-{i:04d}") for i in range(1000)]
    seen, clock, extra_tasks = await run(bodies, rounds=3)
    assert len(seen) == 3000  # each Function once per period, not more
    assert seen[:1000] == sorted(seen[:1000]) and seen[:1000] == seen[1000:2000]
    assert clock.slept == [pytest.approx(0.06)] * 3000  # evenly spread: never a burst
    assert extra_tasks == 0  # no task per Function (to_thread's worker is not a task)


async def test_no_functions_or_a_standby_replica_only_waits() -> None:
    seen, clock, _ = await run([], rounds=3)
    assert seen == [] and clock.slept == [60.0, 60.0, 60.0]
    seen, clock, _ = await run([body("a"), body("b")], rounds=3, active=False)
    assert seen == [] and clock.slept == [60.0, 60.0, 60.0]


async def test_one_failing_function_does_not_stop_the_others() -> None:
    seen: list[str] = []

    async def reconcile_one(b: dict[str, Any]) -> None:
        seen.append(b["metadata"]["name"])
        if b["metadata"]["name"] == "a":
            raise RuntimeError("boom")

    async def allowed() -> bool:
        return True

    clock = Clock(rounds=1, period=10)
    with pytest.raises(Done):
        await resync_forever(lambda: [body("a"), body("b")], reconcile_one, 10, allowed, clock.sleep)
    assert seen == ["a", "b"]


async def test_an_unreadable_peering_skips_the_round_and_the_loop_goes_on() -> None:
    seen: list[str] = []

    async def reconcile_one(b: dict[str, Any]) -> None:
        seen.append(b["metadata"]["name"])

    async def unreadable() -> bool:
        raise RuntimeError("403 Forbidden")

    clock = Clock(rounds=3, period=10)
    with pytest.raises(Done):
        await resync_forever(lambda: [body("a")], reconcile_one, 10, unreadable, clock.sleep)
    assert seen == [] and clock.slept == [10, 10, 10]


def test_functions_being_deleted_are_left_alone_and_the_order_is_stable() -> None:
    bodies = [body("b"), body("a", "other"), body("c", deletionTimestamp="2026-12-04T15:00:00Z"), body("a")]
    assert [(b["metadata"]["namespace"], b["metadata"]["name"]) for b in due_functions(bodies)] == [
        ("ns", "a"),
        ("ns", "b"),
        ("other", "a"),
    ]
    assert gap(0, 60) == 60 and gap(4, 60) == 15


@pytest.mark.parametrize(
    ("count", "period", "rate", "pause"),
    [
        (100, 60, 2.0, 0.6),  # under the cap: the period is kept
        (120, 60, 2.0, 0.5),  # exactly at it
        (1_000, 60, 2.0, 0.5),  # over it: at most 2 a second, the round takes 500 s
        (10_000, 60, 2.0, 0.5),  # 10,000 Functions: still 2 a second, not 170
    ],
)
def test_the_resync_never_goes_faster_than_its_rate(
    count: int, period: float, rate: float, pause: float
) -> None:
    assert gap(count, period, rate) == pytest.approx(pause)


async def test_ten_thousand_functions_are_resynced_at_the_capped_rate() -> None:
    bodies = [body(f"fn-{i:05d}") for i in range(10_000)]
    clock = Clock(rounds=1, period=60.0)
    seen: list[str] = []

    async def reconcile_one(b: dict[str, Any]) -> None:
        seen.append(b["metadata"]["name"])

    async def allowed() -> bool:
        return True

    with pytest.raises(Done):
        await resync_forever(lambda: bodies, reconcile_one, 60.0, allowed, clock.sleep, rate=2.0)
    assert len(seen) == 120  # one minute: 2 a second
    assert set(clock.slept) == {0.5}


def peer(priority: int, seconds_ago: int, lifetime: int = 30) -> Mapping[str, Any]:
    seen = NOW - datetime.timedelta(seconds=seconds_ago)
    return {"priority": priority, "lifetime": lifetime, "lastseen": seen.isoformat()}


@pytest.mark.parametrize(
    ("status", "allowed"),
    [
        (None, True),
        ({"me": peer(10, 1)}, True),
        ({"me": peer(10, 1), "other": peer(5, 1)}, True),
        ({"me": peer(10, 1), "other": peer(20, 1)}, False),
        ({"me": peer(10, 1), "other": peer(20, 31)}, True),  # the higher one is dead
        ({"me": peer(10, 1), "junk": "x", "bad": {"lastseen": "never"}}, True),
    ],
)
def test_only_the_active_replica_resyncs(status: Mapping[str, Any] | None, allowed: bool) -> None:
    assert peering_allows(status, 10, NOW) is allowed


@pytest.mark.parametrize(
    ("namespaces", "peering_in"),
    [(("team-a",), "team-a"), (("t-*",), None), (("a", "b"), None), ((), None)],
)
def test_a_namespaced_operator_reads_the_peering_of_its_one_namespace(
    namespaces: tuple[str, ...], peering_in: str | None
) -> None:
    """Only one plain namespace has one peering object to read; otherwise no resync at all
    (a standby must never act on its stale cache)."""
    assert handlers._peering_namespace(namespaces) == peering_in
