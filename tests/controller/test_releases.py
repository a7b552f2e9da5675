"""Versions and aliases with the real control plane and operator: publishing (spec.publish and
``wisp publish``), each version rendered as its own Deployment, aliases refused when they name a
version that does not exist, and ``wisp versions``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.fixtures import ROOT, Kubectl, OperatorProcess, wait_for
from tests.controller.test_operator import condition, get

pytestmark = pytest.mark.cluster


def hello(**spec: Any) -> dict[str, Any]:
    obj = yaml.safe_load((ROOT / "examples" / "hello.yaml").read_text())
    obj["spec"].update(spec)
    return dict(obj)


def apply(
    kubectl: Kubectl, ns: str, obj: dict[str, Any], check: bool = True
) -> subprocess.CompletedProcess[str]:
    return kubectl("apply", "-f", "-", input=yaml.safe_dump(obj), namespace=ns, check=check)


def wisp(kubeconfig: Path, ns: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wisp", *args, "--kubeconfig", str(kubeconfig), "-n", ns],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def version_deployed(kubectl: Kubectl, ns: str, name: str) -> dict[str, Any]:
    def deployed() -> dict[str, Any] | None:
        obj = get(kubectl, ns, "functionversion", name)
        return obj if condition(obj, "Deployed").get("status") == "True" else None

    return dict(wait_for(deployed, timeout=60, what=f"FunctionVersion {name} Deployed"))


def latest(kubectl: Kubectl, ns: str, n: int) -> None:
    wait_for(
        lambda: ((get(kubectl, ns, "function", "hello") or {}).get("status") or {}).get("latestVersion") == n,
        timeout=60,
        what=f"status.latestVersion {n}",
    )


def test_publish_renders_each_version_and_aliases_name_only_published_ones(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess, kubeconfig: Path
) -> None:
    apply(kubectl, namespace, hello(publish=True))
    v1 = version_deployed(kubectl, namespace, "hello-v1")
    assert v1["spec"]["function"] == "hello" and v1["spec"]["version"] == 1
    assert v1["status"]["url"].endswith(f"/function/hello.{namespace}:1")
    deployment = get(kubectl, namespace, "deployment", "hello-v1")
    assert deployment is not None
    owner = deployment["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"]) == ("FunctionVersion", v1["metadata"]["uid"])
    latest(kubectl, namespace, 1)

    # A new code publishes version 2; the same code again publishes nothing.
    changed = hello(publish=True, code={"inline": "def handler(e, c):\n    return {'v': 2}\n"})
    apply(kubectl, namespace, changed)
    version_deployed(kubectl, namespace, "hello-v2")
    latest(kubectl, namespace, 2)
    stored = get(kubectl, namespace, "function", "hello")
    assert stored is not None
    apply(kubectl, namespace, changed)

    # An alias may name versions 1 and 2, not 3.
    refused = apply(kubectl, namespace, hello(aliases={"prod": {"version": 3}}), check=False)
    assert refused.returncode != 0 and "spec.aliases" in refused.stderr, refused.stderr
    canary = {"prod": {"version": 1, "additionalVersionWeights": {"2": 10}}}
    apply(kubectl, namespace, {**changed, "spec": {**changed["spec"], "aliases": canary}})

    def marked() -> bool:
        return all(
            ((get(kubectl, namespace, "fnv", f"hello-v{n}") or {}).get("status") or {}).get("referenced")
            is True
            for n in (1, 2)
        )

    wait_for(marked, timeout=60, what="versions 1 and 2 referenced")
    listed = wisp(kubeconfig, namespace, "versions", "hello")
    assert listed.returncode == 0, listed.stderr
    lines = {line.split()[0]: line for line in listed.stdout.splitlines()[1:]}
    assert set(lines) == {"1", "2"}
    assert "prod 90%" in lines["1"] and "prod 10%" in lines["2"]

    # A rollback: the alias names version 1 alone; version 2 is then unreferenced.
    rolled = wisp(kubeconfig, namespace, "alias", "hello", "prod", "1")
    assert rolled.returncode == 0, rolled.stderr
    fn = get(kubectl, namespace, "function", "hello")
    assert fn is not None and fn["spec"]["aliases"] == {"prod": {"version": 1}}
    wait_for(
        lambda: (
            ((get(kubectl, namespace, "fnv", "hello-v2") or {}).get("status") or {}).get("referenced")
            is False
        ),
        timeout=60,
        what="version 2 unreferenced",
    )
    unknown = wisp(kubeconfig, namespace, "alias", "hello", "prod", "9")
    assert unknown.returncode != 0 and "spec.aliases" in unknown.stderr, unknown.stderr
    assert len(kubectl("get", "fnv", "-o", "name", namespace=namespace).stdout.split()) == 2


def test_wisp_publish_publishes_once_per_snapshot(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess, kubeconfig: Path
) -> None:
    apply(kubectl, namespace, hello())
    first = wisp(kubeconfig, namespace, "publish", "hello")
    assert first.returncode == 0, first.stderr
    assert "version 1" in first.stdout
    again = wisp(kubeconfig, namespace, "publish", "hello")
    assert again.returncode == 0 and "version 1" in again.stdout, again.stdout + again.stderr
    apply(kubectl, namespace, hello(memory="256Mi"))
    second = wisp(kubeconfig, namespace, "publish", "hello")
    assert second.returncode == 0 and "version 2" in second.stdout, second.stdout + second.stderr
    v2 = get(kubectl, namespace, "fnv", "hello-v2")
    assert v2 is not None and v2["spec"]["template"]["memory"] == "256Mi"
    missing = wisp(kubeconfig, namespace, "publish", "nope")
    assert missing.returncode != 0 and "nope" in missing.stderr


def test_a_queue_trigger_naming_an_alias_is_bound_once_the_alias_exists(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    apply(kubectl, namespace, hello(publish=True))
    latest(kubectl, namespace, 1)
    trigger = {
        "apiVersion": "wisp.dev/v1alpha1",
        "kind": "Trigger",
        "metadata": {"name": "orders"},
        "spec": {"function": "hello", "qualifier": "prod", "queue": {"stream": "orders"}},
    }
    apply(kubectl, namespace, trigger)

    def bound(reason: str) -> dict[str, Any] | None:
        cond = condition(get(kubectl, namespace, "trigger", "orders"), "Bound")
        return cond if cond.get("reason") == reason else None

    cond = wait_for(lambda: bound("QualifierNotFound"), timeout=60, what="Bound=False, QualifierNotFound")
    assert cond["status"] == "False" and "spec.qualifier" in cond["message"] and "prod" in cond["message"]
    apply(kubectl, namespace, hello(publish=True, aliases={"prod": {"version": 1}}))
    cond = wait_for(lambda: bound("Bound"), timeout=60, what="Bound=True once the alias exists")
    assert cond["status"] == "True" and "hello:prod" in cond["message"]


def test_a_trigger_naming_an_unpublished_version_is_bound_once_it_is_published(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    apply(kubectl, namespace, hello(publish=True))
    latest(kubectl, namespace, 1)
    for name, qualifier in (("to-one", "1"), ("to-two", "2")):
        trigger = {
            "apiVersion": "wisp.dev/v1alpha1",
            "kind": "Trigger",
            "metadata": {"name": name},
            "spec": {"function": "hello", "qualifier": qualifier, "queue": {"stream": name}},
        }
        apply(kubectl, namespace, trigger)

    def bound(name: str, reason: str) -> dict[str, Any] | None:
        cond = condition(get(kubectl, namespace, "trigger", name), "Bound")
        return cond if cond.get("reason") == reason else None

    cond = wait_for(lambda: bound("to-two", "QualifierNotFound"), timeout=60, what="to-two QualifierNotFound")
    assert cond["status"] == "False"
    assert "spec.qualifier" in cond["message"] and "version 2" in cond["message"], cond
    assert wait_for(lambda: bound("to-one", "Bound"), timeout=60, what="to-one Bound")["status"] == "True"

    apply(kubectl, namespace, hello(publish=True, memory="256Mi"))  # a new configuration: version 2
    cond = wait_for(lambda: bound("to-two", "Bound"), timeout=60, what="to-two Bound once version 2 exists")
    assert cond["status"] == "True" and "hello:2" in cond["message"]
