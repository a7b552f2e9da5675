"""Fixtures of the ``wisp dev`` tests: a copy of ``examples/`` to edit, and started servers that
are always stopped (with their children) at the end."""

from __future__ import annotations

import shutil
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.dev.process import ROOT, WispDev, alive, children_of


@pytest.fixture(scope="session")
def dev_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Dependencies installed once per session (wisp dev keeps them across runs)."""
    return tmp_path_factory.mktemp("wisp-dev-cache")


@pytest.fixture
def examples_copy(tmp_path: Path) -> Path:
    target = tmp_path / "examples"
    shutil.copytree(ROOT / "examples", target, ignore=shutil.ignore_patterns("java-hello"))
    return target


@pytest.fixture
def wisp_dev(tmp_path: Path, dev_cache: Path) -> Iterator[Callable[..., WispDev]]:
    started: list[WispDev] = []

    def start(directory: Path, *extra: str, wait: bool = True, env: dict[str, str] | None = None) -> WispDev:
        dev = WispDev(
            directory,
            tmp_path / f"wisp-dev-{len(started)}.log",
            extra,
            env={"WISP_DEV_CACHE": str(dev_cache), **(env or {})},
        )
        started.append(dev)
        return dev.start(wait=wait)

    yield start
    for dev in started:
        pids = dev.children() if dev.process is not None and dev.process.poll() is None else set()
        dev.stop()
        for pid in pids | (children_of(dev.process.pid) if dev.process else set()):
            if alive(pid):
                import os

                os.kill(pid, signal.SIGKILL)
