"""A real ``nats-server`` with JetStream for tests: one server or a 3-server cluster on free
loopback ports, data in a temp dir, stopped (by pid) at the end.

The binary is the pinned upstream release ``build-nats.sh`` builds once through the Go module
proxy into ``~/.cache/wisp/nats/<version>`` (or ``WISP_NATS_SERVER``). Reuse from any test area::

    from tests.support.nats import NatsServer, nats_cluster, nats_server, nats_settings  # noqa: F401

Each test gets its own JetStream stream and subject prefix (``nats_settings``), so tests sharing
the session's server never see each other's events.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.built import built_binary
from tests.support.net import free_port
from tests.support.process import stop_process
from wisp.queue.settings import NatsSettings

START_TIMEOUT = 20.0


def nats_server_binary() -> str:
    return built_binary("build-nats.sh", "nats-server")


def _healthy(monitor_port: int) -> bool:
    """JetStream is up (and, in a cluster, has its meta leader): ``/healthz?js-enabled-only``."""
    try:
        with socket.create_connection(("127.0.0.1", monitor_port), timeout=0.5) as sock:
            sock.sendall(b"GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n")
            return b" 200 " in sock.recv(64)
    except OSError:
        return False


class NatsServer:
    """One nats-server process; its ports and data survive ``restart``/``kill`` + ``start``."""

    def __init__(self, data_dir: Path, *, name: str = "n1", routes: list[int] | None = None) -> None:
        self.data_dir = data_dir
        self.name = name
        self.port = free_port()
        self.monitor_port = free_port()
        self.cluster_port = free_port() if routes is not None else None
        self.routes = routes
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def _config(self) -> Path:
        lines = [
            f'server_name: "{self.name}"',
            f"listen: 127.0.0.1:{self.port}",
            f"http: 127.0.0.1:{self.monitor_port}",
            f'jetstream {{ store_dir: "{self.data_dir / "js"}" }}',
        ]
        if self.cluster_port is not None and self.routes is not None:
            routes = ", ".join(f"nats-route://127.0.0.1:{p}" for p in self.routes if p != self.cluster_port)
            lines.append(
                f'cluster {{ name: "wisp-test", listen: 127.0.0.1:{self.cluster_port}, routes: [{routes}] }}'
            )
        path = self.data_dir / "nats.conf"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self, *, wait: bool = True) -> NatsServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / "nats.log", "ab")  # noqa: SIM115 - the process writes it
        self.process = subprocess.Popen(
            [nats_server_binary(), "-c", str(self._config())], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        if wait:
            self.wait_healthy()
        return self

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not _healthy(self.monitor_port):
            assert self.process is not None
            if self.process.poll() is not None or time.monotonic() > deadline:
                text = (self.data_dir / "nats.log").read_text(errors="replace")[-3000:]
                self.stop()
                raise RuntimeError(f"nats-server {self.name} did not become healthy:\n{text}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None


class NatsCluster:
    """Three servers routed to each other; ``url`` lists them all (clients fail over)."""

    def __init__(self, root: Path, size: int = 3) -> None:
        self.servers = [NatsServer(root / f"n{i}", name=f"n{i}", routes=[]) for i in range(1, size + 1)]
        ports = [s.cluster_port for s in self.servers if s.cluster_port is not None]
        for server in self.servers:
            server.routes = ports

    @property
    def url(self) -> str:
        return ",".join(s.url for s in self.servers)

    def start(self) -> NatsCluster:
        for server in self.servers:
            server.start(wait=False)
        for server in self.servers:
            server.wait_healthy()
        return self

    def heal(self) -> None:
        """Start again every server killed or stopped (same ports and data: it rejoins and
        catches up), and wait until each is healthy."""
        for server in self.servers:
            if server.process is None:
                server.start(wait=False)
        for server in self.servers:
            server.wait_healthy()

    def stop(self) -> None:
        for server in self.servers:
            server.stop()


@pytest.fixture(scope="session")
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    """A 3-server JetStream cluster shared by the session; a test that kills a server heals it."""
    cluster = NatsCluster(tmp_path_factory.mktemp("nats-cluster")).start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path_factory.mktemp("nats")).start()
    yield server
    server.stop()


def fresh_settings(url: str, **overrides: object) -> NatsSettings:
    """Settings with a stream and subject prefix of their own."""
    suffix = uuid.uuid4().hex[:10]
    return NatsSettings(url=url, stream=f"WISP_{suffix}", subject_prefix=f"wisp{suffix}", **overrides)  # type: ignore[arg-type]


@pytest.fixture
def nats_settings(nats_server: NatsServer) -> NatsSettings:
    return fresh_settings(nats_server.url)
