"""Fixtures for the console's tests: a dev-mode console served on a loopback port."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.console.harness import DevConsole, start_dev_console, stop_dev_console


@pytest.fixture
async def dev_console(tmp_path: Path) -> AsyncIterator[DevConsole]:
    console = await start_dev_console(tmp_path)
    yield console
    await stop_dev_console(console)
