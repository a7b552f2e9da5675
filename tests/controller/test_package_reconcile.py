"""The operator renders a Function whose code is a package: an init step that fetches it by
digest before the runtime starts, no code ConfigMap; a package with no store to come from is
refused in status, naming the field."""

from __future__ import annotations

import pytest

from tests.cluster.fixtures import Kubectl, OperatorProcess, wait_for
from tests.controller.test_operator import apply_hello, condition, deployed, get

pytestmark = pytest.mark.cluster

DIGEST = "sha256:" + "7a" * 32


def test_a_package_is_fetched_by_an_init_step_and_needs_no_configmap(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    apply_hello(
        kubectl, namespace, code={"archive": {"digest": DIGEST, "repository": "reg.example.com/team/fns"}}
    )
    deployed(kubectl, namespace, timeout=120)
    dep = get(kubectl, namespace, "deployment", "hello")
    assert dep is not None
    pod = dep["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    assert init["name"] == "fetch-code"
    assert init["args"][:5] == ["fetch-code", "--digest", DIGEST, "--into", "/var/wisp/code"]
    assert {"name": "code", "emptyDir": {}} in pod["volumes"]
    assert get(kubectl, namespace, "configmap", "hello-code") is None


def test_a_package_without_a_store_is_refused_naming_the_field(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    apply_hello(kubectl, namespace, code={"archive": {"digest": DIGEST}})

    def refused() -> dict[str, object]:
        return condition(get(kubectl, namespace, "function", "hello"), "Deployed")

    cond = wait_for(
        lambda: refused().get("reason") == "InvalidSpec" and refused(), timeout=120, what="InvalidSpec"
    )
    assert cond["status"] == "False"
    assert "spec.code.archive.repository" in str(cond["message"])
    assert get(kubectl, namespace, "deployment", "hello") is None
