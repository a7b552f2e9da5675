"""What ``helm template`` renders, with default and non-default values: security contexts,
least-privilege RBAC, high availability, Redis on and off, monitors, NetworkPolicies."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helm.chart import (
    assert_dns_and_gateway_egress,
    component,
    containers,
    env_of,
    grants,
    of_kind,
    one,
    rules_of,
    selector_matches,
    workloads,
)
from tests.helm.conftest import Render

NAMESPACED = {"watchNamespaces": ["team-a", "team-b"]}
EXTERNAL_REDIS = {
    "redis": {
        "enabled": False,
        "external": {"url": "rediss://cache.example:6380/2", "existingSecret": "redis-auth", "key": "pw"},
    }
}
BUNDLED_NATS = {"queue": {"broker": "nats"}, "nats": {"enabled": True}}
EXTERNAL_NATS = {
    "queue": {"broker": "nats"},
    "nats": {
        "replicas": 3,
        "external": {"url": "nats://nats-0.nats:4222,nats://nats-1.nats:4222", "existingSecret": "nats-auth"},
    },
}
MONITORING_APIS = ["monitoring.coreos.com/v1/ServiceMonitor", "monitoring.coreos.com/v1/PodMonitor"]
BROAD_ROLES = {"cluster-admin", "admin", "edit"}


def pod_labels(workload: dict[str, Any]) -> dict[str, str]:
    return dict(workload["spec"]["template"]["metadata"]["labels"])


@pytest.mark.parametrize(
    "values",
    [
        None,
        NAMESPACED,
        EXTERNAL_REDIS,
        {"pool": {"python": {"enabled": True}, "node": {"enabled": True}}},
        BUNDLED_NATS,
    ],
    ids=["default", "namespaced", "external-redis", "warm-pool", "bundled-nats"],
)
def test_every_pod_is_hardened(render: Render, values: dict[str, Any] | None) -> None:
    objects = render(values)
    assert {component(w) for w in workloads(objects)} >= {"operator", "gateway"}
    for workload in workloads(objects):
        name = workload["metadata"]["name"]
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for c in containers(workload):
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True, (name, c["name"])
            assert sc["allowPrivilegeEscalation"] is False, (name, c["name"])
            assert sc["capabilities"]["drop"] == ["ALL"], (name, c["name"])
            assert not sc.get("privileged"), (name, c["name"])
            for bound in ("requests", "limits"):
                assert set(c["resources"][bound]) >= {"cpu", "memory"}, (name, c["name"], bound)


@pytest.mark.parametrize("values", [None, NAMESPACED], ids=["all-namespaces", "namespaced"])
def test_rbac_is_least_privilege(render: Render, values: dict[str, Any] | None) -> None:
    objects = render(values)
    for role in of_kind(objects, "ClusterRole") + of_kind(objects, "Role"):
        for rule in role["rules"]:
            for field in ("verbs", "resources", "apiGroups"):
                assert "*" not in rule.get(field, []), (role["metadata"]["name"], rule)
            assert "escalate" not in rule["verbs"] and "bind" not in rule["verbs"]
            assert "impersonate" not in rule["verbs"]
    for binding in of_kind(objects, "ClusterRoleBinding") + of_kind(objects, "RoleBinding"):
        assert binding["roleRef"]["name"] not in BROAD_ROLES
        assert binding["roleRef"]["name"].startswith("wisp-")

    operator = rules_of(objects, "operator")
    # Whether a Secret a Function names exists: one by name, as metadata, never listed or watched.
    assert grants(operator, "", "secrets", "get")
    assert not grants(operator, "", "secrets", "list") and not grants(operator, "", "secrets", "watch")
    # spec.role: the operator holds exactly what it may grant, and can neither escalate nor bind.
    assert grants(operator, "rbac.authorization.k8s.io", "roles", "create")
    assert not grants(operator, "rbac.authorization.k8s.io", "clusterroles", "create")
    assert not grants(operator, "", "configmaps", "update")
    assert grants(operator, "wisp.dev", "functions", "watch")
    assert grants(operator, "wisp.dev", "functions/status", "patch")
    assert grants(operator, "apps", "deployments", "create")
    assert grants(operator, "apiextensions.k8s.io", "customresourcedefinitions", "list")
    assert not grants(operator, "apiextensions.k8s.io", "customresourcedefinitions", "create")

    gateway = rules_of(objects, "gateway")
    assert grants(gateway, "apps", "deployments/scale", "patch")
    assert not grants(gateway, "apps", "deployments", "patch"), "the gateway scales, never edits"
    assert not grants(operator, "apps", "deployments", "delete"), "garbage collection deletes"
    assert not grants(gateway, "apps", "deployments", "create")
    # The console (admin port, admin token) deploys, deletes, saves test events and reads logs.
    assert grants(gateway, "wisp.dev", "functions", "patch")
    assert grants(gateway, "wisp.dev", "functions", "delete")
    assert not grants(gateway, "wisp.dev", "functions", "create"), "server-side apply is a patch"
    assert not grants(gateway, "wisp.dev", "triggers", "patch")
    assert grants(gateway, "", "configmaps", "create") and not grants(gateway, "", "configmaps", "delete")
    assert grants(gateway, "", "pods", "list") and grants(gateway, "", "pods/log", "get")
    # A function's endpoints are its pods, from the pod watch: no EndpointSlice is read.
    assert not grants(gateway, "discovery.k8s.io", "endpointslices", "list")
    assert grants(gateway, "", "secrets", "get")
    # The Lease is granted only in the release namespace, never cluster-wide.
    lease_roles = [r for r in objects if any("leases" in x["resources"] for x in r.get("rules") or [])]
    assert [(r["kind"], r["metadata"]["namespace"]) for r in lease_roles] == [("Role", "wisp-system")]


def test_service_accounts_are_separate_and_bound(render: Render) -> None:
    objects = render()
    accounts = {component(sa): sa["metadata"]["name"] for sa in of_kind(objects, "ServiceAccount")}
    assert accounts["operator"] != accounts["gateway"]
    for workload in workloads(objects):
        if component(workload) in accounts:
            assert workload["spec"]["template"]["spec"]["serviceAccountName"] == accounts[component(workload)]
    redis = one(objects, "Deployment", "-redis")
    assert redis["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    for binding in of_kind(objects, "ClusterRoleBinding") + of_kind(objects, "RoleBinding"):
        (subject,) = binding["subjects"]
        assert subject == {
            "kind": "ServiceAccount",
            "name": accounts[component(binding)],
            "namespace": "wisp-system",
        }


@pytest.mark.parametrize("values", [None, NAMESPACED], ids=["all-namespaces", "namespaced"])
def test_gateway_can_be_denied_the_consoles_rules(render: Render, values: dict[str, Any] | None) -> None:
    objects = render({**(values or {}), "gateway": {"rbac": {"console": False}}})
    gateway = rules_of(objects, "gateway")
    assert not grants(gateway, "wisp.dev", "functions", "patch")
    assert not grants(gateway, "wisp.dev", "functions", "delete")
    assert not any({"configmaps", "pods/log"} & set(r["resources"]) for r in gateway)
    # The pod watch (probing starting pods, resizing boosted ones, telling a caller its function
    # ran out of memory) is routing's, not the console's.
    assert grants(gateway, "", "pods", "list") and grants(gateway, "", "pods", "watch")
    assert grants(gateway, "", "pods/resize", "patch")
    assert grants(gateway, "wisp.dev", "functions", "watch")  # routing keeps its rules


@pytest.mark.parametrize("values", [None, NAMESPACED], ids=["all-namespaces", "namespaced"])
def test_the_console_may_review_a_callers_kubernetes_credential(
    render: Render, values: dict[str, Any] | None
) -> None:
    objects = render(values)
    gateway = rules_of(objects, "gateway")
    assert grants(gateway, "authentication.k8s.io", "tokenreviews", "create")
    assert grants(gateway, "authorization.k8s.io", "subjectaccessreviews", "create")
    assert _env(objects, "gateway")["WISP_CONSOLE_TENANTS"] == "true"
    off = render({**(values or {}), "gateway": {"rbac": {"consoleTenants": False}}})
    gateway = rules_of(off, "gateway")
    assert not grants(gateway, "authentication.k8s.io", "tokenreviews", "create")
    assert not grants(gateway, "authorization.k8s.io", "subjectaccessreviews", "create")
    assert _env(off, "gateway")["WISP_CONSOLE_TENANTS"] == "false"


def _env(objects: list[dict[str, Any]], workload: str) -> dict[str, Any]:
    (container,) = containers(one(objects, "Deployment", f"-{workload}"))
    return {name: e.get("value") for name, e in env_of(container).items()}


@pytest.mark.parametrize("values", [None, NAMESPACED], ids=["all-namespaces", "namespaced"])
def test_function_cpu_settings_reach_the_operator_and_rbac(
    render: Render, values: dict[str, Any] | None
) -> None:
    """The installation's CPU mode reaches the operator; the gateway may resize pods in any mode,
    since a Function may ask for ``boost`` itself (``spec.cpuMode``)."""
    objects = render(values)
    operator_env = _env(objects, "operator")
    assert (operator_env["WISP_FUNCTION_CPU_MODE"], operator_env["WISP_FUNCTION_CPU_BOOST"]) == ("boost", "1")
    assert _env(objects, "gateway")["WISP_PROBE_PODS"] == "true"
    assert grants(rules_of(objects, "gateway"), "", "pods/resize", "patch")
    for mode in ("limit", "request"):
        objects = render({**(values or {}), "functions": {"cpu": {"mode": mode, "boost": "1500m"}}})
        operator_env = _env(objects, "operator")
        assert (operator_env["WISP_FUNCTION_CPU_MODE"], operator_env["WISP_FUNCTION_CPU_BOOST"]) == (
            mode,
            "1500m",
        )
        assert grants(rules_of(objects, "gateway"), "", "pods/resize", "patch")
    assert _env(render({"gateway": {"probePods": False}}), "gateway")["WISP_PROBE_PODS"] == "false"


def test_gateway_can_be_denied_secrets(render: Render) -> None:
    objects = render({"gateway": {"rbac": {"readSecrets": False}}})
    assert not any("secrets" in r["resources"] for r in rules_of(objects, "gateway"))


def test_watching_all_namespaces_uses_cluster_roles(render: Render) -> None:
    objects = render()
    assert not [r for r in of_kind(objects, "Role") if not r["metadata"]["name"].endswith("-leader")]
    operator = one(objects, "Deployment", "-operator")["spec"]["template"]["spec"]["containers"][0]
    assert operator["command"] == ["wisp", "operator"]
    assert "--all-namespaces" in operator["args"]
    assert "--peering=wisp" in operator["args"]
    assert one(objects, "ClusterKopfPeering")["metadata"]["name"] == "wisp"
    gateway = one(objects, "Deployment", "-gateway")["spec"]["template"]["spec"]["containers"][0]
    assert env_of(gateway)["WISP_NAMESPACES"]["value"] == ""


def test_namespace_list_uses_roles_in_each_namespace(render: Render) -> None:
    objects = render(NAMESPACED)
    for comp in ("operator", "gateway"):
        roles = {r["metadata"]["namespace"] for r in of_kind(objects, "Role") if component(r) == comp}
        bindings = {
            b["metadata"]["namespace"] for b in of_kind(objects, "RoleBinding") if component(b) == comp
        }
        assert {"team-a", "team-b"} <= roles and {"team-a", "team-b"} <= bindings
    # The gateway's one cluster-wide right: reviewing a console caller's credential.
    (reviews,) = [c for c in of_kind(objects, "ClusterRole") if component(c) == "gateway"]
    assert {res for rule in reviews["rules"] for res in rule["resources"]} == {
        "tokenreviews",
        "subjectaccessreviews",
    }
    (cluster_role,) = [c for c in of_kind(objects, "ClusterRole") if component(c) != "gateway"]
    assert {res for rule in cluster_role["rules"] for res in rule["resources"]} == {
        "customresourcedefinitions",
        "namespaces",
    }
    operator = one(objects, "Deployment", "-operator")["spec"]["template"]["spec"]["containers"][0]
    assert "--all-namespaces" not in operator["args"]
    assert [a for a in operator["args"] if a.startswith("--namespace=")] == [
        "--namespace=team-a",
        "--namespace=team-b",
    ]
    assert sorted(p["metadata"]["namespace"] for p in of_kind(objects, "KopfPeering")) == ["team-a", "team-b"]
    assert of_kind(objects, "ClusterKopfPeering") == []
    gateway = one(objects, "Deployment", "-gateway")["spec"]["template"]["spec"]["containers"][0]
    assert env_of(gateway)["WISP_NAMESPACES"]["value"] == "team-a,team-b"


def test_gateway_is_highly_available(render: Render) -> None:
    objects = render()
    gateway = one(objects, "Deployment", "-gateway")
    labels = pod_labels(gateway)
    assert gateway["spec"]["replicas"] >= 2
    pdb = one(objects, "PodDisruptionBudget")
    assert selector_matches(pdb["spec"]["selector"], labels)
    assert pdb["spec"]["minAvailable"] >= 1
    (term,) = gateway["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"][
        "preferredDuringSchedulingIgnoredDuringExecution"
    ]
    assert selector_matches(term["podAffinityTerm"]["labelSelector"], labels)
    assert term["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    assert not selector_matches(
        term["podAffinityTerm"]["labelSelector"], pod_labels(one(objects, "Deployment", "-operator"))
    )

    service = one(objects, "Service", "-gateway")
    assert selector_matches({"matchLabels": service["spec"]["selector"]}, labels)
    (port,) = service["spec"]["ports"]
    assert port["port"] == 8080 and port["targetPort"] == "http"
    ports = {
        p["name"]: p["containerPort"] for p in gateway["spec"]["template"]["spec"]["containers"][0]["ports"]
    }
    assert ports == {"http": 8080, "admin": 9090}

    operator = one(objects, "Deployment", "-operator")
    assert operator["spec"]["replicas"] == 2


def test_hard_anti_affinity_and_bad_mode(render: Render) -> None:
    gateway = one(render({"gateway": {"antiAffinity": "hard"}}), "Deployment", "-gateway")
    anti = gateway["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    (term,) = anti["requiredDuringSchedulingIgnoredDuringExecution"]
    assert selector_matches(term["labelSelector"], pod_labels(gateway))
    with pytest.raises(AssertionError, match="antiAffinity must be soft, hard or none"):
        render({"gateway": {"antiAffinity": "sometimes"}})


def test_gateway_environment(render: Render) -> None:
    objects = render({"gateway": {"maxBodyBytes": 1048576, "coldStartTimeout": 5, "publicByDefault": False}})
    env = env_of(one(objects, "Deployment", "-gateway")["spec"]["template"]["spec"]["containers"][0])
    assert env["WISP_MAX_BODY_BYTES"]["value"] == "1048576"
    assert env["WISP_COLD_START_TIMEOUT"]["value"] == "5"
    assert env["WISP_PUBLIC_BY_DEFAULT"]["value"] == "false"
    assert env["WISP_LEASE_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["WISP_POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["WISP_REDIS_URL"]["value"] == "redis://wisp-redis.wisp-system.svc:6379/0"
    assert env["WISP_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "wisp-redis",
        "key": "password",
    }
    admin = env["WISP_ADMIN_TOKEN"]["valueFrom"]["secretKeyRef"]
    secret = one(objects, "Secret", admin["name"])
    assert len(secret["data"][admin["key"]]) > 20


def test_redis_without_persistence_uses_an_empty_dir(render: Render) -> None:
    objects = render({"redis": {"persistence": {"enabled": False}}})
    assert of_kind(objects, "PersistentVolumeClaim") == []
    (volume,) = one(objects, "Deployment", "-redis")["spec"]["template"]["spec"]["volumes"]
    assert volume == {"name": "data", "emptyDir": {}}


def test_bundled_redis_is_append_only_and_private(render: Render) -> None:
    objects = render()
    redis = one(objects, "Deployment", "-redis")
    assert redis["spec"]["replicas"] == 1 and redis["spec"]["strategy"] == {"type": "Recreate"}
    (volume,) = redis["spec"]["template"]["spec"]["volumes"]
    assert (
        volume["persistentVolumeClaim"]["claimName"]
        == one(objects, "PersistentVolumeClaim")["metadata"]["name"]
    )
    (container,) = redis["spec"]["template"]["spec"]["containers"]
    assert container["volumeMounts"] == [{"name": "data", "mountPath": "/data"}]
    args = container["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--requirepass") + 1] == "$(REDIS_PASSWORD)"
    assert container["image"].startswith("redis:")
    policy = one(objects, "NetworkPolicy", "-redis")
    assert selector_matches(policy["spec"]["podSelector"], pod_labels(redis))
    (rule,) = policy["spec"]["ingress"]
    (peer,) = rule["from"]
    assert selector_matches(peer["podSelector"], pod_labels(one(objects, "Deployment", "-gateway")))
    assert not selector_matches(peer["podSelector"], pod_labels(one(objects, "Deployment", "-operator")))


def test_external_redis(render: Render) -> None:
    objects = render(EXTERNAL_REDIS)
    assert [d["metadata"]["name"] for d in of_kind(objects, "Deployment")] == [
        "wisp-gateway",
        "wisp-operator",
    ]
    assert of_kind(objects, "PersistentVolumeClaim") == []
    assert [s["metadata"]["name"] for s in of_kind(objects, "Secret")] == ["wisp-gateway-admin"]
    assert not [p for p in of_kind(objects, "NetworkPolicy") if component(p) == "redis"]
    env = env_of(one(objects, "Deployment", "-gateway")["spec"]["template"]["spec"]["containers"][0])
    assert env["WISP_REDIS_URL"]["value"] == "rediss://cache.example:6380/2"
    assert env["WISP_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "redis-auth", "key": "pw"}
    with pytest.raises(AssertionError, match=r"redis\.external\.url is required"):
        render({"redis": {"enabled": False}})


def test_function_pods_accept_only_the_gateway(render: Render) -> None:
    objects = render()
    gateway = pod_labels(one(objects, "Deployment", "-gateway"))
    policies = [p for p in of_kind(objects, "NetworkPolicy") if component(p) == "functions"]
    assert sorted(p["metadata"]["namespace"] for p in policies) == ["default", "wisp-system"]
    for policy in policies:
        spec = policy["spec"]
        assert selector_matches(spec["podSelector"], {"wisp.dev/function": "hello"})
        assert not selector_matches(spec["podSelector"], gateway)
        assert spec["policyTypes"] == ["Ingress"]
        (rule,) = spec["ingress"]
        (peer,) = rule["from"]
        assert peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "wisp-system"}}
        assert selector_matches(peer["podSelector"], gateway)
        assert not selector_matches(peer["podSelector"], pod_labels(one(objects, "Deployment", "-operator")))

    namespaced = render(NAMESPACED)
    assert sorted(
        p["metadata"]["namespace"]
        for p in of_kind(namespaced, "NetworkPolicy")
        if component(p) == "functions"
    ) == ["team-a", "team-b"]
    assert of_kind(render({"networkPolicy": {"enabled": False}}), "NetworkPolicy") == []


def test_deny_by_default_leaves_function_pods_dns_and_the_gateway(render: Render) -> None:
    objects = render({"networkPolicy": {"denyByDefault": True}})
    baselines = [
        p for p in of_kind(objects, "NetworkPolicy") if p["metadata"]["name"].endswith("-functions-egress")
    ]
    assert sorted(p["metadata"]["namespace"] for p in baselines) == ["default", "wisp-system"]
    # The gateway's default namespace (where functions named without one live) is covered too.
    moved = render({"networkPolicy": {"denyByDefault": True}, "gateway": {"defaultNamespace": "wisp-fns"}})
    assert sorted(
        p["metadata"]["namespace"] for p in of_kind(moved, "NetworkPolicy") if component(p) == "functions"
    ) == ["default", "default", "wisp-fns", "wisp-fns", "wisp-system", "wisp-system"]
    for policy in baselines:
        spec = policy["spec"]
        assert selector_matches(spec["podSelector"], {"wisp.dev/function": "hello"})
        assert not selector_matches(spec["podSelector"], pod_labels(one(objects, "Deployment", "-gateway")))
        assert spec["policyTypes"] == ["Egress"]
        assert_dns_and_gateway_egress(objects, spec["egress"])
    # The gateway on another port: the baseline follows it, as the operator's own policies do.
    moved_port = render({"networkPolicy": {"denyByDefault": True}, "gateway": {"port": 8888}})
    for policy in of_kind(moved_port, "NetworkPolicy"):
        if policy["metadata"]["name"].endswith("-functions-egress"):
            assert_dns_and_gateway_egress(moved_port, policy["spec"]["egress"])
    assert _env(moved_port, "operator")["WISP_GATEWAY_POD_PORT"] == "8888"
    assert not [p for p in of_kind(render(), "NetworkPolicy") if p["metadata"]["name"].endswith("-egress")]


@pytest.mark.parametrize("values", [None, NAMESPACED], ids=["all-namespaces", "namespaced"])
def test_grantable_rules_are_held_by_the_operator_and_passed_to_it(
    render: Render, values: dict[str, Any] | None
) -> None:
    """Kubernetes lets the operator write a Role only with permissions it holds itself."""
    rule = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"], "resourceNames": []}
    objects = render({**(values or {}), "functions": {"identity": {"grantableRules": [rule]}}})
    assert grants(rules_of(objects, "operator"), "", "configmaps", "list")
    env = _env(objects, "operator")
    assert json.loads(env["WISP_GRANTABLE_RULES"]) == [rule]
    assert env["WISP_GATEWAY_NAMESPACE"] == "wisp-system"
    assert selector_matches(
        {"matchLabels": json.loads(env["WISP_GATEWAY_POD_LABELS"])},
        pod_labels(one(objects, "Deployment", "-gateway")),
    )
    assert json.loads(_env(render(values), "operator")["WISP_GRANTABLE_RULES"]) == []


def test_monitors_only_with_prometheus_operator(render: Render) -> None:
    plain = render()
    assert of_kind(plain, "ServiceMonitor") == [] and of_kind(plain, "PodMonitor") == []

    objects = render(api_versions=MONITORING_APIS)
    monitor = one(objects, "ServiceMonitor")
    admin = one(objects, "Service", "-gateway-admin")
    assert selector_matches(monitor["spec"]["selector"], admin["metadata"]["labels"])
    assert not selector_matches(
        monitor["spec"]["selector"], one(objects, "Service", "-gateway")["metadata"]["labels"]
    )
    assert monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in admin["spec"]["ports"]}
    pods = one(objects, "PodMonitor")
    assert selector_matches(pods["spec"]["selector"], {"wisp.dev/function": "hello"})
    assert pods["spec"]["namespaceSelector"] == {"any": True}

    off = render({"monitoring": {"podMonitor": {"enabled": False}}}, api_versions=MONITORING_APIS)
    assert of_kind(off, "PodMonitor") == [] and len(of_kind(off, "ServiceMonitor")) == 1


def test_operator_environment(render: Render) -> None:
    objects = render({"runtimeImages": {"python": "registry.example/py:{version}"}, "image": {"tag": "dev"}})
    operator = one(objects, "Deployment", "-operator")["spec"]["template"]["spec"]["containers"][0]
    env = env_of(operator)
    assert operator["image"] == "wisp/wisp:dev"
    assert env["WISP_IMAGE_PYTHON"]["value"] == "registry.example/py:{version}"
    assert env["WISP_IMAGE_PROVIDED"]["value"] == "wisp/runtime-provided:latest"
    provided = render({"runtimeImages": {"provided": "registry.example/provided:1"}})
    operator = one(provided, "Deployment", "-operator")["spec"]["template"]["spec"]["containers"][0]
    assert env_of(operator)["WISP_IMAGE_PROVIDED"]["value"] == "registry.example/provided:1"
    assert env["WISP_GATEWAY_URL"]["value"] == "http://wisp-gateway.wisp-system.svc:8080"
    assert operator["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}


def test_the_event_path_controls_reach_the_gateway(render: Render) -> None:
    objects = render({"queue": {"maxHops": 8, "idempotencyWindow": 600}})
    env = env_of(one(objects, "Deployment", "-gateway")["spec"]["template"]["spec"]["containers"][0])
    assert (env["WISP_MAX_HOPS"]["value"], env["WISP_IDEMPOTENCY_WINDOW"]["value"]) == ("8", "600")
    assert "WISP_QUEUE_BROKER" not in env  # Redis, the default


def test_bundled_nats_replaces_redis_and_is_private(render: Render) -> None:
    objects = render(BUNDLED_NATS)
    assert [d["metadata"]["name"] for d in of_kind(objects, "Deployment")] == [
        "wisp-gateway",
        "wisp-nats",
        "wisp-operator",
    ]
    assert not [p for p in of_kind(objects, "NetworkPolicy") if component(p) == "redis"]
    gateway = one(objects, "Deployment", "-gateway")
    env = env_of(gateway["spec"]["template"]["spec"]["containers"][0])
    assert env["WISP_QUEUE_BROKER"]["value"] == "nats"
    assert env["WISP_NATS_URL"]["value"] == "nats://wisp-nats.wisp-system.svc:4222"
    assert (env["WISP_NATS_STREAM"]["value"], env["WISP_NATS_REPLICAS"]["value"]) == ("WISP", "1")
    assert "WISP_REDIS_URL" not in env
    server = one(objects, "Deployment", "-nats")
    (container,) = server["spec"]["template"]["spec"]["containers"]
    assert "--jetstream" in container["args"]
    (volume,) = server["spec"]["template"]["spec"]["volumes"]
    assert (
        volume["persistentVolumeClaim"]["claimName"]
        == one(objects, "PersistentVolumeClaim")["metadata"]["name"]
    )
    policy = one(objects, "NetworkPolicy", "-nats")
    assert selector_matches(policy["spec"]["podSelector"], pod_labels(server))
    (rule,) = policy["spec"]["ingress"]
    (peer,) = rule["from"]
    assert selector_matches(peer["podSelector"], pod_labels(gateway))


def test_external_nats_cluster(render: Render) -> None:
    objects = render(EXTERNAL_NATS)
    assert [d["metadata"]["name"] for d in of_kind(objects, "Deployment")] == [
        "wisp-gateway",
        "wisp-operator",
    ]
    env = env_of(one(objects, "Deployment", "-gateway")["spec"]["template"]["spec"]["containers"][0])
    assert env["WISP_NATS_URL"]["value"] == "nats://nats-0.nats:4222,nats://nats-1.nats:4222"
    assert env["WISP_NATS_REPLICAS"]["value"] == "3"
    assert env["WISP_NATS_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "nats-auth", "key": "token"}
    with pytest.raises(AssertionError, match=r"nats\.external\.url is required"):
        render({"queue": {"broker": "nats"}})
    with pytest.raises(AssertionError, match=r"queue\.broker must be redis or nats"):
        render({"queue": {"broker": "kafka"}})


@pytest.mark.parametrize("values", [{}, NAMESPACED], ids=["all-namespaces", "namespaced"])
def test_the_package_pull_secret_is_copied_with_least_privilege(
    render: Render, values: dict[str, Any]
) -> None:
    """With ``functions.packages.pullSecret`` the operator reads that one Secret in the release
    namespace and may create copies and update only Secrets of that name; without it, neither."""
    assert not grants(rules_of(render(values), "operator"), "", "secrets", "create")

    objects = render({**values, "functions": {"packages": {"pullSecret": "regcred"}}})
    operator = rules_of(objects, "operator")
    assert grants(operator, "", "secrets", "create")
    assert not grants(operator, "", "secrets", "list") and not grants(operator, "", "secrets", "watch")
    patches = [r for r in operator if "secrets" in r["resources"] and "patch" in r["verbs"]]
    assert patches and all(r.get("resourceNames") == ["regcred"] for r in patches)
    assert not grants(operator, "", "secrets", "delete") and not grants(operator, "", "secrets", "update")
    reader = one(objects, "Role", "-pull-secret")
    assert reader["metadata"]["namespace"] == "wisp-system"
    assert reader["rules"] == [
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["regcred"], "verbs": ["get"]}
    ]
    env = _env(objects, "operator")
    assert env["WISP_PACKAGE_PULL_SECRET"] == "regcred"
    assert env["WISP_PACKAGE_PULL_SECRET_NAMESPACE"] == "wisp-system"
