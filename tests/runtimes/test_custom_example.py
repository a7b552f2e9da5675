"""The custom-runtime example (runtime-images/custom-example/) serves the runtime contract."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

SERVER = Path(__file__).resolve().parents[2] / "runtime-images" / "custom-example" / "server.py"


@pytest.fixture
async def example_url() -> AsyncIterator[str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SERVER),
        env={**os.environ, "WISP_HOST": "127.0.0.1", "WISP_PORT": "0", "WISP_CONCURRENCY": "4"},
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        record = json.loads(line)
        assert record["event"] == "wisp.runtime.listening"
        yield f"http://127.0.0.1:{record['port']}"
    finally:
        process.terminate()
        await process.wait()


async def test_custom_example_serves_the_contract(example_url: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(example_url + "/healthz") as response:
            assert response.status == 200
            assert await response.json() == {"status": "ok"}
        async with http.post(
            example_url + "/anything", json={"name": "Ada"}, headers={"X-Wisp-Request-Id": "r-1"}
        ) as response:
            assert response.status == 200
            assert await response.json() == {"hello": "Ada"}
            assert response.headers["X-Wisp-Request-Id"] == "r-1"
            assert float(response.headers["X-Wisp-Duration-Ms"]) >= 0
        async with http.post(example_url, data=b"{nope") as response:
            assert response.status == 400
            assert (await response.json())["errorType"] == "InvalidEventJSON"
        async with http.get(example_url + "/metrics") as response:
            text = await response.text()
        assert 'wisp_runtime_invocations_total{code="200"} 1' in text
        assert 'wisp_runtime_invocations_total{code="400"} 1' in text
