"""Run the chart's operator and gateway as local processes with the chart's identity and wiring.

``ServiceAccountKubeconfig`` writes a kubeconfig that authenticates as one of the chart's
ServiceAccounts with a short-lived token from the TokenRequest API (``kubectl create token``):
the API server then authorizes every request exactly as it would for the pod. (A kubeconfig's
``as:`` impersonation is ignored by the Python client that kopf and the gateway use, so it would
silently run them as the test's admin.)

``process_from_manifest`` starts the container of a rendered Deployment as it would run in the
pod: the same arguments and environment (field and Secret references resolved against the
cluster), with ports moved to free loopback ports and the kubeconfig added.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.cluster.fixtures import Kubectl, stop_process

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def service_account_kubeconfig(
    kubectl: Kubectl, admin_kubeconfig: Path, namespace: str, account: str, path: Path
) -> Path:
    """A kubeconfig that authenticates as ``system:serviceaccount:<namespace>:<account>``."""
    token = kubectl("create", "token", account, "--duration=1h", namespace=namespace).stdout.strip()
    admin = yaml.safe_load(admin_kubeconfig.read_text())
    cluster = admin["clusters"][0]
    user = f"system:serviceaccount:{namespace}:{account}"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": account, "context": {"cluster": cluster["name"], "user": user}}],
        "current-context": account,
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


@dataclass
class Component:
    """A running operator or gateway process and its combined log."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    ports: dict[str, int]

    def logs(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.proc)


def resolve_env(
    container: Mapping[str, Any], kubectl: Kubectl, namespace: str, pod_name: str
) -> dict[str, str]:
    """The container's environment with field and Secret references resolved."""
    env: dict[str, str] = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
            continue
        source = item["valueFrom"]
        if "fieldRef" in source:
            field = source["fieldRef"]["fieldPath"]
            env[item["name"]] = {"metadata.namespace": namespace, "metadata.name": pod_name}[field]
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            secret = json.loads(
                kubectl("get", "secret", ref["name"], "-o", "json", namespace=namespace).stdout
            )
            env[item["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode()
        else:
            raise AssertionError(f"unsupported env source {source}")
    return env


def process_from_manifest(
    deployment: Mapping[str, Any],
    *,
    kubectl: Kubectl,
    kubeconfig: Path,
    namespace: str,
    log: Path,
    env_overrides: Mapping[str, str] | None = None,
    replica: int = 0,
) -> Component:
    """Start the Deployment's first container locally, as replica ``replica`` of its pod."""
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    pod_name = f"{deployment['metadata']['name']}-local-{replica}"
    env = resolve_env(container, kubectl, namespace, pod_name)
    command = list(container["command"])
    assert command[0] == "wisp", command
    args = [*command[1:], *container.get("args", [])]
    ports: dict[str, int] = {}
    # The pod's ports, moved to free loopback ports: flags and environment variables both.
    for i, arg in enumerate(args):
        if arg.startswith("--liveness-port="):
            ports["health"] = free_port()
            args[i] = f"--liveness-port={ports['health']}"
    for var, port_name in (("WISP_GATEWAY_PORT", "http"), ("WISP_ADMIN_PORT", "admin")):
        if var in env:
            ports[port_name] = free_port()
            env[var] = str(ports[port_name])
    if command[1] == "operator":
        args.append(f"--kubeconfig={kubeconfig}")
    env["WISP_KUBECONFIG"] = str(kubeconfig)
    env.update(env_overrides or {})
    full_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "KUBECONFIG": str(kubeconfig),
        "PYTHONUNBUFFERED": "1",
        **env,
    }
    handle = log.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "wisp", *args],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env=full_env,
        cwd=ROOT,
    )
    handle.close()
    return Component(f"{command[1]}-{replica}", proc, log, ports)
