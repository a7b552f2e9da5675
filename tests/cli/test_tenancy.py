"""Namespaces as tenants from the command line, against the real API server: ``wisp list -A``
shows the Functions of every namespace the caller's own credential may list, and nothing else
(docs/tenancy.md)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.cli.conftest import Wisp
from tests.cluster.controlplane import ControlPlane, write_kubeconfig
from tests.cluster.fixtures import Kubectl

pytestmark = pytest.mark.cluster

READ_FUNCTIONS = "get,list,watch"


def function(name: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "wisp.dev/v1alpha1",
            "kind": "Function",
            "metadata": {"name": name},
            "spec": {
                "runtime": "python3.12",
                "handler": "main.handler",
                "code": {"inline": "def handler(e, c): pass"},
            },
        }
    )


def credential(plane: ControlPlane, tmp_path: Path, user: str, namespace: str) -> Path:
    """A kubeconfig of ``user`` (a client certificate, no group) whose context is ``namespace``."""
    assert plane.ca is not None
    pair = plane.ca.issue(f"{user}-{uuid.uuid4().hex[:6]}", user)
    path = write_kubeconfig(tmp_path / f"{user}.kubeconfig", plane.server, plane.ca.pair.cert, pair, user)
    config = yaml.safe_load(path.read_text())
    config["contexts"][0]["context"]["namespace"] = namespace
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def tenants(kubectl: Kubectl, namespace: str) -> Iterator[tuple[str, str]]:
    """Two namespaces with a Function each: the test's own and another."""
    other = f"{namespace}-b"
    kubectl("create", "namespace", other)
    kubectl("apply", "-f", "-", input=function("alpha"), namespace=namespace)
    kubectl("apply", "-f", "-", input=function("beta"), namespace=other)
    yield namespace, other
    kubectl("delete", "namespace", other, "--wait=false")


def listed(wisp: Wisp, kubeconfig: Path, *args: str) -> list[tuple[str, str]]:
    out = wisp("list", "--kubeconfig", str(kubeconfig), "-o", "json", *args)
    assert out.returncode == 0, out.stderr
    return sorted((row["namespace"], row["name"]) for row in json.loads(out.stdout))


def test_wisp_list_shows_what_the_callers_credential_may_see(
    wisp: Wisp,
    kubectl: Kubectl,
    kubeconfig: Path,
    control_plane: ControlPlane,
    tenants: tuple[str, str],
    tmp_path: Path,
) -> None:
    a, b = tenants
    ours = {(a, "alpha"), (b, "beta")}
    # The cluster admin sees both tenants (and whatever else the cluster holds).
    assert ours <= set(listed(wisp, kubeconfig, "-A"))

    # A tenant bound in its own namespace only: -A shows that namespace's Functions.
    tenant = f"tenant-{uuid.uuid4().hex[:6]}"
    kubectl(
        "create",
        "role",
        "fn-reader",
        "--verb",
        READ_FUNCTIONS,
        "--resource",
        "functions.wisp.dev",
        namespace=a,
    )
    kubectl("create", "rolebinding", "fn-reader", "--role", "fn-reader", "--user", tenant, namespace=a)
    tenant_config = credential(control_plane, tmp_path, tenant, a)
    assert listed(wisp, tenant_config, "-A") == [(a, "alpha")]
    refused = wisp("list", "--kubeconfig", str(tenant_config), "-n", b)
    assert refused.returncode != 0 and "not allowed" in refused.stderr and "beta" not in refused.stdout

    # One who may list namespaces but read Functions in the other one only: that one, looked up
    # namespace by namespace.
    viewer = f"viewer-{uuid.uuid4().hex[:6]}"
    kubectl("create", "clusterrole", viewer, "--verb", "list", "--resource", "namespaces")
    kubectl("create", "clusterrolebinding", viewer, "--clusterrole", viewer, "--user", viewer)
    kubectl(
        "create",
        "role",
        "fn-reader",
        "--verb",
        READ_FUNCTIONS,
        "--resource",
        "functions.wisp.dev",
        namespace=b,
    )
    kubectl("create", "rolebinding", "fn-viewer", "--role", "fn-reader", "--user", viewer, namespace=b)
    try:
        viewer_config = credential(control_plane, tmp_path, viewer, a)
        assert listed(wisp, viewer_config, "-A") == [(b, "beta")]
        table = wisp("list", "--kubeconfig", str(viewer_config), "-A")
        assert table.stdout.split()[:2] == ["NAMESPACE", "NAME"] and "alpha" not in table.stdout
    finally:
        kubectl("delete", "clusterrolebinding,clusterrole", viewer)
