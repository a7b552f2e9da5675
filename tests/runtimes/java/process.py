"""A Java runtime server as a real process, for tests: started, read, called, stopped.

The runtime listens on a free port (``WISP_PORT=0``; the port is read from its
``wisp.runtime.listening`` log line), its stdout is collected line by line (the JSON log), and
``stop()`` terminates it (SIGTERM, then SIGKILL). The command line is the launcher's for Java
(``wisp.launcher.runtime_command``); this synchronous wrapper suits the Java tests' module-scoped
runtimes, while the shared contract table starts Java through the launcher itself.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import Any

from wisp.api import Runtime
from wisp.api.contract import LISTENING_EVENT
from wisp.launcher import runtime_command

START_TIMEOUT = 30.0


def java_command() -> list[str]:
    """The JVM command line the launcher runs for Java functions."""
    return runtime_command(Runtime.JAVA17)


@dataclass
class Reply:
    """An HTTP response as the tests look at it."""

    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class JavaRuntime:
    """One running runtime process."""

    process: subprocess.Popen[bytes]
    stderr_path: Path
    lines: list[str] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._listening = threading.Event()
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            if not self._listening.is_set():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("event") == LISTENING_EVENT:
                    self.port = int(record["port"])
                    self._listening.set()
        self._listening.set()

    def wait_started(self) -> None:
        """Waits until the runtime announced that it listens (it loads its handler first)."""
        if not self._listening.wait(START_TIMEOUT) or not self.port:
            raise RuntimeError(f"the runtime did not start: {self.stderr_text()}")

    def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> Reply:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request(method, path, body=body or None, headers=dict(headers or {}))
            response = connection.getresponse()
            return Reply(response.status, response.msg, response.read())
        finally:
            connection.close()

    def invoke(self, event: Any, headers: Mapping[str, str] | None = None, timeout: float = 30.0) -> Reply:
        """POSTs ``event`` as a JSON event."""
        return self.request(
            "POST",
            "/",
            json.dumps(event).encode(),
            {"Content-Type": "application/json", **(headers or {})},
            timeout,
        )

    def records(self) -> list[dict[str, Any]]:
        """The log so far, each line parsed (every line must be JSON)."""
        return [json.loads(line) for line in list(self.lines)]

    def stderr_text(self) -> str:
        return self.stderr_path.read_text("utf-8", "replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._reader.join(timeout=5)
        if self.process.stdout is not None:
            self.process.stdout.close()


StartJava = Callable[..., JavaRuntime]


def start_runtime(command: list[str], env: Mapping[str, str], stderr: Path) -> JavaRuntime:
    """Starts the runtime with ``env`` (plus WISP_HOST/WISP_PORT for a free loopback port).

    The JVM's own stderr (not the handler's: that is captured into the JSON log) goes to
    ``stderr``.
    """
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("WISP_")}
    with stderr.open("wb") as err:
        process = subprocess.Popen(
            command,
            env={**inherited, **env, "WISP_HOST": "127.0.0.1", "WISP_PORT": "0"},
            stdout=subprocess.PIPE,
            stderr=err,
        )
    runtime = JavaRuntime(process, stderr)
    try:
        runtime.wait_started()
    except BaseException:
        runtime.stop()
        raise
    return runtime
