"""``spec.logging`` in the runtimes: records below the Function's levels are dropped, and the
Text format writes Lambda's tab-separated lines (docs/logging.md)."""

from __future__ import annotations

import asyncio
import base64
import json
import os

import aiohttp
import pytest

from tests.runtimes.conftest import Running, Start
from tests.runtimes.languages import NODE, PYTHON, Language


@pytest.fixture(params=[PYTHON, NODE], ids=str)
def language(request: pytest.FixtureRequest) -> Language:
    lang: Language = request.param
    return lang


def new_marker() -> str:
    return base64.b32encode(os.urandom(10)).decode()


async def call(http: aiohttp.ClientSession, runtime: Running, marker: str, request_id: str) -> None:
    async with http.post(
        runtime.url, json={"marker": marker}, headers={"X-Wisp-Request-Id": request_id}
    ) as response:
        assert response.status == 200


def messages_with(runtime: Running, marker: str) -> dict[str, dict[str, object]]:
    return {str(r["message"]).split(" ")[0]: r for r in runtime.records() if marker in str(r.get("message"))}


async def test_without_levels_every_level_from_info_is_written(
    start: Start, http: aiohttp.ClientSession
) -> None:
    runtime = await start("leveled_logs")
    marker = new_marker()
    await call(http, runtime, marker, "req-all")
    await runtime.wait_for_record(lambda r: r.get("message") == f"error {marker}")
    found = messages_with(runtime, marker)
    assert {"info", "printed", "warn", "error"} <= found.keys()
    assert all(r["requestId"] == "req-all" and r["time"] for r in found.values())


async def test_records_below_the_application_level_are_dropped(
    start: Start, http: aiohttp.ClientSession
) -> None:
    runtime = await start("leveled_logs", AWS_LAMBDA_LOG_FORMAT="JSON", AWS_LAMBDA_LOG_LEVEL="WARN")
    marker = new_marker()
    await call(http, runtime, marker, "req-warn")
    await runtime.wait_for_record(lambda r: r.get("message") == f"error {marker}")
    found = messages_with(runtime, marker)
    assert set(found) == {"warn", "error"}
    assert found["warn"]["level"] in ("WARN", "WARNING")  # Node.js: Lambda's name; Python: logging's
    assert found["error"]["level"] == "ERROR"
    assert found["error"]["requestId"] == "req-warn"
    # The runtime's own records keep their level (systemLogLevel unset): the call is logged.
    await runtime.wait_for_record(lambda r: r.get("requestId") == "req-warn" and r.get("status") == 200)


async def test_debug_level_lets_debug_records_through(start: Start, http: aiohttp.ClientSession) -> None:
    runtime = await start("leveled_logs", AWS_LAMBDA_LOG_FORMAT="JSON", AWS_LAMBDA_LOG_LEVEL="DEBUG")
    marker = new_marker()
    await call(http, runtime, marker, "req-debug")
    [debug] = await runtime.wait_for_record(lambda r: r.get("message") == f"debug {marker}")
    assert debug["level"] == "DEBUG" and debug["requestId"] == "req-debug"


async def test_the_system_level_drops_the_runtimes_own_records(
    start: Start, http: aiohttp.ClientSession
) -> None:
    runtime = await start("leveled_logs", AWS_LAMBDA_LOG_FORMAT="JSON", WISP_SYSTEM_LOG_LEVEL="WARN")
    first, second = new_marker(), new_marker()
    await call(http, runtime, first, "req-first")
    await call(http, runtime, second, "req-second")
    # Lines are written in order: once the second call's output is there, the first call's
    # "invocation finished" (INFO) would be too.
    await runtime.wait_for_record(lambda r: r.get("message") == f"error {second}")
    assert not [r for r in runtime.records() if r.get("message") == "invocation finished"]
    assert messages_with(runtime, first).keys() >= {"info", "warn", "error"}


async def test_the_text_format_writes_tab_separated_lines(start: Start, http: aiohttp.ClientSession) -> None:
    runtime = await start("leveled_logs", AWS_LAMBDA_LOG_FORMAT="Text")
    marker = new_marker()
    await call(http, runtime, marker, "req-text")

    def text_lines() -> list[list[str]]:
        return [line.split("\t") for line in runtime.lines if f"\terror {marker}" in line]

    async with asyncio.timeout(10):
        while not text_lines():
            await asyncio.sleep(0.02)
    [[time, request_id, level, message, *fields]] = text_lines()
    assert time.endswith("Z") and request_id == "req-text" and level == "ERROR"
    assert message == f"error {marker}"
    assert fields in ([], ["logger=app"])  # Python names the logger
    # Nothing about the call is JSON any more, but the runtime still announced itself (it is ready).
    assert not [line for line in runtime.lines if marker in line and line.startswith("{")]
    assert json.loads(next(line for line in runtime.lines if "wisp.runtime.listening" in line))
