"""``LocalBackend`` with real runtime processes, without the rest of ``wisp dev``: what the
gateway is told, how replicas are started, restarted and stopped."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.support.wait import eventually
from wisp.api.trigger import Trigger
from wisp.dev.backend import LocalBackend, LocalSettings, restart_delay
from wisp.dev.prewarm import ForkServer
from wisp.dev.workspace import Workspace, prepare
from wisp.gateway.app import make_app
from wisp.gateway.backend import Endpoint, FunctionInfo
from wisp.gateway.config import GatewayConfig
from wisp.launcher import MAX_LINE_BYTES, LineSplitter
from wisp.reaper import descendants
from wisp.source import FunctionSource, load_file


class Recorder:
    """The gateway's side of the ``Backend`` seam, remembering what it was told."""

    def __init__(self) -> None:
        self.functions: dict[str, FunctionInfo] = {}
        self.endpoints: dict[str, tuple[Endpoint, ...]] = {}
        self.is_synced = False

    def function_upserted(self, info: FunctionInfo) -> None:
        self.functions[info.key] = info

    def function_deleted(self, key: str) -> None:
        self.functions.pop(key, None)

    def trigger_upserted(self, trigger: Trigger) -> None:
        pass

    def trigger_deleted(self, key: str) -> None:
        pass

    def endpoints_changed(self, function_key: str, endpoints: tuple[Endpoint, ...]) -> None:
        self.endpoints[function_key] = endpoints

    def synced(self) -> None:
        self.is_synced = True


def function_file(directory: Path, code: str, *, name: str = "fn", spec: str = "") -> FunctionSource:
    path = directory / f"{name}.yaml"
    indented = "".join(f"      {line}\n" for line in code.strip("\n").splitlines())
    path.write_text(
        f"apiVersion: wisp.dev/v1alpha1\nkind: Function\nmetadata: {{name: {name}}}\n"
        f"spec:\n  runtime: python3.12\n  handler: main.handler\n{spec}"
        f"  code:\n    inline: |\n{indented}"
    )
    loaded = load_file(path)
    assert not loaded.errors, loaded.errors
    return loaded.functions[0]


@pytest.fixture
async def backend() -> AsyncIterator[LocalBackend]:
    local = LocalBackend(LocalSettings(stop_grace=2.0))
    yield local
    await local.stop()
    if local.fork_server is not None:
        await local.fork_server.stop()


def serve(backend: LocalBackend, source: FunctionSource, tmp_path: Path) -> None:
    backend.upsert_function(source, prepare(source, Workspace(tmp_path / "work", tmp_path / "cache")))


async def test_replicas_started_before_the_gateway_attached_are_routable(
    backend: LocalBackend, tmp_path: Path
) -> None:
    source = function_file(
        tmp_path, "def handler(event, context):\n    return 1\n", spec="  scale: {min: 1}\n"
    )
    serve(backend, source, tmp_path)  # wisp dev loads the folder before the gateway starts
    await eventually(lambda: any(r.endpoint for r in backend.functions[source.key].replicas))
    gateway = Recorder()
    await backend.start(gateway)
    assert gateway.is_synced
    assert len(gateway.endpoints.get(source.key, ())) == 1


async def call(backend: LocalBackend, key: str, event: object = None) -> tuple[int, object]:
    endpoint = await eventually(
        lambda: next((r.endpoint for r in backend.functions[key].replicas if r.endpoint), None)
    )
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"http://{endpoint.address}/", json=event or {}) as response,
    ):
        return response.status, await response.json()


ENVIRONMENT = """
import os
def handler(event, context):
    with open("/proc/self/environ", "rb") as f:
        initial = [item.split(b"=", 1)[0].decode() for item in f.read().split(b"\\0") if item]
    return {"env": dict(os.environ), "initial": initial}
"""


@pytest.mark.parametrize("prewarm", [False, True], ids=["fresh", "forked"])
async def test_runtimes_get_an_explicit_environment_without_the_platforms_secrets(
    backend: LocalBackend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prewarm: bool
) -> None:
    monkeypatch.setenv("WISP_ADMIN_TOKEN", "s3cret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "also-secret")
    monkeypatch.setenv("LANG", "C.UTF-8")
    if prewarm:
        backend.fork_server = ForkServer()
        await backend.fork_server.start()
    source = function_file(
        tmp_path,
        ENVIRONMENT,
        spec="  scale: {min: 1}\n  env: [{name: GREETING, value: hi}]\n",
    )
    serve(backend, source, tmp_path)
    gateway = Recorder()
    await backend.start(gateway)
    status, body = await call(backend, source.key)
    assert status == 200, body
    assert isinstance(body, dict)
    env, initial = body["env"], body["initial"]
    assert env["GREETING"] == "hi"  # the function's own env
    assert env["WISP_FUNCTION_NAME"] == "fn" and env["WISP_MEMORY_MB"]  # the runtime contract
    assert env["LANG"] == "C.UTF-8" and "PATH" in env  # the basics
    for leaked in ("WISP_ADMIN_TOKEN", "AWS_SECRET_ACCESS_KEY"):
        assert leaked not in env
        assert leaked not in initial  # not even in the process's initial environment block


LONG_LINE = """
import os
def handler(event, context):
    print("x" * event["bytes"] + "<end>")
    return {"pid": os.getpid()}
"""


@pytest.mark.parametrize("prewarm", [False, True], ids=["fresh", "forked"])
async def test_a_long_log_line_is_split_and_the_replica_lives_on(tmp_path: Path, prewarm: bool) -> None:
    lines: list[tuple[str, str]] = []
    backend = LocalBackend(
        LocalSettings(stop_grace=2.0), on_line=lambda replica, line: lines.append((replica, line))
    )
    if prewarm:
        backend.fork_server = ForkServer()
        await backend.fork_server.start()
    try:
        source = function_file(tmp_path, LONG_LINE, spec="  scale: {min: 1}\n")
        serve(backend, source, tmp_path)
        await backend.start(Recorder())
        status, first = await call(backend, source.key, {"bytes": 3 * 1024 * 1024})
        assert status == 200, first
        await eventually(lambda: any("<end>" in line for _, line in lines))
        status, second = await call(backend, source.key, {"bytes": 10})
        assert status == 200 and second == first  # the same process answers: it was not replaced
        served = backend.functions[source.key]
        assert [r.name for r in served.replicas] == ["fn-1"]
        [pid] = backend.pids()  # the replica's reaper, the runtime under it
        assert first["pid"] in descendants(pid)  # type: ignore[index]
        pieces = [line for _, line in lines if "xxxx" in line]
        assert max(len(p) for p in pieces) <= MAX_LINE_BYTES
        assert sum(len(p) for p in pieces) >= 3 * 1024 * 1024 + 10  # nothing lost
    finally:
        await backend.stop()
        if backend.fork_server is not None:
            await backend.fork_server.stop()


@pytest.mark.parametrize("size", [0, 1, 5, 7, 8, 9, 20])
def test_lines_are_capped_and_split_without_losing_bytes(size: int) -> None:
    got: list[str] = []
    splitter = LineSplitter(got.append, max_bytes=8)
    data = ("é" * size + "\n" + "ab\ncd").encode()
    for i in range(len(data)):  # byte by byte: the worst case for re-scanning
        splitter.feed(data[i : i + 1])
        assert splitter.buffered <= 8
    splitter.close()
    assert all(len(line.encode()) <= 8 for line in got)
    assert "".join(got[:-2]) == "é" * size  # pieces end on character boundaries
    assert got[-2:] == ["ab", "cd"]


def test_the_restart_backoff_doubles_and_starts_over_after_a_long_run() -> None:
    settings = LocalSettings(restart_backoff=0.5, restart_backoff_max=4.0, backoff_reset=600.0)
    delays: list[float] = []
    previous: float | None = None
    for ran_for in (1.0, 1.0, 1.0, 1.0, 1.0, 599.0, 600.0, 1.0):
        previous = restart_delay(previous, ran_for, settings)
        delays.append(previous)
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 0.5, 1.0]


CRASH = """
import os
def handler(event, context):
    if event.get("crash"):
        os._exit(3)
    return {"pid": os.getpid()}
"""


async def test_a_replica_that_ran_long_enough_restarts_without_growing_backoff(tmp_path: Path) -> None:
    # backoff_reset=0: every run counts as long enough, so every restart waits the first delay.
    backend = LocalBackend(LocalSettings(stop_grace=2.0, restart_backoff=0.01, backoff_reset=0.0))
    try:
        source = function_file(tmp_path, CRASH, spec="  scale: {min: 1}\n")
        serve(backend, source, tmp_path)
        await backend.start(Recorder())
        replica = backend.functions[source.key].replicas[0]
        for crashes in range(1, 4):
            _, before = await call(backend, source.key)
            with contextlib.suppress(aiohttp.ClientError):
                await call(backend, source.key, {"crash": True})
            await eventually(lambda: replica.restarts == crashes and replica.endpoint is not None)  # noqa: B023
            _, after = await call(backend, source.key)
            assert after != before  # a new process
            assert replica.backoff == 0.01
    finally:
        await backend.stop()


HANG = """
import os, threading
def handler(event, context):
    if event.get("hang"):
        threading.Event().wait()
    return {"pid": os.getpid()}
"""


async def test_a_replica_failing_its_liveness_probe_is_restarted(tmp_path: Path) -> None:
    settings = LocalSettings(stop_grace=1.0, liveness_period=0.05, liveness_failures=2, restart_backoff=0.01)
    backend = LocalBackend(settings)
    try:
        # One stuck handler thread exhausts a concurrency-1 runtime: /livez answers 503.
        source = function_file(tmp_path, HANG, spec="  scale: {min: 1}\n  concurrency: 1\n  timeout: 1s\n")
        serve(backend, source, tmp_path)
        await backend.start(Recorder())
        replica = backend.functions[source.key].replicas[0]
        _, before = await call(backend, source.key)
        status, _ = await call(backend, source.key, {"hang": True})
        assert status == 504
        await eventually(lambda: replica.restarts == 1 and replica.endpoint is not None)
        status, after = await call(backend, source.key)
        assert status == 200 and after != before
    finally:
        await backend.stop()


DAEMON = '''
import os, subprocess, sys
# Forks twice and leaves the session: neither the runtime's process group nor its parent holds
# the grandchild any more. Prints the grandchild's pid.
SPAWN = """
import os
r, w = os.pipe()
if os.fork() == 0:
    os.setsid()
    pid = os.fork()
    if pid == 0:
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.execvp("sleep", ["sleep", "1000"])
    os.write(w, str(pid).encode())
    os._exit(0)
os.close(w)
print(os.read(r, 100).decode())
"""
def handler(event, context):
    if event.get("crash"):
        os._exit(3)
    out = subprocess.run([sys.executable, "-c", SPAWN], capture_output=True, text=True, check=True)
    return {"daemon": int(out.stdout)}
'''


@pytest.mark.parametrize("prewarm", [False, True], ids=["fresh", "forked"])
@pytest.mark.parametrize("end", ["stop", "crash"])
async def test_what_a_runtime_starts_ends_with_it(tmp_path: Path, prewarm: bool, end: str) -> None:
    backend = LocalBackend(LocalSettings(stop_grace=2.0, restart_backoff=0.01))
    if prewarm:
        backend.fork_server = ForkServer()
        await backend.fork_server.start()
    daemons: list[int] = []
    try:
        source = function_file(tmp_path, DAEMON, spec="  scale: {min: 1}\n")
        serve(backend, source, tmp_path)
        await backend.start(Recorder())
        status, body = await call(backend, source.key)
        assert status == 200, body
        daemons.append(body["daemon"])  # type: ignore[index]
        assert running(daemons[0])
        if end == "crash":
            replica = backend.functions[source.key].replicas[0]
            with contextlib.suppress(aiohttp.ClientError):
                await call(backend, source.key, {"crash": True})
            await eventually(lambda: replica.restarts == 1)
        else:
            await backend.stop()
        await eventually(lambda: not running(daemons[0]))
    finally:
        await backend.stop()
        if backend.fork_server is not None:
            await backend.fork_server.stop()
        for pid in daemons:
            if running(pid):
                os.kill(pid, signal.SIGKILL)


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


HOG = """
import os, time
def handler(event, context):
    hog = b"x" * (event["mib"] * 1024 * 1024)
    time.sleep(event.get("hold", 0))
    return {"held": len(hog)}
"""


@pytest.mark.parametrize("prewarm", [False, True], ids=["fresh", "forked"])
async def test_a_runtime_over_its_memory_limit_is_killed_and_the_call_says_so(
    tmp_path: Path, prewarm: bool
) -> None:
    lines: list[str] = []
    backend = LocalBackend(
        LocalSettings(stop_grace=2.0, restart_backoff=0.01), on_line=lambda replica, line: lines.append(line)
    )
    if prewarm:
        backend.fork_server = ForkServer()
        await backend.fork_server.start()
    source = function_file(tmp_path, HOG, spec="  scale: {min: 1}\n  memory: 128Mi\n")
    serve(backend, source, tmp_path)
    gateway = TestServer(make_app(GatewayConfig(host="127.0.0.1", pod_name="test"), backend, autoscale=False))
    await gateway.start_server()
    try:
        replica = backend.functions[source.key].replicas[0]
        await eventually(lambda: replica.endpoint is not None)
        async with aiohttp.ClientSession() as session:
            url = str(gateway.make_url("/function/fn"))
            async with session.post(url, json={"mib": 400, "hold": 30}) as response:
                body = await response.json()
            assert response.status == 502, body
            assert body["errorType"] == "Runtime.OutOfMemory" and "128Mi" in body["errorMessage"]
            oom = [json.loads(line) for line in lines if "OutOfMemory" in line]
            assert "128Mi" in oom[0]["message"]  # the replica's log says so too
            assert backend.functions[source.key].info.oom_kills == 1
            await eventually(lambda: replica.restarts == 1 and replica.endpoint is not None)
            async with session.post(url, json={"mib": 1}) as response:
                assert response.status == 200 and await response.json() == {"held": 1024 * 1024}
    finally:
        await gateway.close()
        await backend.stop()
        if backend.fork_server is not None:
            await backend.fork_server.stop()
