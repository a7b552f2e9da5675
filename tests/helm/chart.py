"""Helpers for the chart tests: a helm binary per major version, rendering, and object queries.

helm comes from ``tools/install-helm.sh`` (a pinned binary cached in ``~/.cache/wisp/tools``);
rendered manifests are parsed into plain dicts so tests assert on what the API server would get.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "wisp"
INSTALL_HELM = ROOT / "tools" / "install-helm.sh"
HELM_MAJORS = (3, 4)
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job")


def helm_binary(major: int) -> str:
    proc = subprocess.run(
        ["bash", str(INSTALL_HELM), str(major)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"tools/install-helm.sh {major} failed: {proc.stderr.strip()}")
    return proc.stdout.strip().splitlines()[-1]


@dataclass(frozen=True)
class Helm:
    """A helm binary; ``kubeconfig`` set binds it to a cluster."""

    binary: str
    major: int
    home: Path
    kubeconfig: Path | None = None

    def run(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = {
            "HOME": str(self.home),
            "PATH": "/usr/bin:/bin",
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_DATA_HOME": str(self.home / "data"),
        }
        if self.kubeconfig is not None:
            env["KUBECONFIG"] = str(self.kubeconfig)
        proc = subprocess.run(
            [self.binary, *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc

    def bound(self, kubeconfig: Path) -> Helm:
        return Helm(self.binary, self.major, self.home, kubeconfig)


def values_file(directory: Path, values: Mapping[str, Any], name: str = "values.yaml") -> Path:
    path = directory / name
    path.write_text(yaml.safe_dump(dict(values)))
    return path


def template_args(
    values: Path | None = None,
    api_versions: Iterable[str] = (),
    namespace: str = "wisp-system",
    release: str = "wisp",
) -> list[str]:
    args = ["template", release, str(CHART), "--namespace", namespace]
    if values is not None:
        args += ["--values", str(values)]
    for api in api_versions:
        args += ["--api-versions", api]
    return args


def parse(manifest: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(manifest) if doc]


# -- queries --------------------------------------------------------------------------------------


def of_kind(objects: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: Iterable[dict[str, Any]], kind: str, name_suffix: str = "") -> dict[str, Any]:
    found = [o for o in of_kind(objects, kind) if o["metadata"]["name"].endswith(name_suffix)]
    assert len(found) == 1, (
        f"expected one {kind} *{name_suffix}, got {[o['metadata']['name'] for o in found]}"
    )
    return found[0]


def component(obj: Mapping[str, Any]) -> str:
    return str(obj["metadata"].get("labels", {}).get("app.kubernetes.io/component", ""))


def workloads(objects: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] in WORKLOAD_KINDS]


def containers(workload: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    pod = workload["spec"]["template"]["spec"]
    yield from pod.get("initContainers", [])
    yield from pod["containers"]


def env_of(container: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels and matchExpressions) selects these labels."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, vals = expr["key"], expr["operator"], expr.get("values", [])
        ok = {
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
            "In": labels.get(key) in vals,
            "NotIn": labels.get(key) not in vals,
        }[op]
        if not ok:
            return False
    return True


def rules_of(objects: Iterable[dict[str, Any]], component_name: str) -> list[dict[str, Any]]:
    """Every RBAC rule granted to a component, over all its Roles and ClusterRoles."""
    rules: list[dict[str, Any]] = []
    for obj in objects:
        if obj["kind"] in ("Role", "ClusterRole") and component(obj) == component_name:
            rules.extend(obj.get("rules") or [])
    return rules


def grants(rules: Iterable[Mapping[str, Any]], group: str, resource: str, verb: str) -> bool:
    return any(
        group in r.get("apiGroups", []) and resource in r.get("resources", []) and verb in r.get("verbs", [])
        for r in rules
    )


def assert_dns_and_gateway_egress(objects: Iterable[dict[str, Any]], egress: list[dict[str, Any]]) -> None:
    """``egress`` is the deny-by-default baseline's: DNS anywhere, and the gateway's pods on their
    invocation port only (never the admin port, never another pod)."""
    objects = list(objects)
    gateway = one(objects, "Deployment", "-gateway")
    (container,) = (c for c in containers(gateway) if c.get("ports"))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    dns, to_gateway = egress
    assert "to" not in dns and {p["port"] for p in dns["ports"]} == {53}
    (peer,) = to_gateway["to"]
    namespace = gateway["metadata"].get("namespace", "wisp-system")
    assert peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
    assert selector_matches(peer["podSelector"], gateway["spec"]["template"]["metadata"]["labels"])
    assert not selector_matches(peer["podSelector"], {"wisp.dev/function": "hello"})
    assert (
        to_gateway["ports"]
        == [{"protocol": "TCP", "port": ports["http"]}]
        != [{"protocol": "TCP", "port": ports["admin"]}]
    )
