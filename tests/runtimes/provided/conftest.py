"""Fixtures: the provided runtime started through ``wisp.launcher`` around a given bootstrap."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from tests.runtimes.conftest import Running
from tests.runtimes.provided import clients
from wisp.api import Runtime
from wisp.launcher import LaunchSpec, RuntimeProcess, start_runtime

HERE = Path(__file__).parent
SCRIPTED = HERE / "scripted_bootstrap.py"
PYTHON_FUNCTIONS = HERE / "functions" / "python"

StartProvided = Callable[..., Awaitable[Running]]


@pytest.fixture
async def start_provided(tmp_path: Path) -> AsyncIterator[StartProvided]:
    """``await start_provided(bootstrap=[...] | None, code_dir=None, handler="h", **env)``."""
    started: list[RuntimeProcess] = []

    async def _start(
        bootstrap: list[str] | None = None,
        *,
        code_dir: Path | None = None,
        handler: str = "function.handler",
        wait: bool = True,
        **env: str,
    ) -> Running:
        lines: list[str] = []
        full_env = {
            "WISP_FUNCTION_NAME": "provided",
            "WISP_FUNCTION_NAMESPACE": "tests",
            "WISP_HANDLER": handler,
            "WISP_TIMEOUT_SECONDS": "10",
            **({"WISP_BOOTSTRAP": json.dumps(bootstrap)} if bootstrap else {}),
            **env,
        }
        process = await start_runtime(
            LaunchSpec(
                runtime=Runtime.PROVIDED, code_dir=code_dir or tmp_path, env=full_env, log_sink=lines.append
            )
        )
        started.append(process)
        ready = await process.wait_ready(timeout=30)
        return Running(process, ready, lines)

    yield _start
    for process in started:
        await process.stop(grace=5)


@pytest.fixture
def scripted() -> list[str]:
    """The standard-library bootstrap's command."""
    return [sys.executable, str(SCRIPTED)]


T = TypeVar("T")


def _built(build: Callable[[], T], what: str) -> T:
    """What ``build`` makes; the test is skipped without its tool, and fails if it fails."""
    try:
        return build()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    except subprocess.CalledProcessError as exc:
        raise AssertionError(f"{what} failed:\n{exc.stderr.decode(errors='replace')}") from None


@pytest.fixture(scope="session")
def go_bootstrap() -> Path:
    return _built(clients.go_bootstrap, "go build")


@pytest.fixture(scope="session")
def rust_bootstrap() -> Path:
    return _built(clients.rust_bootstrap, "cargo build")


@pytest.fixture(scope="session")
def java_classpath() -> str:
    return _built(clients.java_classpath, "building the Java client")


@pytest.fixture(scope="session")
def ric_python() -> Path:
    try:
        return clients.awslambdaric_python()
    except subprocess.CalledProcessError as exc:
        raise AssertionError(
            f"installing awslambdaric failed:\n{exc.stderr.decode(errors='replace')}"
        ) from None
