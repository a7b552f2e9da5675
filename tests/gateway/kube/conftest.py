"""``wisp gateway`` processes against the test control plane (real watches, real Leases)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.fixtures import ROOT, stop_process
from tests.support.net import free_port


@dataclass
class GatewayProcess:
    proc: subprocess.Popen[bytes]
    port: int
    admin_port: int
    name: str
    log: Path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def call(
        self, path: str, body: bytes = b"{}", method: str = "POST", timeout: float = 60
    ) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(
            self.url(path),
            data=body if method != "GET" else None,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def admin(self, path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}{path}", timeout=10) as resp:
            return json.loads(resp.read())

    def stop(self) -> None:
        stop_process(self.proc)


GatewayStarter = Callable[..., GatewayProcess]


@pytest.fixture
def start_gateway(kubeconfig: Path, namespace: str, tmp_path: Path) -> Iterator[GatewayStarter]:
    started: list[GatewayProcess] = []

    def start(
        name: str = "gw-0",
        lease: str = "wisp-gateway",
        extra_env: dict[str, str] | None = None,
        serves: str | None = None,  # the namespace it serves and leads in (the test's by default)
    ) -> GatewayProcess:
        port, admin_port = free_port(), free_port()
        log = tmp_path / f"{name}.log"
        scope = serves or namespace
        env = {
            **os.environ,
            "WISP_KUBECONFIG": str(kubeconfig),
            "WISP_GATEWAY_HOST": "127.0.0.1",
            "WISP_GATEWAY_PORT": str(port),
            "WISP_ADMIN_PORT": str(admin_port),
            "WISP_NAMESPACES": scope,
            "WISP_DEFAULT_NAMESPACE": scope,
            "WISP_LEASE_NAME": lease,
            "WISP_LEASE_NAMESPACE": scope,
            "WISP_POD_NAME": name,
            "WISP_AUTOSCALE_TICK": "1",
            "WISP_COLD_START_TIMEOUT": "40",
            "WISP_PUBLIC_BY_DEFAULT": "true",
            **(extra_env or {}),
        }
        handle = log.open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "wisp", "gateway"],
            env=env,
            cwd=ROOT,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        gw = GatewayProcess(proc, port, admin_port, name, log)
        started.append(gw)
        deadline = time.monotonic() + 90  # a Python start on a loaded 2-core machine
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"gateway exited:\n{log.read_text()}")
            try:
                gw.admin("/readyz")
                return gw
            except (OSError, ValueError):
                time.sleep(0.1)
        raise AssertionError(f"gateway not ready:\n{log.read_text()}")

    yield start
    for gw in started:
        gw.stop()
