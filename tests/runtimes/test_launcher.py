"""``wisp.launcher``: readiness, log sinks, shutdown, and no runtime outliving its parent."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.runtimes.conftest import wait_for_metric
from tests.runtimes.languages import LANGUAGES, PYTHON, Language
from wisp.api import Runtime
from wisp.launcher import LaunchError, LaunchSpec, RuntimeProcess, runtime_command, start_runtime

REPO = Path(__file__).resolve().parents[2]


def _spec(**env: str) -> LaunchSpec:
    return LaunchSpec(
        runtime=PYTHON.runtime,
        code_dir=PYTHON.handlers_dir,
        env={"WISP_HANDLER": "handlers.async_sleep", **env},
    )


@pytest.fixture
async def processes() -> AsyncIterator[list[RuntimeProcess]]:
    started: list[RuntimeProcess] = []
    yield started
    for process in started:
        await process.stop(grace=1)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def _closed(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as http, http.get(url + "/healthz"):
            return False
    except aiohttp.ClientConnectionError:
        return True


LOCAL_LANGUAGES = [lang for lang in LANGUAGES if lang.name in ("python", "node")]


@pytest.mark.parametrize("language", LOCAL_LANGUAGES, ids=str)
async def test_stop_is_graceful(processes: list[RuntimeProcess], language: Language) -> None:
    process = await start_runtime(
        LaunchSpec(
            runtime=language.runtime,
            code_dir=language.handlers_dir,
            env={"WISP_HANDLER": language.handler("echo")},
        )
    )
    processes.append(process)
    ready = await process.wait_ready()
    assert ready.port > 0 and ready.handler_loaded
    assert await process.stop() == 0
    assert not _alive(process.pid)
    assert await _closed(ready.url)
    assert any("stopped" in line for line in process.output_tail)


async def test_stop_kills_a_runtime_that_does_not_finish(
    processes: list[RuntimeProcess],
) -> None:
    process = await start_runtime(_spec(WISP_TIMEOUT_SECONDS="120"))
    processes.append(process)
    ready = await process.wait_ready()
    async with aiohttp.ClientSession() as http:
        call = asyncio.create_task(http.post(ready.url, json={"seconds": 100}))
        await wait_for_metric(http, ready.url, "wisp_runtime_inflight_requests", 1)
        # The runtime waits for the call in flight; the grace period runs out first.
        assert await process.stop(grace=0.5) == -signal.SIGKILL
        with pytest.raises(aiohttp.ClientError):
            await call


async def test_log_sink_file_and_port_choice(processes: list[RuntimeProcess], tmp_path: Path) -> None:
    log_file = tmp_path / "runtime.log"
    spec = LaunchSpec(
        runtime=PYTHON.runtime,
        code_dir=PYTHON.handlers_dir,
        env={"WISP_HANDLER": "handlers.echo", "WISP_FUNCTION_NAME": "logged"},
        log_sink=log_file,
    )
    process = await start_runtime(spec)
    processes.append(process)
    ready = await process.wait_ready()
    async with aiohttp.ClientSession() as http, http.post(ready.url, json={"x": 1}) as response:
        assert await response.json() == {"x": 1}
    await process.stop()
    records = [json.loads(line) for line in log_file.read_text().splitlines()]
    listening = [r for r in records if r.get("event") == "wisp.runtime.listening"]
    assert listening and listening[0]["port"] == ready.port
    assert {r["function"] for r in records} == {"logged"}


async def test_exit_before_listening_is_reported(processes: list[RuntimeProcess]) -> None:
    process = await start_runtime(_spec(WISP_TIMEOUT_SECONDS="soon"))
    processes.append(process)
    with pytest.raises(LaunchError, match="WISP_TIMEOUT_SECONDS"):
        await process.wait_ready()
    assert process.returncode == 2


def test_commands_are_the_images_commands() -> None:
    assert runtime_command(Runtime.PYTHON311)[1:] == ["-m", "wisp_runtime"]
    node = runtime_command(Runtime.NODEJS22)
    assert node[0] == "node" and Path(node[1]) == REPO / "runtime-images" / "node" / "index.js"
    with pytest.raises(LaunchError):
        runtime_command(Runtime.CUSTOM)


def test_runtime_images_dir_can_be_overridden(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("WISP_RUNTIME_IMAGES_DIR", str(tmp_path))
    assert runtime_command(Runtime.NODEJS20)[1] == str(tmp_path / "node" / "index.js")


PARENT = textwrap.dedent("""
    import asyncio, sys
    from wisp.api import Runtime
    from wisp.launcher import LaunchSpec, start_runtime

    async def main():
        process = await start_runtime(LaunchSpec(
            runtime=Runtime(sys.argv[1]), code_dir=sys.argv[2],
            env={"WISP_HANDLER": "handlers.echo"}))
        await process.wait_ready()
        print(process.pid, flush=True)
        await asyncio.sleep(3600)

    asyncio.run(main())
""")


@pytest.mark.parametrize("language", LOCAL_LANGUAGES, ids=str)
async def test_runtime_dies_with_its_parent(language: Language) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, language.runtime.value, str(language.handlers_dir)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(parent.stdout.readline), 30)
        runtime_pid = int(line)
        assert _alive(runtime_pid)
        parent.send_signal(signal.SIGKILL)  # no cleanup code of the parent runs
        parent.wait()
        async with asyncio.timeout(10):
            while _alive(runtime_pid):
                await asyncio.sleep(0.02)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
