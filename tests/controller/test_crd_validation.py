"""The API server rejects bad Functions and Triggers at apply time, naming the field."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from tests.cluster.fixtures import Kubectl

pytestmark = pytest.mark.cluster

GOOD_FUNCTION: dict[str, Any] = {
    "apiVersion": "wisp.dev/v1alpha1",
    "kind": "Function",
    "metadata": {"name": "f"},
    "spec": {
        "runtime": "python3.12",
        "handler": "main.handler",
        "code": {"inline": "def handler(e, c):\n  return e\n"},
    },
}
GOOD_TRIGGER: dict[str, Any] = {
    "apiVersion": "wisp.dev/v1alpha1",
    "kind": "Trigger",
    "metadata": {"name": "t"},
    "spec": {"function": "f", "http": {"path": "/hello"}},
}


def with_spec(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    obj = copy.deepcopy(base)
    for key, value in changes.items():
        if value is None:
            obj["spec"].pop(key, None)
        else:
            obj["spec"][key] = value
    return obj


INVALID = [
    ("unknown runtime", with_spec(GOOD_FUNCTION, runtime="cobol"), "spec.runtime"),
    ("no handler", with_spec(GOOD_FUNCTION, handler=None), "spec.handler"),
    ("python handler without function", with_spec(GOOD_FUNCTION, handler="main"), "spec.handler"),
    ("two code sources", with_spec(GOOD_FUNCTION, code={"inline": "x", "image": "img"}), "spec.code"),
    ("no code source", with_spec(GOOD_FUNCTION, code={}), "spec.code"),
    ("custom without image", with_spec(GOOD_FUNCTION, runtime="custom"), "spec.code.image"),
    ("memory too small", with_spec(GOOD_FUNCTION, memory="32Mi"), "spec.memory"),
    ("memory too large", with_spec(GOOD_FUNCTION, memory="11Gi"), "spec.memory"),
    ("memory not a quantity", with_spec(GOOD_FUNCTION, memory="lots"), "spec.memory"),
    ("timeout too long", with_spec(GOOD_FUNCTION, timeout="16m"), "spec.timeout"),
    ("timeout too short", with_spec(GOOD_FUNCTION, timeout="500ms"), "spec.timeout"),
    ("timeout not a duration", with_spec(GOOD_FUNCTION, timeout="soon"), "spec.timeout"),
    ("concurrency zero", with_spec(GOOD_FUNCTION, concurrency=0), "spec.concurrency"),
    ("concurrency too high", with_spec(GOOD_FUNCTION, concurrency=5000), "spec.concurrency"),
    ("scale min above max", with_spec(GOOD_FUNCTION, scale={"min": 5, "max": 2}), "spec.scale.min"),
    ("scale max zero", with_spec(GOOD_FUNCTION, scale={"max": 0}), "spec.scale.max"),
    ("scale metric unknown", with_spec(GOOD_FUNCTION, scale={"metric": "cpu"}), "spec.scale.metric"),
    ("idle timeout zero", with_spec(GOOD_FUNCTION, scale={"idleTimeout": "0s"}), "spec.scale.idleTimeout"),
    (
        "reserved env name",
        with_spec(GOOD_FUNCTION, env=[{"name": "WISP_HANDLER", "value": "x"}]),
        "spec.env[0].name",
    ),
    (
        "file name with a slash",
        with_spec(GOOD_FUNCTION, code={"files": {"../etc/passwd": "x"}}),
        "spec.code.files",
    ),
    ("cpu zero", with_spec(GOOD_FUNCTION, cpu="0"), "spec.cpu"),
    ("cpu mode unknown", with_spec(GOOD_FUNCTION, cpuMode="turbo"), "spec.cpuMode"),
    ("log format unknown", with_spec(GOOD_FUNCTION, logging={"format": "XML"}), "spec.logging.format"),
    (
        "application log level unknown",
        with_spec(GOOD_FUNCTION, logging={"applicationLogLevel": "LOUD"}),
        "spec.logging.applicationLogLevel",
    ),
    (
        "system log level unknown",
        with_spec(GOOD_FUNCTION, logging={"systemLogLevel": "TRACE"}),
        "spec.logging.systemLogLevel",
    ),
    (
        "log levels with the Text format",
        with_spec(GOOD_FUNCTION, logging={"format": "Text", "applicationLogLevel": "ERROR"}),
        "spec.logging",
    ),
    ("trigger with two sources", with_spec(GOOD_TRIGGER, queue={"stream": "s"}), "spec"),
    ("trigger with no source", with_spec(GOOD_TRIGGER, http=None), "spec"),
    ("trigger without function", with_spec(GOOD_TRIGGER, function=None), "spec.function"),
    ("trigger path not absolute", with_spec(GOOD_TRIGGER, http={"path": "hello"}), "spec.http.path"),
    ("trigger path reserved", with_spec(GOOD_TRIGGER, http={"path": "/function/x"}), "spec.http.path"),
    *(
        (f"trigger path {path} reserved", with_spec(GOOD_TRIGGER, http={"path": path}), "spec.http.path")
        for path in (
            "/ui",
            "/ui/x",
            "/system",
            "/invocations/x",
            "/2015-03-31/functions/f/invocations",
            "/readyz",
        )
    ),
    (
        "trigger method unknown",
        with_spec(GOOD_TRIGGER, http={"path": "/a", "methods": ["FETCH"]}),
        "spec.http.methods[0]",
    ),
    (
        "cron with 3 fields",
        with_spec(GOOD_TRIGGER, http=None, schedule={"cron": "* * *"}),
        "spec.schedule.cron",
    ),
    (
        "queue retries negative",
        with_spec(GOOD_TRIGGER, http=None, queue={"stream": "s", "maxRetries": -1}),
        "spec.queue.maxRetries",
    ),
    (
        "async retries negative",
        with_spec(GOOD_FUNCTION, **{"async": {"maxRetries": -1}}),
        "spec.async.maxRetries",
    ),
    (
        "async event age 30s",
        with_spec(GOOD_FUNCTION, **{"async": {"maxEventAge": "30s"}}),
        "spec.async.maxEventAge",
    ),
    (
        "destination with two targets",
        with_spec(GOOD_FUNCTION, **{"async": {"onSuccess": {"function": "a", "stream": "b"}}}),
        "spec.async.onSuccess",
    ),
    (
        "destination url not http",
        with_spec(GOOD_FUNCTION, **{"async": {"onFailure": {"url": "ftp://x/y"}}}),
        "spec.async.onFailure.url",
    ),
    (
        "queue event age 7h",
        with_spec(GOOD_TRIGGER, http=None, queue={"stream": "s", "maxEventAge": "7h"}),
        "spec.queue.maxEventAge",
    ),
    (
        "queue batch window 10m",
        with_spec(GOOD_TRIGGER, http=None, queue={"stream": "s", "batchWindow": "10m"}),
        "spec.queue.batchWindow",
    ),
    (
        "role and serviceAccountName",
        with_spec(GOOD_FUNCTION, serviceAccountName="sa", role={"rules": []}),
        "spec.role",
    ),
    (
        "service account name not a name",
        with_spec(GOOD_FUNCTION, serviceAccountName="Not_A_Name"),
        "spec.serviceAccountName",
    ),
    (
        "role verb unknown",
        with_spec(
            GOOD_FUNCTION, role={"rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["steal"]}]}
        ),
        "spec.role.rules[0].verbs[0]",
    ),
    (
        "role rule without resources",
        with_spec(GOOD_FUNCTION, role={"rules": [{"apiGroups": [""], "verbs": ["get"]}]}),
        "spec.role.rules[0].resources",
    ),
    (
        "envFrom with both refs",
        with_spec(GOOD_FUNCTION, envFrom=[{"secretRef": {"name": "a"}, "configMapRef": {"name": "b"}}]),
        "spec.envFrom[0]",
    ),
    (
        "envFrom reserved prefix",
        with_spec(GOOD_FUNCTION, envFrom=[{"prefix": "WISP_", "secretRef": {"name": "a"}}]),
        "spec.envFrom[0].prefix",
    ),
    (
        "secret file name with a slash",
        with_spec(GOOD_FUNCTION, secrets=[{"name": "../x"}]),
        "spec.secrets[0].name",
    ),
    (
        "egress cidr not a cidr",
        with_spec(GOOD_FUNCTION, network={"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/33"}}]}]}),
        "spec.network.egress[0].to[0].ipBlock.cidr",
    ),
    (
        "egress rule empty",
        with_spec(GOOD_FUNCTION, network={"egress": [{}]}),
        "spec.network.egress[0]",
    ),
    (
        "ingress peer with ipBlock and selector",
        with_spec(
            GOOD_FUNCTION,
            network={"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}]},
        ),
        "spec.network.ingress[0].from[0]",
    ),
    (
        "egress port out of range",
        with_spec(GOOD_FUNCTION, network={"egress": [{"ports": [{"port": 70000}]}]}),
        "spec.network.egress[0].ports[0].port",
    ),
    (
        "queue failure destination empty",
        with_spec(GOOD_TRIGGER, http=None, queue={"stream": "s", "onFailure": {}}),
        "spec.queue.onFailure",
    ),
]


@pytest.mark.parametrize(("case", "obj", "field"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_spec_is_rejected_naming_the_field(
    kubectl: Kubectl, namespace: str, case: str, obj: dict[str, Any], field: str
) -> None:
    proc = kubectl("apply", "-f", "-", input=yaml.safe_dump(obj), namespace=namespace, check=False)
    assert proc.returncode != 0, f"{case}: accepted"
    assert field in proc.stderr, f"{case}: {proc.stderr}"


@pytest.mark.parametrize("obj", [GOOD_FUNCTION, GOOD_TRIGGER], ids=["function", "trigger"])
def test_valid_objects_are_accepted_with_defaults(
    kubectl: Kubectl, namespace: str, obj: dict[str, Any]
) -> None:
    kubectl("apply", "-f", "-", input=yaml.safe_dump(obj), namespace=namespace)
    kind = obj["kind"].lower()
    stored = yaml.safe_load(
        kubectl("get", kind, obj["metadata"]["name"], "-o", "yaml", namespace=namespace).stdout
    )
    if kind == "function":
        assert stored["spec"]["memory"] == "256Mi"
        assert stored["spec"]["timeout"] == "30s"
        assert stored["spec"]["scale"] == {
            "min": 0,
            "max": 20,
            "metric": "concurrency",
            "target": 10,
            "idleTimeout": "60s",
        }


def test_async_controls_are_accepted(kubectl: Kubectl, namespace: str) -> None:
    controls = {
        "maxRetries": 0,
        "maxEventAge": "1h",
        "onSuccess": {"function": "audit"},
        "onFailure": {"url": "https://hooks.example.com/failed"},
    }
    fn = with_spec(GOOD_FUNCTION, **{"async": controls})
    queue = {"stream": "s", "maxEventAge": "60s", "batchWindow": "500ms", "onFailure": {"stream": "s.failed"}}
    trigger = with_spec(GOOD_TRIGGER, http=None, queue=queue)
    for obj in (fn, trigger):
        kubectl("apply", "-f", "-", input=yaml.safe_dump(obj), namespace=namespace)
    stored = yaml.safe_load(kubectl("get", "fn", "f", "-o", "yaml", namespace=namespace).stdout)
    assert stored["spec"]["async"] == controls


def test_identity_secrets_and_network_are_accepted(kubectl: Kubectl, namespace: str) -> None:
    spec = {
        "role": {
            "rules": [
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["a"]}
            ],
            "annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/f"},
        },
        "envFrom": [{"secretRef": {"name": "db"}, "prefix": "DB_"}, {"configMapRef": {"name": "settings"}}],
        "secrets": [{"name": "api-keys"}],
        "network": {
            "egress": [
                {
                    "to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                    "ports": [{"port": 5432}],
                },
                {"to": [{"namespaceSelector": {"matchLabels": {"team": "data"}}, "podSelector": {}}]},
            ],
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "batch"}}}]}],
        },
    }
    kubectl("apply", "-f", "-", input=yaml.safe_dump(with_spec(GOOD_FUNCTION, **spec)), namespace=namespace)
    stored = yaml.safe_load(kubectl("get", "fn", "f", "-o", "yaml", namespace=namespace).stdout)
    assert stored["spec"]["role"] == spec["role"]
    assert stored["spec"]["network"] == spec["network"]


def test_short_names_category_and_explain(kubectl: Kubectl, namespace: str) -> None:
    kubectl("apply", "-f", "-", input=yaml.safe_dump(GOOD_FUNCTION), namespace=namespace)
    kubectl("apply", "-f", "-", input=yaml.safe_dump(GOOD_TRIGGER), namespace=namespace)
    listed = kubectl("get", "wisp", namespace=namespace).stdout
    assert "function.wisp.dev/f" in listed and "trigger.wisp.dev/t" in listed
    assert "RUNTIME" in kubectl("get", "fn", namespace=namespace).stdout
    assert "FUNCTION" in kubectl("get", "trig", namespace=namespace).stdout
    assert "memory" in kubectl("explain", "function.spec").stdout


def _alias(version: int, **weights: int) -> dict[str, Any]:
    alias: dict[str, Any] = {"version": version}
    if weights:
        alias["additionalVersionWeights"] = {k.lstrip("v"): w for k, w in weights.items()}
    return {"prod": alias}


ALIAS_INVALID = [
    ("weight above 100", _alias(2, v1=101), "spec.aliases.prod.additionalVersionWeights.1"),
    ("weight negative", _alias(2, v1=-5), "spec.aliases.prod.additionalVersionWeights.1"),
    ("additional version is the version", _alias(2, v2=10), "spec.aliases[prod].additionalVersionWeights"),
    ("unknown version", _alias(3), "spec.aliases"),
    ("unknown additional version", _alias(2, v7=10), "spec.aliases"),
    ("alias named like a version", {"12": {"version": 1}}, "spec.aliases"),
]


@pytest.mark.parametrize(("case", "aliases", "field"), ALIAS_INVALID, ids=[c[0] for c in ALIAS_INVALID])
def test_bad_alias_is_refused_naming_the_field(
    kubectl: Kubectl, namespace: str, case: str, aliases: dict[str, Any], field: str
) -> None:
    """Versions 1 and 2 are published (status.latestVersion 2): an alias may name only them."""
    kubectl("apply", "-f", "-", input=yaml.safe_dump(GOOD_FUNCTION), namespace=namespace)
    kubectl(
        "patch", "fn", "f", "--subresource=status", "--type=merge",
        "-p", '{"status": {"latestVersion": 2}}', namespace=namespace,
    )  # fmt: skip
    good = with_spec(GOOD_FUNCTION, aliases=_alias(2, v1=10))
    kubectl("apply", "-f", "-", input=yaml.safe_dump(good), namespace=namespace)
    bad = with_spec(GOOD_FUNCTION, aliases=aliases)
    proc = kubectl("apply", "-f", "-", input=yaml.safe_dump(bad), namespace=namespace, check=False)
    assert proc.returncode != 0, f"{case}: accepted"
    assert field in proc.stderr, f"{case}: {proc.stderr}"


def test_a_function_version_cannot_be_edited(kubectl: Kubectl, namespace: str) -> None:
    version = {
        "apiVersion": "wisp.dev/v1alpha1",
        "kind": "FunctionVersion",
        "metadata": {"name": "f-v1"},
        "spec": {"function": "f", "version": 1, "template": GOOD_FUNCTION["spec"]},
    }
    kubectl("apply", "-f", "-", input=yaml.safe_dump(version), namespace=namespace)
    for patch in ('{"spec": {"template": {"handler": "other.handler"}}}', '{"spec": {"version": 2}}'):
        proc = kubectl("patch", "fnv", "f-v1", "--type=merge", "-p", patch, namespace=namespace, check=False)
        assert proc.returncode != 0 and "immutable" in proc.stderr, proc.stderr
    listed = kubectl("get", "fnv", namespace=namespace).stdout
    assert "FUNCTION" in listed and "VERSION" in listed and "REFERENCED" in listed


def test_trigger_qualifier_is_checked(kubectl: Kubectl, namespace: str) -> None:
    bad = with_spec(GOOD_TRIGGER, qualifier="prod!")
    proc = kubectl("apply", "-f", "-", input=yaml.safe_dump(bad), namespace=namespace, check=False)
    assert proc.returncode != 0 and "spec.qualifier" in proc.stderr
    kubectl(
        "apply",
        "-f",
        "-",
        input=yaml.safe_dump(with_spec(GOOD_TRIGGER, qualifier="prod")),
        namespace=namespace,
    )
