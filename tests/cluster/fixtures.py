"""pytest fixtures for the real control plane: one per test session, a namespace per test.

Loaded by ``tests/conftest.py`` as a plugin so every area's tests can ask for ``kubeconfig``,
``kubectl``, ``kube_api``, ``namespace``, ``crds``, ``operator`` and ``node_agent``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from tests.cluster.controlplane import ControlPlane, ControlPlaneUnavailable, start_control_plane
from tests.support.process import stop_process as stop_process  # the cluster tests' import
from tests.support.wait import wait_for as wait_for  # the cluster tests' import

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Kubectl:
    """``kubectl`` bound to the test cluster: ``kubectl("get", "fn", namespace=ns)``."""

    binary: str
    kubeconfig: Path

    def __call__(
        self,
        *args: str,
        input: str | None = None,
        namespace: str | None = None,
        check: bool = True,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        argv = [self.binary, f"--kubeconfig={self.kubeconfig}"]
        if namespace:
            argv.append(f"--namespace={namespace}")
        proc = subprocess.run(
            [*argv, *args], input=input, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    try:
        plane = start_control_plane(workdir=tmp_path_factory.mktemp("k8s"))
    except ControlPlaneUnavailable as exc:
        if os.environ.get("WISP_SKIP_CLUSTER"):
            pytest.skip(f"control plane unavailable: {exc}")
        raise
    yield plane
    plane.stop()


@pytest.fixture(scope="session")
def kubeconfig(control_plane: ControlPlane) -> Path:
    return control_plane.kubeconfig


@pytest.fixture(scope="session")
def kubectl(control_plane: ControlPlane) -> Kubectl:
    return Kubectl(control_plane.kubectl_binary, control_plane.kubeconfig)


@pytest.fixture(scope="session")
def kube_api(kubeconfig: Path) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(kubeconfig))


@pytest.fixture(scope="session")
def crds(kubectl: Kubectl) -> None:
    kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
    kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")


@pytest.fixture
def namespace(kube_api: client.ApiClient, crds: None) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(kube_api)
    core.create_namespace({"metadata": {"name": name, "labels": {"wisp.dev/test": "true"}}})
    yield name
    core.delete_namespace(name, propagation_policy="Background")


@dataclass
class OperatorProcess:
    proc: subprocess.Popen[bytes]
    log: Path

    def logs(self) -> str:
        return self.log.read_text(errors="replace")


def start_operator(
    kubeconfig: Path, log: Path, *extra: str, env: dict[str, str] | None = None
) -> OperatorProcess:
    """``wisp operator`` as a subprocess against the test cluster."""
    full_env = {
        **os.environ,
        "KUBECONFIG": str(kubeconfig),
        "WISP_GATEWAY_URL": "http://gateway.test",
        **(env or {}),
    }
    handle = log.open("ab")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wisp",
            "operator",
            *(() if "--peering" in extra else ("--standalone",)),
            *extra,
        ],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=full_env,
        cwd=ROOT,
    )
    return OperatorProcess(proc, log)


@pytest.fixture(scope="session")
def operator(
    kubeconfig: Path, crds: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """One cluster-wide operator for the session (tests that restart it start their own)."""
    handle = start_operator(
        kubeconfig,
        tmp_path_factory.mktemp("operator") / "operator.log",
        "--namespace",
        "t-*",
        "--liveness-port",
        "0",
    )
    yield handle
    stop_process(handle.proc)


@pytest.fixture(scope="session")
def node_agent(kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Runs the pods of wisp Functions as local runtime processes on 127.42.x.y."""
    from tests.cluster.node_agent import NodeAgent

    agent = NodeAgent(kubeconfig=kubeconfig, workdir=tmp_path_factory.mktemp("node")).start()
    yield agent
    agent.stop()
