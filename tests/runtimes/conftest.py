"""Fixtures: runtimes started as real processes through ``wisp.launcher``, and an HTTP client."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.runtimes.languages import LANGUAGES, Language
from wisp.launcher import LaunchSpec, Readiness, RuntimeProcess, start_runtime


@pytest.fixture(params=LANGUAGES, ids=str)
def language(request: pytest.FixtureRequest) -> Language:
    lang: Language = request.param
    return lang


@dataclass
class Running:
    """A started runtime: where it listens and every line it wrote so far."""

    process: RuntimeProcess
    ready: Readiness
    lines: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.ready.url

    def records(self) -> list[dict[str, Any]]:
        out = []
        for line in self.lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                out.append(record)
        return out

    async def wait_for_record(
        self, match: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """The records matching ``match``, once at least one arrived (logs come over a pipe)."""
        async with asyncio.timeout(timeout):
            while True:
                found = [r for r in self.records() if match(r)]
                if found:
                    return found
                await asyncio.sleep(0.02)


Start = Callable[..., Awaitable[Running]]


@pytest.fixture
async def start(language: Language) -> AsyncIterator[Start]:
    """``await start(handler_name, code_dir=None, **WISP_env)``: a ready runtime, stopped after."""
    started: list[RuntimeProcess] = []

    async def _start(
        handler: str,
        *,
        code_dir: Path | None = None,
        handler_ref: str | None = None,
        **env: str,
    ) -> Running:
        lines: list[str] = []
        full_env = {
            "WISP_FUNCTION_NAME": "contract",
            "WISP_FUNCTION_NAMESPACE": "tests",
            "WISP_HANDLER": handler_ref or language.handler(handler),
            "WISP_TIMEOUT_SECONDS": "10",
            "WISP_DEPS_DIR": str((code_dir or language.handlers_dir) / ".no-deps"),
            **language.extra_env,
            **env,
        }
        process = await start_runtime(
            LaunchSpec(
                runtime=language.runtime,
                code_dir=code_dir or language.handlers_dir,
                env=full_env,
                log_sink=lines.append,
            )
        )
        started.append(process)
        ready = await process.wait_ready(timeout=30)
        return Running(process, ready, lines)

    yield _start
    for process in started:
        await process.stop(grace=5)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


async def metric_value(http: aiohttp.ClientSession, url: str, name: str) -> float:
    """The value of one series (``name`` includes labels) on ``/metrics``, 0 when absent."""
    async with http.get(f"{url}/metrics") as response:
        text = await response.text()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


async def wait_for_metric(
    http: aiohttp.ClientSession, url: str, name: str, at_least: float, timeout: float = 10.0
) -> float:
    async with asyncio.timeout(timeout):
        while True:
            current = await metric_value(http, url, name)
            if current >= at_least:
                return current
            await asyncio.sleep(0.02)
