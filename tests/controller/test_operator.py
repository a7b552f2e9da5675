"""The operator against the real control plane: a Function becomes running pieces."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.cluster.admission import refusing_policy
from tests.cluster.fixtures import ROOT, Kubectl, OperatorProcess, start_operator, stop_process, wait_for

pytestmark = pytest.mark.cluster


def get(kubectl: Kubectl, ns: str, *what: str) -> dict[str, Any] | None:
    proc = kubectl("get", *what, "-o", "json", namespace=ns, check=False)
    return json.loads(proc.stdout) if proc.returncode == 0 else None


def condition(fn: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    for cond in ((fn or {}).get("status") or {}).get("conditions") or ():
        if cond["type"] == kind:
            return dict(cond)
    return {}


def apply_hello(kubectl: Kubectl, ns: str, **spec: Any) -> dict[str, Any]:
    obj = yaml.safe_load((ROOT / "examples" / "hello.yaml").read_text())
    obj["spec"].update(spec)
    kubectl("apply", "-f", "-", input=yaml.safe_dump(obj), namespace=ns)
    return obj


def deployed(kubectl: Kubectl, ns: str, name: str = "hello", timeout: float = 30) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        fn = get(kubectl, ns, "function", name)
        return fn if condition(fn, "Deployed").get("status") == "True" else None

    return dict(wait_for(ready, timeout=timeout, what=f"Function {name} Deployed"))


def test_hello_gets_configmap_deployment_service(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    apply_hello(kubectl, namespace)
    fn = deployed(kubectl, namespace)
    uid = fn["metadata"]["uid"]

    cm = get(kubectl, namespace, "configmap", "hello-code")
    dep = get(kubectl, namespace, "deployment", "hello")
    svc = get(kubectl, namespace, "service", "hello")
    assert cm and dep and svc
    assert "def handler(event, context)" in cm["data"]["main.py"]
    for child in (cm, dep, svc):
        assert child["metadata"]["labels"]["wisp.dev/function"] == "hello"
        assert child["metadata"]["ownerReferences"][0]["uid"] == uid
    assert dep["spec"]["replicas"] == 0
    container = dep["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["WISP_HANDLER"] == "main.handler" and env["WISP_TIMEOUT_SECONDS"] == "10"
    assert env["WISP_MEMORY_MB"] == "128"
    assert container["resources"]["limits"]["memory"] == "128Mi"
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
    # Small inline code starts with no volume: its code in its environment, /tmp bounded.
    assert json.loads(env["WISP_CODE"]) == cm["data"]
    assert "volumes" not in dep["spec"]["template"]["spec"]
    assert container["resources"]["limits"]["ephemeral-storage"] == "512Mi"
    # Headless, and selecting nothing: no cluster IP spent and no EndpointSlice made per Function.
    assert svc["spec"]["clusterIP"] == "None" and "selector" not in svc["spec"]

    status = fn["status"]
    assert status["url"].endswith("/function/hello." + namespace)
    assert status["observedGeneration"] == fn["metadata"]["generation"]
    assert condition(fn, "Ready")["reason"] == "ScaledToZero"
    assert condition(fn, "ScaledToZero")["status"] == "True"
    events = kubectl(
        "get", "events", "--field-selector", "involvedObject.name=hello", namespace=namespace
    ).stdout
    assert "created Deployment hello" in events


def test_code_change_rolls_the_pod_template(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    apply_hello(kubectl, namespace)
    deployed(kubectl, namespace)
    before = get(kubectl, namespace, "deployment", "hello")
    assert before
    old_hash = before["spec"]["template"]["metadata"]["annotations"]["wisp.dev/config-hash"]

    apply_hello(kubectl, namespace, code={"inline": "def handler(event, context):\n    return 'v2'\n"})

    def rolled() -> dict[str, Any] | None:
        dep = get(kubectl, namespace, "deployment", "hello")
        new = (dep or {}).get("spec", {}).get("template", {}).get("metadata", {}).get("annotations", {})
        return dep if new.get("wisp.dev/config-hash") not in (None, old_hash) else None

    wait_for(rolled, what="a new pod template hash")
    cm = get(kubectl, namespace, "configmap", "hello-code")
    assert cm and "'v2'" in cm["data"]["main.py"]


def test_what_a_function_no_longer_has_leaves_its_pods_and_code(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    """A variable, a Secret file and a code file taken out of a Function go from its Deployment
    and its ConfigMap, although the operator created them with all three; replicas stay."""
    main = "def handler(event, context):\n    return event\n"
    kubectl("create", "secret", "generic", "keys", "--from-literal=key=value", namespace=namespace)
    apply_hello(
        kubectl,
        namespace,
        code={"files": {"main.py": main, "notes.txt": "old"}},
        env=[{"name": "KEEP", "value": "1"}, {"name": "DROP", "value": "2"}],
        secrets=[{"name": "keys"}],
    )
    first = deployed(kubectl, namespace)
    dep = get(kubectl, namespace, "deployment", "hello") or {}
    assert {"name": "DROP", "value": "2"} in dep["spec"]["template"]["spec"]["containers"][0]["env"]
    apply_hello(kubectl, namespace, code={"files": {"main.py": main}}, env=[{"name": "KEEP", "value": "1"}])
    generation = first["metadata"]["generation"]
    wait_for(
        lambda: deployed(kubectl, namespace)["status"]["observedGeneration"] > generation,
        what="the change reconciled",
    )

    def pruned() -> dict[str, Any] | None:
        dep = get(kubectl, namespace, "deployment", "hello") or {}
        cm = get(kubectl, namespace, "configmap", "hello-code") or {}
        pod = dep["spec"]["template"]["spec"]
        names = {e["name"] for e in pod["containers"][0]["env"]}
        secrets = [v for v in pod.get("volumes") or () if "secret" in v]
        files = set(cm.get("data") or {})
        gone = "DROP" not in names and not secrets and files == {"main.py"}
        return dep if gone and "KEEP" in names else None

    dep = wait_for(pruned, what="the variable, the Secret volume and the file gone")
    assert dep["spec"]["replicas"] == 0


def test_hand_edit_is_reverted_but_replicas_are_kept(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    apply_hello(kubectl, namespace)
    deployed(kubectl, namespace)
    original = get(kubectl, namespace, "deployment", "hello") or {}
    image = original["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.startswith("wisp/runtime-python:")
    kubectl("scale", "deployment/hello", "--replicas=3", namespace=namespace)
    kubectl("set", "image", "deployment/hello", "function=evil/image:latest", namespace=namespace)
    kubectl("set", "env", "deployment/hello", "WISP_TIMEOUT_SECONDS=999", namespace=namespace)

    def restored() -> dict[str, Any] | None:
        dep = get(kubectl, namespace, "deployment", "hello") or {}
        container = dep["spec"]["template"]["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        ok = container["image"] == image and env["WISP_TIMEOUT_SECONDS"] == "10"
        return dep if ok else None

    dep = wait_for(restored, what="the operator to revert the hand edit")
    assert dep["spec"]["replicas"] == 3


def test_scale_bounds_change_clamps_replicas(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    apply_hello(kubectl, namespace)
    deployed(kubectl, namespace)
    kubectl("scale", "deployment/hello", "--replicas=4", namespace=namespace)
    apply_hello(kubectl, namespace, scale={"min": 0, "max": 2})

    def clamped() -> bool:
        dep = get(kubectl, namespace, "deployment", "hello") or {}
        return bool(dep.get("spec", {}).get("replicas") == 2)

    wait_for(clamped, what="replicas clamped to the new max")


def test_kubectl_scale_on_the_function_pins_replicas(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    apply_hello(kubectl, namespace)
    deployed(kubectl, namespace)
    kubectl("scale", "function/hello", "--replicas=2", namespace=namespace)
    wait_for(
        lambda: (get(kubectl, namespace, "deployment", "hello") or {}).get("spec", {}).get("replicas") == 2,
        what="the Function's scale subresource to reach the Deployment",
    )


def test_deleting_the_function_removes_its_children(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    apply_hello(kubectl, namespace)
    deployed(kubectl, namespace)
    kubectl("delete", "function", "hello", "--wait=true", namespace=namespace)

    def gone() -> bool:
        return all(
            get(kubectl, namespace, kind, name) is None
            for kind, name in (("deployment", "hello"), ("service", "hello"), ("configmap", "hello-code"))
        )

    wait_for(gone, timeout=60, what="garbage collection of the children")


def test_missing_configmap_is_reported_once_and_heals(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    apply_hello(kubectl, namespace, code={"configMapRef": {"name": "my-code"}})

    def reported() -> dict[str, Any] | None:
        fn = get(kubectl, namespace, "function", "hello")
        return fn if condition(fn, "Deployed").get("reason") == "ConfigMapNotFound" else None

    fn = wait_for(reported, what="ConfigMapNotFound in status")
    assert "my-code" in condition(fn, "Ready")["message"]
    kubectl(
        "create",
        "configmap",
        "my-code",
        "--from-literal=main.py=def handler(e, c): return 1",
        namespace=namespace,
    )
    # Touching the Function (any spec change) re-reconciles at once; the resync would too, later.
    kubectl("annotate", "function", "hello", "touch=1", namespace=namespace)
    apply_hello(kubectl, namespace, code={"configMapRef": {"name": "my-code"}}, memory="192Mi")
    deployed(kubectl, namespace)
    warnings = kubectl(
        "get", "events", "--field-selector", "reason=ConfigMapNotFound", namespace=namespace
    ).stdout
    assert warnings.count("ConfigMapNotFound") == 1


def test_trigger_is_bound_when_its_function_exists(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    trigger = {
        "apiVersion": "wisp.dev/v1alpha1",
        "kind": "Trigger",
        "metadata": {"name": "greet"},
        "spec": {"function": "hello", "http": {"path": "/greet"}},
    }
    kubectl("apply", "-f", "-", input=yaml.safe_dump(trigger), namespace=namespace)

    def bound(status: str) -> Any:
        return lambda: condition(get(kubectl, namespace, "trigger", "greet"), "Bound").get("status") == status

    wait_for(bound("False"), what="Bound False while the Function is missing")
    assert condition(get(kubectl, namespace, "trigger", "greet"), "Bound")["reason"] == "FunctionNotFound"
    apply_hello(kubectl, namespace)
    wait_for(bound("True"), what="Bound True once the Function exists")
    kubectl("delete", "function", "hello", namespace=namespace)
    wait_for(bound("False"), what="Bound False after the Function is deleted")


@pytest.fixture
def isolated_namespace(kube_api: client.ApiClient, crds: None) -> Iterator[str]:
    """A namespace the session operator does not watch (its pattern is t-*)."""
    name = f"iso-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(kube_api)
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


def test_restarted_operator_converges_without_duplicates(
    kubectl: Kubectl, kubeconfig: Path, isolated_namespace: str, tmp_path: Path
) -> None:
    ns = isolated_namespace
    first = start_operator(kubeconfig, tmp_path / "first.log", "--namespace", ns, "--liveness-port", "0")
    try:
        apply_hello(kubectl, ns)
        deployed(kubectl, ns)
    finally:
        stop_process(first.proc)
    # While it is down: a spec change and a second function.
    apply_hello(kubectl, ns, memory="192Mi")
    second_fn = yaml.safe_load((ROOT / "examples" / "hello.yaml").read_text())
    second_fn["metadata"]["name"] = "second"
    kubectl("apply", "-f", "-", input=yaml.safe_dump(second_fn), namespace=ns)

    second = start_operator(kubeconfig, tmp_path / "second.log", "--namespace", ns, "--liveness-port", "0")
    try:
        deployed(kubectl, ns, "second")

        def converged() -> bool:
            dep = get(kubectl, ns, "deployment", "hello") or {}
            limits = dep["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
            return bool(limits["memory"] == "192Mi")

        wait_for(converged, what="the change made while the operator was down")
    finally:
        stop_process(second.proc)
    deployments = get(kubectl, ns, "deployments") or {}
    assert sorted(d["metadata"]["name"] for d in deployments["items"]) == ["hello", "second"]
    services = get(kubectl, ns, "services") or {}
    assert sorted(s["metadata"]["name"] for s in services["items"]) == ["hello", "second"]
    configmaps = [c["metadata"]["name"] for c in (get(kubectl, ns, "configmaps") or {})["items"]]
    assert sorted(c for c in configmaps if c.endswith("-code")) == ["hello-code", "second-code"]


def test_peering_one_replica_acts_and_hands_over(
    kubectl: Kubectl, kubeconfig: Path, isolated_namespace: str, tmp_path: Path
) -> None:
    ns = isolated_namespace
    peering = {"apiVersion": "kopf.dev/v1", "kind": "KopfPeering", "metadata": {"name": "wisp"}}
    kubectl("apply", "-f", "-", input=yaml.safe_dump(peering), namespace=ns)
    env = {"WISP_PEERING_LIFETIME": "5"}
    common = ("--namespace", ns, "--peering", "wisp", "--liveness-port", "0", "--verbose")
    low = start_operator(kubeconfig, tmp_path / "low.log", *common, "--priority", "10", env=env)
    high = start_operator(kubeconfig, tmp_path / "high.log", *common, "--priority", "20", env=env)
    try:

        def registered() -> int:
            obj = json.loads(kubectl("get", "kopfpeering", "wisp", "-o", "json", namespace=ns).stdout)
            return len(obj.get("status") or {})

        def standing_by() -> bool:
            # Every replica starts paused until it has seen the peering; the lower one stays (or
            # goes back to) paused once it sees the higher one.
            lines = [line for line in low.logs().splitlines() if "watch-stream for functions" in line]
            return bool(lines) and ("Pausing" in lines[-1] or "(paused)" in lines[-1])

        wait_for(lambda: registered() >= 2, timeout=60, what="both replicas in the peering")
        time.sleep(2)  # let the lower replica act on what the peering object says
        wait_for(standing_by, timeout=60, what="the lower-priority operator to stand by")
        apply_hello(kubectl, ns)
        deployed(kubectl, ns)
        # The Deployment may come from the active replica's resync before its handler logs.
        wait_for(
            lambda: "Handler 'function_changed' succeeded" in high.logs(),
            timeout=30,
            what="the higher-priority operator's handler",
        )
        assert "Handler 'function_changed' succeeded" not in low.logs()
        stop_process(high.proc)
        # The standby takes over once the active replica's peering record expires.
        apply_hello(kubectl, ns, memory="192Mi")

        def converged() -> bool:
            dep = get(kubectl, ns, "deployment", "hello") or {}
            return bool(
                dep["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] == "192Mi"
            )

        wait_for(converged, timeout=90, what="the standby operator to take over")
    finally:
        stop_process(low.proc)
        stop_process(high.proc)


def test_liveness_endpoint(kubeconfig: Path, isolated_namespace: str, tmp_path: Path) -> None:
    import socket
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = start_operator(
        kubeconfig, tmp_path / "op.log", "--namespace", isolated_namespace, "--liveness-port", str(port)
    )
    try:

        def healthy() -> bool:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                    return bool(resp.status == 200)
            except OSError:
                return False

        wait_for(healthy, timeout=60, what="/healthz to answer 200")
    finally:
        stop_process(proc.proc)


def deny_services(ns: str) -> list[dict[str, Any]]:
    """A ValidatingAdmissionPolicy (and its binding) refusing every Service created in ``ns``."""
    name = f"no-services-{ns}"
    rule = {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["services"]}
    return refusing_policy(
        name, ns, rule, {"message": "no Services in this namespace", "reason": "Forbidden"}
    )


def test_an_admission_refusal_is_in_status_and_retried_with_backoff(
    kubectl: Kubectl, kubeconfig: Path, isolated_namespace: str, tmp_path: Path
) -> None:
    """An admission policy refusing Services: the API's own words in status, a few calm retries
    (counted in the operator's audit of refused writes), and the Function heals when it goes."""
    ns = isolated_namespace
    denial = yaml.safe_dump_all(deny_services(ns))
    kubectl("apply", "-f", "-", input=denial)
    # Policies take effect asynchronously: wait until a Service is refused.
    probe = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "probe"}}
    probe["spec"] = {"ports": [{"port": 80}]}

    def denying() -> bool:
        proc = kubectl("create", "-f", "-", input=yaml.safe_dump(probe), namespace=ns, check=False)
        if proc.returncode == 0:
            kubectl("delete", "service", "probe", namespace=ns)
        return proc.returncode != 0

    wait_for(denying, timeout=30, what="the admission policy to refuse Services")
    op = start_operator(kubeconfig, tmp_path / "op.log", "-v", "--namespace", ns, "--liveness-port", "0")
    try:
        apply_hello(kubectl, ns)

        def refused() -> dict[str, Any] | None:
            fn = get(kubectl, ns, "function", "hello")
            return fn if condition(fn, "Deployed").get("reason") == "Forbidden" else None

        fn = wait_for(refused, timeout=60, what="Deployed=False Forbidden")
        assert "no Services in this namespace" in condition(fn, "Deployed")["message"]
        assert condition(fn, "Ready")["status"] == "False"

        def refused_writes() -> int:
            return op.logs().count(f"refused: create Service {ns}/hello")

        first = refused_writes()
        time.sleep(10)  # a window to count retries in: backoff allows 3 or 4, a hot loop hundreds
        assert refused_writes() - first <= 5
        assert "Traceback" not in op.logs()

        kubectl("delete", "-f", "-", input=denial)
        deployed(kubectl, ns, timeout=90)  # the next retry (well under the 5 min cap) succeeds
    finally:
        stop_process(op.proc)
        kubectl("delete", "--ignore-not-found", "-f", "-", input=denial, check=False)


def test_a_service_with_a_cluster_ip_is_replaced_by_a_headless_one(
    kubectl: Kubectl, kubeconfig: Path, isolated_namespace: str, tmp_path: Path
) -> None:
    """An operator set to give cluster IPs, then one that does not (as after an upgrade): the
    Service is replaced once (clusterIP is immutable) and the Function stays Deployed."""
    ns = isolated_namespace
    common = ("--namespace", ns, "--liveness-port", "0")
    env = {"WISP_FUNCTION_CLUSTER_IP": "true"}
    old = start_operator(kubeconfig, tmp_path / "old.log", *common, env=env)
    try:
        apply_hello(kubectl, ns)
        deployed(kubectl, ns, timeout=60)
    finally:
        stop_process(old.proc)
    before = get(kubectl, ns, "service", "hello")
    assert before and before["spec"]["clusterIP"] not in ("None", "", None)

    new = start_operator(kubeconfig, tmp_path / "new.log", *common)
    try:

        def replaced() -> dict[str, Any] | None:
            svc = get(kubectl, ns, "service", "hello")
            return svc if svc and svc["spec"].get("clusterIP") == "None" else None

        after = wait_for(replaced, timeout=60, what="the Service replaced by a headless one")
        assert after["metadata"]["uid"] != before["metadata"]["uid"]
        assert after["metadata"]["ownerReferences"] == before["metadata"]["ownerReferences"]
        fn = deployed(kubectl, ns, timeout=60)
        assert condition(fn, "Deployed")["status"] == "True"
        events = kubectl("get", "events", "--field-selector", "reason=Reconciled", namespace=ns).stdout
        assert events.count("deleted Service hello to replace it (headless now)") == 1
    finally:
        stop_process(new.proc)


def test_the_resync_heals_a_deleted_service_without_a_timer_per_function(
    kubectl: Kubectl, kubeconfig: Path, isolated_namespace: str, tmp_path: Path
) -> None:
    """No watch event tells the operator a Service went: the one resync task, walking its own
    Function index, puts it back; no kopf timer runs."""
    ns = isolated_namespace
    env = {"WISP_RESYNC_SECONDS": "4"}
    op = start_operator(kubeconfig, tmp_path / "op.log", "--namespace", ns, "--liveness-port", "0", env=env)
    try:
        apply_hello(kubectl, ns)
        deployed(kubectl, ns, timeout=60)
        before = get(kubectl, ns, "service", "hello")
        assert before
        kubectl("delete", "service", "hello", namespace=ns)

        def recreated() -> dict[str, Any] | None:
            svc = get(kubectl, ns, "service", "hello")
            return svc if svc and svc["metadata"]["uid"] != before["metadata"]["uid"] else None

        wait_for(recreated, timeout=60, what="the resync to recreate the Service")
        assert "Timer" not in op.logs()
    finally:
        stop_process(op.proc)
