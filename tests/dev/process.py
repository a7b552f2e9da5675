"""``wisp dev`` as a real subprocess for tests and benchmarks: free ports, its output captured,
its runtime children found through ``/proc``, stopped (and checked) at the end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.net import free_port
from tests.support.wait import wait_for

ROOT = Path(__file__).resolve().parents[2]
READY_LINE = "wisp dev: ready"


def children_of(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (runtimes, the fork server and its runtimes, redis)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":
            parents[int(entry)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def direct_children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry))
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(
    method: str,
    url: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 60.0,
) -> Response:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Response(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as exc:
        return Response(exc.code, dict(exc.headers), exc.read())


@dataclass
class WispDev:
    directory: Path
    log: Path
    extra: Sequence[str] = ()
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    admin_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def start(self, *, wait: bool = True, timeout: float = 120.0) -> WispDev:
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wisp",
                "dev",
                str(self.directory),
                "--port",
                str(self.port),
                "--admin-port",
                str(self.admin_port),
                *self.extra,
            ],
            stdout=handle,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env={**os.environ, **self.env},
        )
        handle.close()
        if wait:
            self.wait_for_output(READY_LINE, timeout=timeout)
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for_output(self, text: str, timeout: float = 60.0) -> str:
        def seen() -> bool:
            assert self.process is not None
            if self.process.poll() is not None and text not in self.output():
                raise AssertionError(f"wisp dev exited ({self.process.returncode}):\n{self.output()}")
            return text in self.output()

        wait_for(seen, timeout, f"{text!r} in the output of wisp dev:\n{self.output()[-3000:]}")
        return self.output()

    def call(self, path: str, data: Any = None, method: str = "POST", timeout: float = 60.0) -> Response:
        body = None if data is None else json.dumps(data).encode()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        return http(method, f"{self.url}{path}", body, headers, timeout)

    def endpoints(self, function: str) -> list[str]:
        """The ready endpoints the gateway holds for ``function`` (its admin API)."""
        listed = http("GET", f"{self.admin_url}/system/functions").json()
        return next((f["endpoints"] for f in listed["functions"] if f["function"] == function), [])

    def children(self) -> set[int]:
        """Every process wisp dev runs: runtimes, the fork server, redis-server."""
        assert self.process is not None
        return children_of(self.process.pid)

    def runtimes(self) -> set[int]:
        """One process per replica: the reaper each runtime runs under (``wisp.reaper``), a
        child of wisp dev or of its fork server."""
        assert self.process is not None
        direct = direct_children(self.process.pid)
        fork_servers = {pid for pid in direct if "wisp.dev.forkserver" in command_line(pid)}
        helpers = fork_servers | {pid for pid in direct if "redis-server" in command_line(pid)}
        forked = {pid for server in fork_servers for pid in direct_children(server)}
        return (direct - helpers) | forked

    def signal(self, signum: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def stop(self) -> int:
        """SIGINT (Ctrl-C) and wait; the exit code."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode
