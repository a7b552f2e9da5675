"""A pinned server the tests build once (a ``build-*.sh`` script beside this file, through the Go
module proxy, cached under ``~/.cache/wisp``): the path the script prints, or the test skipped
saying why it could not be built."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


class BuildFailed(RuntimeError):
    pass


def build(script: str, what: str) -> str:
    """Run ``script`` (its path from this folder); the binary's path it prints, or BuildFailed."""
    proc = subprocess.run(
        ["bash", str(HERE / script)], capture_output=True, text=True, check=False, timeout=1800
    )
    if proc.returncode != 0:
        raise BuildFailed(f"{what} could not be built: {proc.stderr.strip().splitlines()[-1:]}")
    return proc.stdout.strip().splitlines()[-1]


@cache
def built_binary(script: str, what: str) -> str:
    """``build`` once per session; the test skipped, saying why, when it fails."""
    try:
        return build(script, what)
    except BuildFailed as exc:
        pytest.skip(str(exc))
