"""The ``wisp dev`` side of the fork server (``wisp.dev.forkserver``): start it, ask it for
runtimes, and handle each forked runtime like a ``wisp.launcher.RuntimeProcess``.

A forked runtime is not our child (the fork server is its parent), so its end is seen as the
end of its output pipe, and signals go to its process group (it runs in its own session).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import Any

from wisp.api.contract import LISTENING_EVENT
from wisp.dev.children import die_with_parent, stop_child
from wisp.launcher import (
    LaunchError,
    LaunchSpec,
    LineSplitter,
    Readiness,
    base_environment,
    process_exit,
    runtime_images_dir,
)
from wisp.reaper import KILL_NOW, OOM_EVENT

_TAIL = 40
_READ_BYTES = 65536
_DRAIN_SECONDS = 1.0
_KILL_WAIT = 5.0


class ForkServer:
    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="wisp-dev-fork-")
        self.path = os.path.join(self._dir.name, "fork.sock")
        self.process: subprocess.Popen[bytes] | None = None
        self._pythonpath = ""

    async def start(self, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        python_dir = str(runtime_images_dir() / "python")
        existing = os.environ.get("PYTHONPATH")
        # Forked runtimes start from this process's memory, including its initial environment
        # block (``/proc/<pid>/environ``): it holds only what a runtime may see.
        env = {
            **base_environment(),
            "PYTHONPATH": f"{python_dir}{os.pathsep}{existing}" if existing else python_dir,
        }
        self._pythonpath = env["PYTHONPATH"]
        self.process = subprocess.Popen(  # noqa: ASYNC220 - returns at once; readiness awaited below
            [sys.executable, "-m", "wisp.dev.forkserver", self.path],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=None,
            env=env,
            start_new_session=True,
            preexec_fn=die_with_parent(os.getpid()),  # noqa: PLW1509
        )
        assert self.process.stdout is not None
        stdout = self.process.stdout
        try:
            line = await asyncio.wait_for(asyncio.to_thread(stdout.readline), timeout)
        except TimeoutError:
            line = b""
        if line.strip() != b"ready":
            await self.stop()
            raise LaunchError("the Python fork server did not start")

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    async def launch(self, spec: LaunchSpec) -> ForkedRuntime:
        code_dir = os.path.abspath(spec.code_dir)  # noqa: ASYNC240 - no I/O
        env = {
            **base_environment(),
            "PYTHONPATH": self._pythonpath,
            **spec.env,
            "WISP_CODE_DIR": code_dir,
            "WISP_HOST": spec.host,
            "WISP_PORT": str(spec.port),
        }
        read_end, write_end = os.pipe()
        try:
            cwd = code_dir if os.path.isdir(code_dir) else ""  # noqa: ASYNC240 - a stat, no waiting
            request = json.dumps({"env": env, "cwd": cwd})
            answer = await asyncio.to_thread(self._ask, request.encode(), write_end)
        finally:
            os.close(write_end)
        if "pid" not in answer:
            os.close(read_end)
            raise LaunchError(f"the fork server refused: {answer.get('error')}")
        return ForkedRuntime(spec, int(answer["pid"]), read_end)

    def _ask(self, request: bytes, fd: int) -> dict[str, Any]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(self.path)
            socket.send_fds(sock, [request], [fd])
            sock.shutdown(socket.SHUT_WR)
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
        answer: dict[str, Any] = json.loads(data or b"{}")
        return answer

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            await stop_child(process)
        if process is not None and process.stdout is not None:
            process.stdout.close()
        self._dir.cleanup()


class ForkedRuntime:
    """What ``LocalBackend`` needs of a runtime process: readiness, exit, stop.

    Its end is the process's end (a pidfd), not its output's: a runtime whose output breaks,
    or that closes it, is still running and still ours to stop.
    """

    def __init__(self, spec: LaunchSpec, pid: int, output: int) -> None:
        self.spec = spec
        self.pid = pid
        self.returncode: int | None = None
        self._tail: collections.deque[str] = collections.deque(maxlen=_TAIL)
        self._sink: Callable[[str], None] | None = spec.log_sink if callable(spec.log_sink) else None
        loop = asyncio.get_running_loop()
        self._announced: asyncio.Future[Readiness] = loop.create_future()
        self._ended = asyncio.Event()
        self._stopped = False
        self.out_of_memory = False  # its reaper killed it for exceeding WISP_MEMORY_MB
        self._reader = asyncio.create_task(self._read(output))
        self._watcher = asyncio.create_task(self._watch())

    @property
    def output_tail(self) -> list[str]:
        return list(self._tail)

    async def _read(self, fd: int) -> None:
        splitter = LineSplitter(self._line)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
        )
        try:
            while chunk := await reader.read(_READ_BYTES):
                splitter.feed(chunk)
        except OSError:
            pass  # the pipe broke: the process's end is watched apart
        finally:
            splitter.close()
            transport.close()

    async def _watch(self) -> None:
        await process_exit(self.pid)
        # The rest of its output; a child it left behind may hold the pipe, so not for ever.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._reader, _DRAIN_SECONDS)
        self.returncode = 0 if self._stopped else -1
        self._ended.set()

    def _line(self, line: str) -> None:
        self._tail.append(line)
        if OOM_EVENT in line:
            self.out_of_memory = True
        if self._sink is not None:
            self._sink(line)
        if self._announced.done() or LISTENING_EVENT not in line:
            return
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and record.get("event") == LISTENING_EVENT:
                self._announced.set_result(
                    Readiness(self.spec.host, int(record["port"]), bool(record.get("handlerLoaded", True)))
                )

    async def wait_ready(self, timeout: float = 30.0) -> Readiness:  # noqa: ASYNC109
        ended: asyncio.Future[Any] = asyncio.ensure_future(self._ended.wait())
        waiters: set[asyncio.Future[Any]] = {self._announced, ended}
        try:
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
        if self._announced.done():
            return self._announced.result()
        tail = "\n".join(self._tail) or "(no output)"
        if self._ended.is_set():
            raise LaunchError(f"the runtime exited before it listened:\n{tail}")
        raise LaunchError(f"the runtime did not listen within {timeout:g}s:\n{tail}")

    async def wait(self) -> int:
        await self._ended.wait()
        assert self.returncode is not None
        return self.returncode

    async def stop(self, grace: float = 5.0) -> int:
        self._stopped = True
        if not self._ended.is_set():
            self._kill(signal.SIGTERM)  # its reaper passes it on to the runtime
            try:
                await asyncio.wait_for(self._ended.wait(), grace)
            except TimeoutError:
                self._kill(KILL_NOW)  # the reaper kills the runtime and all it started
                try:
                    await asyncio.wait_for(self._ended.wait(), _KILL_WAIT)
                except TimeoutError:
                    self._signal(signal.SIGKILL)
        self._signal(signal.SIGKILL)  # anything left in the group
        await self._watcher
        return self.returncode if self.returncode is not None else 0

    def _kill(self, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.pid, signum)

    def _signal(self, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signum)
