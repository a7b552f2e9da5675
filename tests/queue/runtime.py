"""Real Python runtime processes (``python -m wisp_runtime``) serving tests/queue/functions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.support.net import free_port

FUNCTIONS = Path(__file__).parent / "functions"


class RuntimeProcess:
    def __init__(
        self, handler: str, work: Path, env: dict[str, str] | None = None, concurrency: int = 100
    ) -> None:
        self.port = free_port()
        self.record_file = work / f"records-{self.port}.jsonl"
        self.record_file.touch()
        counters = work / "counters"
        counters.mkdir(exist_ok=True)
        self.env = {
            **os.environ,
            "WISP_HANDLER": handler,
            "WISP_CODE_DIR": str(FUNCTIONS),
            "WISP_FUNCTION_NAME": handler.split(".")[-1],
            "WISP_HOST": "127.0.0.1",
            "WISP_PORT": str(self.port),
            "WISP_CONCURRENCY": str(concurrency),
            "WISP_TIMEOUT_SECONDS": "30",
            "RECORD_FILE": str(self.record_file),
            "COUNTER_DIR": str(counters),
            **(env or {}),
        }
        self.log = (work / f"runtime-{self.port}.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "wisp_runtime"],
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"runtime exited: {Path(self.log.name).read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("runtime did not become ready")

    def records(self, kind: str = "done") -> list[dict[str, Any]]:
        lines = self.record_file.read_text().splitlines()
        parsed = [json.loads(line) for line in lines if line.strip()]
        return [r for r in parsed if r["kind"] == kind]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
