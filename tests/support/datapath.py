"""Running a module's tests on both of the gateway's data paths: the fast path
(``wisp.gateway.fastpath``) and aiohttp's (``make_app(..., fast_path=False)``), which must
behave the same. The gateway fixtures take their ``fast_path`` argument from this mark."""

from __future__ import annotations

import pytest

BOTH_PATHS = pytest.mark.parametrize("fast_path", [True, False], ids=["fast-path", "aiohttp-path"])
