"""The runtime lifecycle at kubectl apply time, by the policies the chart ships, on a real
API server: creates on a deprecated runtime refused naming the date and the replacement,
existing Functions still editable with a warning, edits refused after the block date."""

from __future__ import annotations

import copy
import datetime
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from tests.cluster.fixtures import Kubectl, wait_for
from wisp.resources.runtimepolicy import make_runtime_policies

pytestmark = pytest.mark.cluster

TODAY = datetime.date(2026, 12, 4)
AFTER_BLOCK = datetime.date(2027, 3, 2)  # nodejs20's block-update date has passed


def function(name: str, runtime: str, memory: str = "128Mi") -> dict[str, Any]:
    return {
        "apiVersion": "wisp.dev/v1alpha1",
        "kind": "Function",
        "metadata": {"name": name},
        "spec": {"runtime": runtime, "handler": "index.handler", "memory": memory, "code": {"inline": "x"}},
    }


Install = Callable[[datetime.date], None]


@pytest.fixture
def install_policies(kubectl: Kubectl, namespace: str) -> Iterator[Install]:
    """Applies the chart's policies as of a day, bound to this test's namespace only (the
    control plane is shared with other tests), and waits until the API server enforces them."""
    names: list[tuple[str, str]] = []

    def refuses(probe: str) -> bool:
        create = ("create", "--dry-run=server", "-f", "-")
        return kubectl(*create, input=probe, namespace=namespace, check=False).returncode != 0

    def install(as_of: datetime.date) -> None:
        probe = yaml.safe_dump(function(f"probe-{as_of:%Y%m%d}", "nodejs20"))
        if names:
            for kind, name in names:
                kubectl("delete", kind, name, "--ignore-not-found")
            names.clear()
            # The API server drops removed policies from its cache a little later: until it
            # has, the next policies' effect could not be told from the old ones'.
            wait_for(lambda: not refuses(probe), what="the earlier runtime policies to be gone")
        documents = copy.deepcopy(make_runtime_policies(as_of))
        suffix = f"-{namespace}-{as_of:%Y%m%d}"
        for doc in documents:
            doc["metadata"]["name"] += suffix
            if doc["kind"] == "ValidatingAdmissionPolicyBinding":
                doc["spec"]["policyName"] += suffix
                doc["spec"]["matchResources"] = {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
                }
            names.append((doc["kind"].lower(), doc["metadata"]["name"]))
        kubectl("apply", "-f", "-", input=yaml.safe_dump_all(documents))
        wait_for(lambda: refuses(probe), what="the runtime policies to be enforced")

    yield install
    for kind, name in names:
        kubectl("delete", kind, name, "--ignore-not-found")


def apply(kubectl: Kubectl, namespace: str, obj: dict[str, Any]) -> Any:
    return kubectl("apply", "-f", "-", input=yaml.safe_dump(obj), namespace=namespace, check=False)


def test_deprecated_runtime_lifecycle_at_apply_time(
    kubectl: Kubectl, namespace: str, install_policies: Install
) -> None:
    # Functions that existed before the runtime's dates.
    for obj in (function("old", "nodejs20"), function("other", "python3.12")):
        assert apply(kubectl, namespace, obj).returncode == 0
    install_policies(TODAY)

    refused = apply(kubectl, namespace, function("new", "nodejs20"))
    assert refused.returncode != 0
    assert "deprecated on 2026-04-30" in refused.stderr and "use nodejs24" in refused.stderr

    edited = apply(kubectl, namespace, function("old", "nodejs20", memory="256Mi"))
    assert edited.returncode == 0, edited.stderr
    assert "Warning:" in edited.stderr and "nodejs24" in edited.stderr

    switched = apply(kubectl, namespace, function("other", "nodejs20"))
    assert switched.returncode != 0 and "new Functions cannot use it" in switched.stderr

    soon = apply(kubectl, namespace, function("soon", "nodejs22"))
    assert soon.returncode == 0, soon.stderr
    assert "Warning:" in soon.stderr and "2027-04-30" in soon.stderr

    current = apply(kubectl, namespace, function("current", "nodejs24"))
    assert current.returncode == 0 and "Warning" not in current.stderr

    install_policies(AFTER_BLOCK)
    blocked = apply(kubectl, namespace, function("old", "nodejs20", memory="512Mi"))
    assert blocked.returncode != 0 and "blocked for updates since 2027-03-01" in blocked.stderr
    labelled = kubectl("label", "fn", "old", "team=a", namespace=namespace, check=False)
    assert labelled.returncode == 0, labelled.stderr  # metadata stays editable
    moved = apply(kubectl, namespace, function("old", "nodejs24", memory="512Mi"))
    assert moved.returncode == 0, moved.stderr
    assert kubectl("delete", "fn", "soon", namespace=namespace, check=False).returncode == 0
