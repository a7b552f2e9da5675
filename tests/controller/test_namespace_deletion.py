"""The operator against the real control plane while a namespace holding Functions is deleted:
the API refuses every create in it, and that refusal is no denial to report or retry."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.cluster.admission import refusing_policy
from tests.cluster.fixtures import ROOT, Kubectl, start_operator, stop_process, wait_for
from tests.controller.test_operator import condition, deployed, get

pytestmark = pytest.mark.cluster

FUNCTIONS = ("alpha", "beta")


def hold_functions(ns: str) -> list[dict[str, Any]]:
    """A ValidatingAdmissionPolicy (and its binding) refusing to delete Functions in ``ns``: the
    namespace stays Terminating with its Functions live, not marked for deletion, while the
    namespace controller deletes their children (the order it often takes anyway)."""
    name = f"hold-functions-{ns}"
    rule = {
        "apiGroups": ["wisp.dev"],
        "apiVersions": ["*"],
        "operations": ["DELETE"],
        "resources": ["functions"],
    }
    return refusing_policy(name, ns, rule, {"message": "Functions held for the test"})


def test_a_namespace_being_deleted_is_no_refusal_and_is_not_retried(
    kubectl: Kubectl, kubeconfig: Path, kube_api: client.ApiClient, crds: None, tmp_path: Path
) -> None:
    """The Functions' Deployments and ConfigMaps deleted with their namespace, the Functions
    still there: each reconcile's create is refused (403, NamespaceTerminating). The operator
    tries once per Function, then not even for an edit; it writes no status and logs no refusal
    or 'forbidden' line (which the chart's tests count as RBAC denials)."""
    ns = f"iso-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(kube_api)
    core.create_namespace({"metadata": {"name": ns}})
    hold = yaml.safe_dump_all(hold_functions(ns))
    op = start_operator(kubeconfig, tmp_path / "op.log", "-v", "--namespace", ns, "--liveness-port", "0")
    try:
        hello = yaml.safe_load((ROOT / "examples" / "hello.yaml").read_text())
        functions = [{**hello, "metadata": {"name": name}} for name in FUNCTIONS]
        kubectl("apply", "-f", "-", input=yaml.safe_dump_all(functions), namespace=ns)
        for name in FUNCTIONS:
            deployed(kubectl, ns, name, timeout=60)

        kubectl("apply", "-f", "-", input=hold)

        def holding() -> bool:  # policies take effect asynchronously
            proc = kubectl("delete", "function", FUNCTIONS[0], "--dry-run=server", namespace=ns, check=False)
            return proc.returncode != 0 and "held for the test" in proc.stderr

        wait_for(holding, timeout=30, what="the admission policy to hold the Functions")
        kubectl("delete", "namespace", ns, "--wait=false")

        def refused_writes() -> int:  # creates, and applies of a child deleted since it was read
            return len(re.findall(rf"refused: (?:create|apply) \w+ {ns}/", op.logs()))

        wait_for(
            lambda: refused_writes() >= len(FUNCTIONS),
            timeout=60,
            what="a refused write for each Function (its namespace Terminating)",
        )
        assert core.read_namespace(ns).status.phase == "Terminating"
        first = refused_writes()
        # An edit (allowed in a Terminating namespace) queues the Function's own reconcile, whose
        # refusals the work queue would retry with backoff.
        kubectl(
            "patch",
            "function",
            FUNCTIONS[0],
            "--type=merge",
            "-p",
            '{"spec":{"memory":"192Mi"}}',
            namespace=ns,
        )
        time.sleep(10)  # a window to count retries in: backoff would try again at 2, 4 and 8 s
        assert refused_writes() == first <= 2 * len(FUNCTIONS)
        for name in FUNCTIONS:
            fn = get(kubectl, ns, "function", name)
            assert fn is not None and "deletionTimestamp" not in fn["metadata"]
            assert condition(fn, "Deployed")["status"] == "True", json.dumps(fn.get("status"))

        kubectl("delete", "-f", "-", input=hold)

        def gone() -> bool:
            try:
                core.read_namespace(ns)
            except ApiException as exc:
                return exc.status == 404
            return False

        wait_for(gone, timeout=120, what=f"namespace {ns} deleted")
        logs = op.logs()
        # kopf's own debug lines on the namespace quote its status: this test's policy refusing
        # the namespace controller, not the operator.
        mentions = [line for line in logs.splitlines() if ns in line and "held for the test" not in line]
        assert [line for line in mentions if re.search("forbidden", line, re.IGNORECASE)] == []
        assert "refused a child" not in logs
        assert "Traceback" not in logs
        assert f"Function {ns}/{FUNCTIONS[0]}: not reconciled, its namespace is being deleted" in logs
    finally:
        stop_process(op.proc)
        kubectl("delete", "--ignore-not-found", "-f", "-", input=hold, check=False)
        kubectl("delete", "namespace", ns, "--ignore-not-found", "--wait=false", check=False)
