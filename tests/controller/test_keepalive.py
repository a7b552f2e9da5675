"""The peering record is renewed three times a lifetime (``wisp.controller.keepalive``), not 5-10 s
before it expires as kopf's own keep-alive does: a renewal late by up to two thirds of the
lifetime does not make the standby replica resume beside the active one."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from kopf._core.engines import peering
from kopf._core.reactor import orchestration

from wisp.controller import keepalive


@pytest.mark.parametrize(
    ("lifetime", "jitter", "interval"),
    [(30, 0.0, 10.0), (30, 1.0, 7.0), (60, 0.5, 17.0), (3, 1.0, 1.0), (0, 0.0, 1.0)],
    ids=["30 s, no jitter", "30 s, most jitter", "60 s", "never under a second", "no lifetime"],
)
def test_a_record_is_renewed_about_three_times_a_lifetime(
    lifetime: int, jitter: float, interval: float
) -> None:
    assert keepalive.renewal_interval(lifetime, jitter) == pytest.approx(interval)


async def test_the_keepalive_kopf_runs_renews_often_and_leaves_the_peering_when_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    touched: list[int | None] = []

    async def touch(**kwargs: Any) -> None:
        touched.append(kwargs.get("lifetime"))

    monkeypatch.setattr(peering, "keepalive", peering.keepalive)  # undone after the test
    monkeypatch.setattr(peering, "touch", touch)
    monkeypatch.setattr(keepalive, "renewal_interval", lambda lifetime, jitter: lifetime / 3 / 1000)
    keepalive.install()
    assert orchestration.peering.keepalive is keepalive.keepalive  # what kopf's orchestration calls

    settings = SimpleNamespace(peering=SimpleNamespace(lifetime=30))  # kopf's settings' shape
    task = asyncio.create_task(
        orchestration.peering.keepalive(namespace=None, resource=None, identity="me", settings=settings)
    )
    await asyncio.sleep(0.1)  # 30/3/1000 s between renewals: about ten
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(touched) >= 5
    assert touched[-1] == 0  # gone from the peering at once
    assert set(touched[:-1]) == {None}  # renewals with the settings' lifetime
