"""The cluster tests' shared parts: a Helm release in a namespace of its own, the chart's
components started from its manifest, and small queries of the cluster."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.fixtures import Kubectl
from tests.helm.chart import CHART, Helm, one, parse, values_file
from tests.helm.components import Component, process_from_manifest, service_account_kubeconfig

HELLO = """
apiVersion: wisp.dev/v1alpha1
kind: Function
metadata:
  name: hello
spec:
  runtime: python3.12
  handler: main.handler
  code:
    inline: |
      def handler(event, context):
          return {"hello": event.get("name", "world")}
  access: {public: true}  # the chart's gateway is private by default (gateway.publicByDefault)
"""
# How a denied request shows in the logs: kopf's APIForbiddenError and the client's "(403)
# Reason: Forbidden", the gateway's "403 Forbidden". (A bare "403" also matches timestamps.)
FORBIDDEN = re.compile(r"[Ff]orbidden")


@dataclass
class Release:
    helm: Helm
    name: str
    namespace: str
    workdir: Path

    def install(self, values: dict[str, Any], *, upgrade: bool = False) -> str:
        path = values_file(self.workdir, values, f"values-{self.name}.yaml")
        verb = "upgrade" if upgrade else "install"
        proc = self.helm.run(
            verb, self.name, str(CHART), "--namespace", self.namespace, "--values", str(path)
        )
        return proc.stdout

    def manifest(self) -> list[dict[str, Any]]:
        return parse(self.helm.run("get", "manifest", self.name, "--namespace", self.namespace).stdout)

    def uninstall(self) -> None:
        self.helm.run("uninstall", self.name, "--namespace", self.namespace, check=False)


@pytest.fixture
def namespace(kubectl: Kubectl, crds: None) -> Iterator[str]:
    """A namespace of this test's own. Not ``t-*``: the shared session operator watches those,
    and here only the chart's operator, with the chart's permissions, may act."""
    name = f"h-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def release(helm: Helm, kubeconfig: Path, namespace: str, tmp_path: Path) -> Iterator[Release]:
    """A release name unique to this test (its cluster-scoped objects carry it), uninstalled after."""
    rel = Release(helm.bound(kubeconfig), f"r{namespace.removeprefix('h-')}", namespace, tmp_path)
    yield rel
    rel.uninstall()


@pytest.fixture
def other_namespace(kubectl: Kubectl, namespace: str) -> Iterator[str]:
    name = f"{namespace}-b"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


def restrict_pod_security(kubectl: Kubectl, namespace: str) -> None:
    """The namespace admits only pods that meet the Pod Security Standards' restricted profile."""
    kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted", "--overwrite")


def function_json(kubectl: Kubectl, namespace: str) -> dict[str, Any]:
    fn: dict[str, Any] = json.loads(
        kubectl("get", "function", "hello", "-o", "json", namespace=namespace).stdout
    )
    return fn


def condition(fn: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for cond in (fn.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


def deployment_replicas(kubectl: Kubectl, namespace: str) -> int | None:
    proc = kubectl(
        "get", "deployment", "hello", "-o", "jsonpath={.spec.replicas}", namespace=namespace, check=False
    )
    return int(proc.stdout) if proc.returncode == 0 and proc.stdout else None


def http(method: str, url: str, body: bytes | None = None, timeout: float = 30) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=body, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except OSError:
        return 0, b""


def forbidden_lines(logs: str) -> list[str]:
    return [line for line in logs.splitlines() if FORBIDDEN.search(line)]


def start_components(
    release: Release,
    kubectl: Kubectl,
    kubeconfig: Path,
    which: tuple[str, ...] = ("operator", "gateway"),
    replicas: dict[str, int] | None = None,
) -> dict[str, Component]:
    """The release's components as local processes: ``operator``, ``gateway``, and replicas
    beyond the first as ``operator-1``, ..."""
    objects = release.manifest()
    started: dict[str, Component] = {}
    for name in which:
        deployment = one(objects, "Deployment", f"-{name}")
        account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        sa_config = service_account_kubeconfig(
            kubectl, kubeconfig, release.namespace, account, release.workdir / f"{name}.kubeconfig"
        )
        for replica in range((replicas or {}).get(name, 1)):
            key = f"{name}-{replica}" if replica else name
            started[key] = process_from_manifest(
                deployment,
                kubectl=kubectl,
                kubeconfig=sa_config,
                namespace=release.namespace,
                log=release.workdir / f"{key}.log",
                replica=replica,
            )
    return started


@pytest.fixture
def components() -> Iterator[dict[str, Component]]:
    """Where a test puts the processes it starts; all are stopped at the end."""
    running: dict[str, Component] = {}
    yield running
    for comp in running.values():
        comp.stop()


def remove_rule(kubectl: Kubectl, kind: str, name: str, namespace: str | None, resource: str) -> None:
    """Take ``resource`` out of every rule of a Role or ClusterRole, as if the chart forgot it."""
    role = json.loads(kubectl("get", kind, name, "-o", "json", namespace=namespace).stdout)
    rules = []
    for rule in role["rules"]:
        kept = [r for r in rule["resources"] if r != resource]
        if kept:
            rules.append({**rule, "resources": kept})
    assert len(rules) < len(role["rules"]) or sum(map(len, (r["resources"] for r in rules))) < sum(
        len(r["resources"]) for r in role["rules"]
    ), f"{kind} {name} has no rule for {resource}"
    kubectl(
        "patch",
        kind,
        name,
        "--type=json",
        "-p",
        json.dumps([{"op": "replace", "path": "/rules", "value": rules}]),
        namespace=namespace,
    )
