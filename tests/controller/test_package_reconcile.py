"""The operator renders a Function whose code is a package: an init step that fetches it by
digest before the runtime starts, no code ConfigMap; a package with no store to come from is
refused in status, naming the field; the installation's pull secret is copied into the
Function's namespace and kept up to date, and a missing one is said in status."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from tests.cluster.fixtures import Kubectl, OperatorProcess, start_operator, wait_for
from tests.controller.test_operator import apply_hello, condition, deployed, get
from tests.support.process import stop_process

pytestmark = pytest.mark.cluster

DIGEST = "sha256:" + "7a" * 32
FIRST, ROTATED = "pw-first-7f3a", "pw-rotated-91cc"  # the registry passwords of the pull secret


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


@pytest.fixture
def two_namespaces(kube_api: client.ApiClient, crds: None) -> Iterator[tuple[str, str]]:
    """The installation's namespace and a function namespace, served by no session operator."""
    core = client.CoreV1Api(kube_api)
    names = (f"pkg-home-{uuid.uuid4().hex[:6]}", f"pkg-fns-{uuid.uuid4().hex[:6]}")
    for name in names:
        core.create_namespace({"metadata": {"name": name, "labels": {"wisp.dev/test": "true"}}})
    yield names
    for name in names:
        core.delete_namespace(name, propagation_policy="Background")


def create_regcred(kubectl: Kubectl, namespace: str, password: str) -> None:
    manifest = kubectl(
        "create", "secret", "docker-registry", "regcred", "--docker-server=reg.example.com",
        "--docker-username=ci", f"--docker-password={password}", "--dry-run=client", "-o", "json",
    ).stdout  # fmt: skip
    kubectl("apply", "-f", "-", input=manifest, namespace=namespace)


def docker_config(kubectl: Kubectl, namespace: str) -> dict[str, object] | None:
    secret = get(kubectl, namespace, "secret", "regcred")
    if secret is None:
        return None
    return dict(json.loads(base64.b64decode(secret["data"][".dockerconfigjson"])))


def test_the_installations_pull_secret_is_copied_to_the_functions_namespace_and_kept_current(
    kubectl: Kubectl, kubeconfig: Path, two_namespaces: tuple[str, str], tmp_path: Path
) -> None:
    home, fns = two_namespaces
    env = {
        "WISP_PACKAGE_PULL_SECRET": "regcred",
        "WISP_PACKAGE_PULL_SECRET_NAMESPACE": home,
        "WISP_RESYNC_SECONDS": "1",
    }
    operator = start_operator(
        kubeconfig, tmp_path / "operator.log", "--namespace", fns, "--liveness-port", "0", env=env
    )
    try:
        # The installation's Secret is missing: said in status; the Deployment is in place.
        apply_hello(
            kubectl, fns, code={"archive": {"digest": DIGEST, "repository": "reg.example.com/team/fns"}}
        )

        def deployed_condition(reason: str) -> dict[str, object] | None:
            cond = condition(get(kubectl, fns, "function", "hello"), "Deployed")
            return cond if cond.get("reason") == reason else None

        cond = wait_for(
            lambda: deployed_condition("PackageAccessDenied"), timeout=120, what="PackageAccessDenied"
        )
        assert cond["status"] == "False"
        assert f"functions.packages.pullSecret: Secret regcred not found in {home}" in str(cond["message"])
        dep = get(kubectl, fns, "deployment", "hello")
        assert dep is not None
        volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
        assert volumes["registry-auth"]["secret"]["secretName"] == "regcred"

        # Once it exists, the Function's namespace gets a labelled copy, and the Function is Deployed.
        create_regcred(kubectl, home, FIRST)
        wait_for(lambda: docker_config(kubectl, fns), timeout=60, what="the copy in the function namespace")
        assert docker_config(kubectl, fns) == docker_config(kubectl, home)
        copy = get(kubectl, fns, "secret", "regcred")
        assert copy is not None and copy["type"] == "kubernetes.io/dockerconfigjson"
        assert copy["metadata"]["labels"]["wisp.dev/pull-secret-copy"] == "true"
        assert copy["metadata"]["annotations"]["wisp.dev/copied-from"] == f"{home}/regcred"
        deployed(kubectl, fns, timeout=60)

        # The source changes (a rotated password): the copy follows.
        create_regcred(kubectl, home, ROTATED)
        wait_for(
            lambda: docker_config(kubectl, fns) == docker_config(kubectl, home),
            timeout=60,
            what="the copy updated from its source",
        )
        assert ROTATED in json.dumps(docker_config(kubectl, fns))
    finally:
        stop_process(operator.proc)
    logs = operator.logs()  # the credentials never reach the operator's log
    assert FIRST not in logs and ROTATED not in logs
