"""A Function on a runtime past or near its deprecation date gets a Warning Event, once per phase.
The operator's clock is given, not read."""

from __future__ import annotations

import datetime

import pytest

from tests.controller.memory_kube import MemoryKube
from tests.controller.test_reconcile_table import NS, function
from wisp.controller.settings import OperatorSettings
from wisp.controller.sync import FunctionSync


def day(year: int, month: int, date: int) -> datetime.datetime:
    return datetime.datetime(year, month, date, 12, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("runtime", "now", "warned"),
    [
        ("python3.14", day(2026, 12, 4), False),  # supported
        ("nodejs20", day(2026, 12, 4), True),  # deprecated on 2026-04-30 (the runtime table)
        ("nodejs22", day(2026, 10, 31), False),  # deprecated on 2027-04-30: not yet warned
        ("nodejs22", day(2026, 11, 1), True),  # 180 days before
    ],
)
def test_a_deprecated_runtime_is_announced_once(runtime: str, now: datetime.datetime, warned: bool) -> None:
    kube = MemoryKube().add(function(runtime=runtime))
    sync = FunctionSync(kube, OperatorSettings(), clock=lambda: now)
    for _ in range(3):  # the resync passes again: no new Event
        sync.sync_function(kube.get_function(NS, "hello") or {})
    events = [e for e in kube.events() if "RuntimeDeprecated" in e]
    assert len(events) == (1 if warned else 0)
    if warned:
        assert events[0].startswith("Warning RuntimeDeprecated: ")
        assert "nodejs24" in events[0]  # what to move to
