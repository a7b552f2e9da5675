"""Fixtures of the CLI tests: ``wisp`` as a subprocess, and a real gateway process (tests.cli.gateway)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.gateway import GatewayProcess, gateway
from tests.support.registry import registry

Wisp = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def wisp(tmp_path: Path) -> Wisp:
    """Runs ``wisp ARGS`` in ``tmp_path``; ``env`` adds variables, ``input`` feeds stdin."""

    def run(
        *args: str, env: dict[str, str] | None = None, input: str | None = None, timeout: float = 180
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "wisp", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env={**os.environ, **(env or {})},
            input=input,
            timeout=timeout,
            check=False,
        )

    return run


__all__ = ["GatewayProcess", "Wisp", "gateway", "registry", "wisp"]
