"""A Function on a runtime past or near its deprecation date gets a Warning Event, once per phase."""

from __future__ import annotations

import pytest

from tests.controller.memory_kube import MemoryKube
from tests.controller.test_reconcile_table import NS, function
from wisp.controller.settings import OperatorSettings
from wisp.controller.sync import FunctionSync


@pytest.mark.parametrize(
    ("runtime", "warned"),
    [
        ("python3.14", False),  # supported
        ("nodejs20", True),  # deprecated on 2026-04-30 (the runtime table)
    ],
)
def test_a_deprecated_runtime_is_announced_once(runtime: str, warned: bool) -> None:
    kube = MemoryKube().add(function(runtime=runtime))
    sync = FunctionSync(kube, OperatorSettings())
    for _ in range(3):  # the resync passes again: no new Event
        sync.sync_function(kube.get_function(NS, "hello") or {})
    events = [e for e in kube.events() if "RuntimeDeprecated" in e]
    assert len(events) == (1 if warned else 0)
    if warned:
        assert events[0].startswith("Warning RuntimeDeprecated: ")
        assert "nodejs24" in events[0]  # what to move to
