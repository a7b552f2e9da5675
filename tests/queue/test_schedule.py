"""Schedules fire once per tick, even with two gateway replicas looking at the same clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from tests.queue.conftest import Managers, function
from tests.queue.runtime import RuntimeProcess
from tests.support.wait import eventually
from wisp.api.trigger import parse_trigger
from wisp.queue.schedule import ticks_between


def test_ticks_follow_the_time_zone_across_a_daylight_saving_change() -> None:
    # Berlin skips 02:00-03:00 local on 2025-03-30: the 02:30 tick does not exist that night.
    after = datetime(2025, 3, 29, 23, 0, tzinfo=UTC)
    ticks = ticks_between("30 * * * *", "Europe/Berlin", after, after + timedelta(hours=4))
    assert [t.strftime("%H:%M") for t in ticks] == ["23:30", "00:30", "01:30", "02:30"]
    local = [t.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin")).hour for t in ticks]
    assert local == [0, 1, 3, 4]


def test_a_tick_exactly_at_the_last_check_is_not_fired_again() -> None:
    at = datetime(2025, 1, 1, 10, 5, tzinfo=UTC)
    assert ticks_between("*/5 * * * *", "UTC", at, at + timedelta(minutes=4)) == []
    assert ticks_between("*/5 * * * *", "UTC", at - timedelta(seconds=1), at) == [at]


@pytest.mark.redis
async def test_two_replicas_enqueue_each_tick_once(
    redis_url: str,
    runtimes: Callable[..., RuntimeProcess],
    managers: Managers,
) -> None:
    runtime = runtimes("events.record")
    now = [datetime(2025, 1, 1, 10, 2, tzinfo=UTC)]
    replicas = [
        managers(redis_url, {"report.default": runtime.url}, schedule_clock=lambda: now[0]) for _ in range(2)
    ]
    trigger = parse_trigger(
        {
            "metadata": {"name": "every-5", "namespace": "default"},
            "spec": {
                "function": "report",
                "schedule": {
                    "cron": "*/5 * * * *",
                    "timezone": "Europe/Berlin",
                    "payload": {"job": "report"},
                },
            },
        }
    )
    for replica in replicas:
        replica.update_functions([function("report", "events.record")])
        replica.update_triggers([trigger])

    fired: list[str] = []
    for minute in (6, 11, 16):
        now[0] = now[0].replace(minute=minute)
        for result in await asyncio.gather(*(r.scheduler.fire_due(now[0]) for r in replicas)):
            fired += result

    expected = [f"every-5.default@20250101T10{m}Z" for m in ("05", "10", "15")]
    assert sorted(fired) == expected
    await eventually(lambda: len(runtime.records()) >= 3)
    events = sorted((r["event"] for r in runtime.records()), key=lambda e: e["id"])
    assert [e["id"] for e in events] == expected  # each tick delivered exactly once
    assert events[0] == {
        "source": "wisp.schedule",
        "trigger": "every-5",
        "id": expected[0],
        "time": "2025-01-01T10:05:00.000Z",
        "data": {"job": "report"},
        "attempt": 1,
    }
    status = await replicas[0].invocations.status(expected[0])
    assert status is not None
    await eventually(lambda: _succeeded(replicas[1], expected[2]))


async def _succeeded(replica: object, tick: str) -> bool:
    status = await replica.invocations.status(tick)  # type: ignore[attr-defined]
    return bool(status and status["status"] == "succeeded")
