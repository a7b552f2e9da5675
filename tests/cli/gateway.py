"""A real ``wisp gateway`` process serving one test namespace of the real control plane (for the
CLI and README tests)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cluster.fixtures import ROOT, stop_process, wait_for
from tests.dev.process import http
from tests.support.net import free_port


@dataclass
class GatewayProcess:
    proc: subprocess.Popen[bytes]
    port: int
    admin_port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"


@pytest.fixture
def gateway(kubeconfig: Path, namespace: str, tmp_path: Path) -> Iterator[GatewayProcess]:
    """``wisp gateway`` serving the test's namespace (as the chart runs it, minus the pod)."""
    port, admin = free_port(), free_port()
    log = tmp_path / "gateway.log"
    with log.open("ab") as handle:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wisp",
                "gateway",
                "--kubeconfig",
                str(kubeconfig),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--admin-port",
                str(admin),
                "--namespaces",
                namespace,
                "--default-namespace",
                namespace,
                "--lease-namespace",
                namespace,
                "--autoscale-tick",
                "1",
            ],
            stdout=handle,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            # As the chart's default (gateway.publicByDefault): a Function without access rules is public.
            env={**os.environ, "WISP_PUBLIC_BY_DEFAULT": "true"},
        )
    gw = GatewayProcess(proc, port, admin, log)
    try:
        wait_for(lambda: _ready(gw), timeout=60, what=f"the gateway to sync:\n{log.read_text()}")
        yield gw
    finally:
        stop_process(proc)


def _ready(gw: GatewayProcess) -> bool:
    if gw.proc.poll() is not None:
        raise AssertionError(f"the gateway exited:\n{gw.log.read_text()}")
    try:
        return http("GET", f"{gw.admin_url}/readyz", timeout=2).status == 200
    except OSError:
        return False
