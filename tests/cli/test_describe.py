"""``wisp describe``'s lines that come from the gateway (through ``--console``): cold starts."""

from __future__ import annotations

from typing import Any

import pytest

from wisp.cli.describe import cold_starts


@pytest.mark.parametrize(
    ("live", "line"),
    [
        ({"coldStarts": 0, "poolStarts": 0}, "Cold starts:  none since the gateway started"),
        ({}, "Cold starts:  none since the gateway started"),
        ({"coldStarts": 3, "poolStarts": 2}, "Cold starts:  3 (2 from the warm pool, 1 on its own pods)"),
        ({"coldStarts": 1, "poolStarts": 0}, "Cold starts:  1 (0 from the warm pool, 1 on its own pods)"),
    ],
)
def test_cold_starts_say_how_many_the_warm_pool_served(live: dict[str, Any], line: str) -> None:
    assert cold_starts(live) == line
