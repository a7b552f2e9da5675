"""The warm pool's pure decisions (``poolplan``): which Functions may start in a pool pod and
with what, which pod is claimed, the claim write, and when a pool pod is retired. Deployments
come from the operator's own builder, so the table follows what function pods really get."""

from __future__ import annotations

from typing import Any

import pytest

from wisp.api.function import Function, parse_function
from wisp.gateway.kube.poolplan import (
    CLAIM_TIMEOUT,
    HANDOVER_GRACE,
    IDLE_AFTER_CLAIM,
    MAX_LIFE,
    PoolPlan,
    PoolPod,
    PoolSkip,
    PoolState,
    choose_free,
    claim_patch,
    pod_token,
    pool_plan,
    pool_pod,
    pool_size,
    retire_reason,
    template_facts,
)
from wisp.resources.deployment import make_deployment

IMAGE = "wisp/runtime-python:3.14"


def fn(**spec: Any) -> Function:
    base: dict[str, Any] = {
        "runtime": "python3.14",
        "handler": "main.handler",
        "code": {"inline": "def handler(e, c):\n    return e\n"},
        "memory": "128Mi",
    }
    return parse_function({"metadata": {"name": "hello", "namespace": "fns"}, "spec": {**base, **spec}})


def plan_of(function: Function, deployment: dict[str, Any] | None = None) -> PoolPlan | PoolSkip:
    return pool_plan(function, template_facts(deployment or make_deployment(function)))


def test_an_inline_function_gets_its_pods_environment_and_its_code() -> None:
    function = fn(env=[{"name": "GREETING", "value": "hej"}], timeout="20s")
    plan = plan_of(function)
    assert isinstance(plan, PoolPlan)
    assert plan.image == IMAGE
    assert plan.namespace == "fns"
    assert plan.memory_mib == 128
    assert plan.timeout == 20
    assert plan.files == {"main.py": "def handler(e, c):\n    return e\n"}
    assert plan.env["GREETING"] == "hej"
    assert plan.env["WISP_HANDLER"] == "main.handler"
    assert plan.env["WISP_FUNCTION_NAME"] == "hello"
    assert plan.env["WISP_MEMORY_MB"] == "128"
    # Its pods carry the code in their environment (no volumes); a pool pod gets it as files.
    assert "WISP_CODE" not in plan.env


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"code": {"image": "registry.example/hello:1"}}, "its code is an image"),
        ({"code": {"configMapRef": {"name": "mine"}}}, "in a ConfigMap of its own"),
        (
            {"code": {"files": {"main.py": "def handler(e, c): pass\n", "requirements.txt": "requests\n"}}},
            "install dependencies",
        ),
        (
            {"env": [{"name": "KEY", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]},
            "KEY comes from a reference",
        ),
        (
            {"code": {"files": {"main.py": "def handler(e, c): pass\n", "lib/util.py": "X = 1\n"}}},
            "sub-folders (lib/util.py)",
        ),
        ({"layers": [{"configMapRef": {"name": "shared"}}]}, "it has layers"),
        ({"role": {"rules": []}}, "ServiceAccount wisp-fn-hello"),
        ({"envFrom": [{"secretRef": {"name": "db"}}]}, "envFrom by reference"),
        ({"secrets": [{"name": "keys"}]}, "Secret keys by reference"),
        ({"network": {"egress": []}}, "spec.network"),
    ],
    ids=[
        "image",
        "configmap",
        "dependencies",
        "secret-env",
        "sub-folders",
        "layers",
        "role",
        "env-from",
        "secret-files",
        "network",
    ],
)
def test_functions_that_skip_the_pool_say_why(spec: dict[str, Any], reason: str) -> None:
    plan = plan_of(fn(**spec))
    assert isinstance(plan, PoolSkip)
    assert reason in plan.reason


def test_a_java_function_given_as_sources_starts_from_the_jdk_images_pool() -> None:
    function = fn(runtime="java21", handler="inline.Hello", code={"inline": "package inline;\n"})
    plan = plan_of(function)
    assert isinstance(plan, PoolPlan)
    assert plan.image == "wisp/runtime-java:21-jdk"
    assert plan.files == {"Handler.java": "package inline;\n"}
    assert plan.env["WISP_HANDLER"] == "inline.Hello"


@pytest.mark.parametrize("name", ["JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS"])
def test_a_java_function_with_jvm_start_settings_skips_the_pool(name: str) -> None:
    function = fn(
        runtime="java21",
        handler="inline.Hello",
        code={"inline": "package inline;\n"},
        env=[{"name": name, "value": "-Xss2m"}],
    )
    plan = plan_of(function)
    assert isinstance(plan, PoolSkip)
    assert f"sets {name}, which its runtime reads only as it starts" in plan.reason


def test_a_function_whose_pods_run_as_their_own_service_account_skips_the_pool() -> None:
    function = fn()
    deployment = make_deployment(function)
    deployment["spec"]["template"]["spec"]["serviceAccountName"] = "reader"
    plan = plan_of(function, deployment)
    assert isinstance(plan, PoolSkip)
    assert "ServiceAccount reader" in plan.reason


def test_a_function_whose_deployment_is_unknown_skips_the_pool() -> None:
    plan = pool_plan(fn(), None)
    assert isinstance(plan, PoolSkip)
    assert "not known" in plan.reason


def pod(
    name: str = "wisp-pool-python-a",
    *,
    state: str = "free",
    ready: bool = True,
    memory: str = "256Mi",
    image: str = IMAGE,
    namespace: str = "fns",
    grace: int = 60,
    deleting: bool = False,
    function: str | None = None,
    claimed_at: float | None = None,
) -> dict[str, Any]:
    labels = {"wisp.dev/pool": "python", "wisp.dev/pool-state": state}
    if function:
        labels["wisp.dev/pool-function"] = function
    meta: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": f"uid-{name}",
        "resourceVersion": "42",
        "labels": labels,
        "annotations": {} if claimed_at is None else {"wisp.dev/pool-claimed-at": f"{claimed_at}"},
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-12-04T10:00:00Z"
    return {
        "metadata": meta,
        "spec": {
            "terminationGracePeriodSeconds": grace,
            "containers": [{"name": "function", "image": image, "resources": {"limits": {"memory": memory}}}],
        },
        "status": {
            "podIP": "10.1.0.9",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


def view(obj: dict[str, Any]) -> PoolPod:
    parsed = pool_pod(obj)
    assert parsed is not None
    return parsed


def test_a_pool_pod_is_read_from_its_labels_and_spec() -> None:
    parsed = view(pod(state="specialised", function="hello", claimed_at=100.5))
    assert parsed.state is PoolState.SPECIALISED
    assert parsed.function_key == "hello.fns"
    assert parsed.memory_mib == 256
    assert parsed.claimed_at == 100.5
    assert pool_pod({"metadata": {"labels": {"wisp.dev/pool": "python"}}}) is None
    assert pool_pod({"metadata": {"labels": {"wisp.dev/function": "hello"}}}) is None


@pytest.mark.parametrize(
    ("candidate", "fits"),
    [
        (pod(), True),
        (pod(state="claimed"), False),
        (pod(ready=False), False),
        (pod(deleting=True), False),
        (pod(memory="64Mi"), False),
        (pod(image="wisp/runtime-python:3.12"), False),
        (pod(namespace="other"), False),
        (pod(grace=10), False),
    ],
    ids=[
        "free",
        "claimed",
        "not-ready",
        "deleting",
        "too-small",
        "other-image",
        "other-namespace",
        "short-grace",
    ],
)
def test_which_pod_may_be_claimed(candidate: dict[str, Any], fits: bool) -> None:
    plan = plan_of(fn(timeout="30s"))
    assert isinstance(plan, PoolPlan)
    chosen = choose_free([view(candidate)], plan, "hello.default")
    assert (chosen is not None) is fits


def test_a_pod_this_gateway_failed_to_claim_is_not_tried_again() -> None:
    plan = plan_of(fn())
    assert isinstance(plan, PoolPlan)
    pods = [view(pod("wisp-pool-python-a")), view(pod("wisp-pool-python-b"))]
    first = choose_free(pods, plan, "hello.default")
    assert first is not None
    second = choose_free(pods, plan, "hello.default", frozenset({first.uid}))
    assert second is not None and second.uid != first.uid
    assert choose_free(pods, plan, "hello.default", frozenset({first.uid, second.uid})) is None


def test_gateways_pick_the_same_pod_for_one_function_and_spread_different_ones() -> None:
    """Two gateway replicas taking one function in one burst hand the same pod the same
    function (it serves both) rather than using up two pods; different functions' gateways
    seldom race for one pod."""
    plan = plan_of(fn())
    assert isinstance(plan, PoolPlan)
    pods = [view(pod(f"wisp-pool-python-{i}")) for i in range(8)]
    for key in ("hello.default", "orders.shop", "a.b"):
        chosen = {choose_free(order, plan, key) for order in (pods, pods[::-1], pods[3:] + pods[:3])}
        assert len(chosen) == 1, key
    firsts = {choose_free(pods, plan, f"fn-{i}.default") for i in range(64)}
    assert len(firsts) >= 6  # of 8: spread as random picks would be


def test_the_claim_is_conditional_on_the_pods_version_and_takes_it_out_of_the_pool() -> None:
    patch = claim_patch(view(pod()), "hello", 123.0)
    assert patch["metadata"]["resourceVersion"] == "42"
    assert patch["metadata"]["labels"] == {
        "wisp.dev/pool-state": "claimed",
        "wisp.dev/pool-function": "hello",
    }
    assert patch["metadata"]["annotations"] == {"wisp.dev/pool-claimed-at": "123.000"}


NOW = 10_000.0


@pytest.mark.parametrize(
    ("state", "claimed_ago", "known", "own_for", "replicas", "retired"),
    [
        ("free", None, True, None, 0, None),
        ("claimed", 1.0, True, None, 1, None),
        ("claimed", CLAIM_TIMEOUT, True, None, 1, "never specialised"),
        ("specialised", 1.0, True, None, 1, None),
        ("specialised", 1.0, False, None, 1, "function is gone"),
        ("specialised", 5.0, True, HANDOVER_GRACE / 2, 1, None),
        ("specialised", 5.0, True, HANDOVER_GRACE, 1, "own pods are ready"),
        ("specialised", 5.0, True, None, 0, None),
        ("specialised", IDLE_AFTER_CLAIM, True, None, 0, "at zero again"),
        ("specialised", MAX_LIFE, True, None, 1, "more than"),
    ],
    ids=[
        "free",
        "claimed-now",
        "claimed-abandoned",
        "serving",
        "function-deleted",
        "handover-grace",
        "handed-over",
        "scale-up-pending",
        "idle-again",
        "too-old",
    ],
)
def test_when_a_pool_pod_is_retired(
    state: str,
    claimed_ago: float | None,
    known: bool,
    own_for: float | None,
    replicas: int,
    retired: str | None,
) -> None:
    parsed = view(
        pod(state=state, function="hello", claimed_at=None if claimed_ago is None else NOW - claimed_ago)
    )
    reason = retire_reason(
        parsed,
        NOW,
        function_known=known,
        own_since=None if own_for is None else NOW - own_for,
        replicas=replicas,
    )
    if retired is None:
        assert reason is None
    else:
        assert reason is not None and retired in reason


def test_a_pool_pods_token_is_its_own() -> None:
    # HMAC-SHA256("key", "wisp-pool-pod:uid-1") in hex: what the chart's init step writes too.
    assert pod_token("key", "uid-1") == "cea2a54a1506dc634bd0cf566494b2d377be8a88e89f1446d2d866c1260eaf05"
    tokens = {pod_token(key, uid) for key in ("key", "other key") for uid in ("uid-1", "uid-2")}
    assert len(tokens) == 4  # another pod's, or another pool key's, token is another token


NOW = 10_000.0


@pytest.mark.parametrize(
    ("claims", "least", "most", "size"),
    [
        ([], 2, 6, 2),  # idle: the chart's size
        ([NOW - 5], 2, 6, 2),
        ([NOW - 5, NOW - 20, NOW - 50], 2, 6, 3),  # three cold starts in the last minute
        ([NOW - i for i in range(10)], 2, 6, 6),  # a burst: up to maxSize
        ([NOW - 61, NOW - 90, NOW - 120], 2, 6, 2),  # they aged out: back to size
        ([NOW - 5, NOW - 6, NOW - 7], 2, 1, 2),  # maxSize below size: size
        ([NOW + 1, NOW + 2, NOW], 2, 6, 3),  # claimed by a gateway whose clock is a little ahead
    ],
    ids=["idle", "one", "three", "burst", "aged out", "max below min", "clock ahead"],
)
def test_a_pool_keeps_as_many_free_pods_as_it_had_claims_in_the_last_minute(
    claims: list[float], least: int, most: int, size: int
) -> None:
    assert pool_size(claims, NOW, least, most) == size
