"""An embedded ``redis-server`` child for ``wisp dev`` when no Redis URL is given.

Single machine only: it listens on a free loopback port, keeps no data on disk (queued events
and async results are lost when ``wisp dev`` stops) and dies with its parent (``PDEATHSIG``),
like the runtimes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile

from wisp.dev.children import die_with_parent, stop_child


class EmbeddedRedisError(RuntimeError):
    pass


def redis_server_binary() -> str | None:
    return shutil.which("redis-server")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class EmbeddedRedis:
    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="wisp-dev-redis-")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    async def start(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 - one knob for callers
        self.port = _free_port()
        log = os.path.join(self._dir.name, "redis.log")
        self.process = subprocess.Popen(  # noqa: ASYNC220 - returns at once; readiness is awaited below
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                self._dir.name,
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
                "--logfile",
                log,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent(os.getpid()),  # noqa: PLW1509
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not await _pong(self.port):
            if self.process.poll() is not None or loop.time() > deadline:
                await self.stop()
                raise EmbeddedRedisError(f"redis-server did not start on port {self.port}")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            await stop_child(process)
        self._dir.cleanup()


async def _pong(port: int) -> bool:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    try:
        writer.write(b"PING\r\n")
        return (await reader.readline()).startswith(b"+PONG")
    except OSError:
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
