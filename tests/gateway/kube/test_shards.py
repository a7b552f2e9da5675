"""Shards by namespace (docs/scale.md): two operators and two gateways against one API server,
each given one namespace and its own Lease, as two releases of the chart with their own
``watchNamespaces`` run them. Each shard's operator makes only its own Functions Ready, each
gateway routes only its own, and each shard has a leader of its own."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from tests.cluster.fixtures import Kubectl, OperatorProcess, start_operator, stop_process, wait_for
from tests.gateway.kube.conftest import GatewayStarter
from tests.gateway.kube.test_kube_gateway import FUNCTION

pytestmark = [pytest.mark.cluster, pytest.mark.controllers]


@pytest.fixture
def shards(kube_api: client.ApiClient, crds: None) -> Iterator[tuple[str, str]]:
    """Two namespaces the session's operator does not watch (it takes ``t-*``)."""
    core = client.CoreV1Api(kube_api)
    names = (f"s-{uuid.uuid4().hex[:8]}", f"s-{uuid.uuid4().hex[:8]}")
    for name in names:
        core.create_namespace({"metadata": {"name": name, "labels": {"wisp.dev/test": "true"}}})
    yield names
    for name in names:
        core.delete_namespace(name, propagation_policy="Background")


@pytest.fixture
def shard_operators(
    kubeconfig: Path, shards: tuple[str, str], tmp_path: Path
) -> Iterator[list[OperatorProcess]]:
    operators = [
        start_operator(kubeconfig, tmp_path / f"operator-{ns}.log", "--namespace", ns, "--liveness-port", "0")
        for ns in shards
    ]
    yield operators
    for operator in operators:
        stop_process(operator.proc)


def _ready(kubectl: Kubectl, namespace: str, name: str) -> bool:
    got = kubectl("get", "fn", name, "-o", "json", namespace=namespace, check=False)
    if got.returncode != 0:
        return False
    conditions = (json.loads(got.stdout).get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def test_each_shard_reconciles_and_routes_only_its_own_namespaces(
    kubectl: Kubectl,
    kube_api: client.ApiClient,
    shards: tuple[str, str],
    shard_operators: list[OperatorProcess],
    start_gateway: GatewayStarter,
) -> None:
    functions = {shards[0]: "alpha", shards[1]: "beta"}
    for namespace, name in functions.items():
        kubectl("apply", "-f", "-", input=FUNCTION.format(name=name, min=0, idle="30s"), namespace=namespace)
    for namespace, name in functions.items():
        wait_for(lambda ns=namespace, n=name: _ready(kubectl, ns, n), timeout=90, what=f"{name} Ready")  # type: ignore[misc]
    for operator, namespace in zip(shard_operators, shards, strict=True):
        # One Function created in its namespace, none seen from the other. (kopf logs the
        # creation once its handler has returned, which can be after Ready is visible.)
        wait_for(
            lambda op=operator: "Creation is processed" in op.logs(),  # type: ignore[misc]
            timeout=30,
            what=f"{namespace}'s operator to log the creation",
        )
        logs = operator.logs()
        assert logs.count("Creation is processed") == 1, f"{namespace}'s operator:\n{logs[-2000:]}"

    gateways = [start_gateway(f"gw-{ns}", serves=ns) for ns in shards]
    for gateway, (namespace, name) in zip(gateways, functions.items(), strict=True):
        listed = gateway.admin("/system/functions")["functions"]
        assert [(f["namespace"], f["function"]) for f in listed] == [(namespace, name)]
        other_ns, other = next((ns, n) for ns, n in functions.items() if n != name)
        status, _, body = gateway.call(f"/function/{other}.{other_ns}", timeout=10)
        assert status == 404 and json.loads(body)["errorType"] == "FunctionNotFound"

    def holder(namespace: str) -> str | None:
        try:
            lease = client.CoordinationV1Api(kube_api).read_namespaced_lease("wisp-gateway", namespace)
        except client.ApiException:
            return None
        return lease.spec.holder_identity if lease.spec else None

    for gateway, namespace in zip(gateways, shards, strict=True):
        leader = gateway.name
        wait_for(lambda ns=namespace, gw=leader: holder(ns) == gw, timeout=30, what=f"{namespace}'s leader")  # type: ignore[misc]
