"""The pure builders, compared as whole manifests (no cluster)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from wisp.api import parse_function
from wisp.api.cpu import CpuMode
from wisp.api.function import SpecError
from wisp.resources import CodeTooLarge, make_code_configmap, make_deployment, make_service
from wisp.resources.deployment import (
    CpuSettings,
    DeploymentSettings,
    ImageSettings,
    PackageSettings,
    config_hash,
)
from wisp.resources.layers import LayerData

OWNER = {
    "apiVersion": "wisp.dev/v1alpha1",
    "kind": "Function",
    "name": "hello",
    "uid": "u-1",
    "controller": True,
    "blockOwnerDeletion": True,
}
LABELS = {
    "wisp.dev/function": "hello",
    "app.kubernetes.io/name": "hello",
    "app.kubernetes.io/component": "function",
    "app.kubernetes.io/managed-by": "wisp-operator",
    "app.kubernetes.io/part-of": "wisp",
}
CODE = "def handler(event, context):\n    return event\n"
# Every pod with its volumes: a read-only root, the code mounted, an emptyDir /tmp.
VOLUMES = DeploymentSettings(start_without_volumes=False)


def function(**spec: Any) -> Any:
    body = {"runtime": "python3.12", "handler": "main.handler", "code": {"inline": CODE}}
    body.update(spec)
    return parse_function({"metadata": {"name": "hello", "namespace": "ns", "uid": "u-1"}, "spec": body})


def test_configmap_holds_inline_code_as_the_handler_module() -> None:
    assert make_code_configmap(function()) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "hello-code", "namespace": "ns", "labels": LABELS, "ownerReferences": [OWNER]},
        "data": {"main.py": CODE},
    }


def test_no_configmap_for_image_or_referenced_code() -> None:
    assert make_code_configmap(function(code={"image": "registry/fn:1"})) is None
    assert make_code_configmap(function(code={"configMapRef": {"name": "mine"}})) is None


def test_code_too_large_for_a_configmap_names_the_field() -> None:
    with pytest.raises(CodeTooLarge) as info:
        make_code_configmap(function(code={"files": {"main.py": "x" * 1_100_000}}))
    assert info.value.field == "spec.code"
    assert "spec.code.image" in info.value.message


def test_service_is_headless_and_selects_nothing() -> None:
    """No cluster IP spent per Function, and no EndpointSlice: the gateway routes to the pods it
    watches, and kube-controller-manager's endpoint controllers skip a Service without a selector."""
    assert make_service(function()) == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "hello", "namespace": "ns", "labels": LABELS, "ownerReferences": [OWNER]},
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "None",
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def test_service_with_a_cluster_ip_when_the_operator_asks() -> None:
    assert make_service(function(), cluster_ip=True) == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "hello", "namespace": "ns", "labels": LABELS, "ownerReferences": [OWNER]},
        "spec": {
            "type": "ClusterIP",
            "selector": {"wisp.dev/function": "hello"},
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


BOOSTED = {
    "requests": {"cpu": "144m", "memory": "512Mi"},
    "limits": {"cpu": "1000m", "memory": "512Mi"},
}
RESIZE_CPU_IN_PLACE = [
    {"resourceName": "cpu", "restartPolicy": "NotRequired"},
    {"resourceName": "memory", "restartPolicy": "RestartContainer"},
]
# 512Mi is 289m of CPU (one CPU per 1,769 MiB); each mode gives it differently.
CPU_MODES = {
    CpuMode.LIMIT: (
        {"requests": {"cpu": "144m", "memory": "512Mi"}, "limits": {"cpu": "289m", "memory": "512Mi"}},
        {},
        None,
    ),
    CpuMode.REQUEST: (
        {"requests": {"cpu": "289m", "memory": "512Mi"}, "limits": {"memory": "512Mi"}},
        {},
        None,
    ),
    # Starts with a whole CPU; the gateway resizes the limit to 289m once the pod is Ready.
    CpuMode.BOOST: (BOOSTED, {"wisp.dev/cpu-after-start": "289m"}, RESIZE_CPU_IN_PLACE),
}


@pytest.mark.parametrize("mode", list(CpuMode), ids=lambda m: m.value)
def test_deployment_whole_manifest(mode: CpuMode) -> None:
    resources, cpu_annotations, resize_policy = CPU_MODES[mode]
    fn = function(
        memory="512Mi",
        timeout="45s",
        concurrency=8,
        env=[{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "t"}}}],
    )
    env = [
        {"name": "WISP_FUNCTION_NAME", "value": "hello"},
        {"name": "WISP_FUNCTION_NAMESPACE", "value": "ns"},
        {"name": "WISP_HANDLER", "value": "main.handler"},
        {"name": "WISP_CODE_DIR", "value": "/var/wisp/code"},
        {"name": "WISP_DEPS_DIR", "value": "/tmp/wisp-deps"},
        {"name": "WISP_TIMEOUT_SECONDS", "value": "45"},
        {"name": "WISP_MEMORY_MB", "value": "512"},
        {"name": "WISP_CONCURRENCY", "value": "8"},
        {"name": "WISP_MAX_BODY_BYTES", "value": "6291456"},
        {"name": "WISP_STACK_TRACES", "value": "false"},
        {"name": "WISP_HOST", "value": "0.0.0.0"},
        {"name": "WISP_PORT", "value": "8080"},
        {"name": "WISP_EXIT_ON_LOAD_FAILURE", "value": "true"},
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "t"}}},
    ]
    settings = DeploymentSettings(cpu=CpuSettings(mode=mode), start_without_volumes=False)
    assert make_deployment(fn, settings, replicas=0) == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "hello",
            "namespace": "ns",
            "labels": LABELS,
            "ownerReferences": [OWNER],
            "annotations": {"wisp.dev/scale-bounds": "0-20"},
        },
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"wisp.dev/function": "hello"}},
            "revisionHistoryLimit": 3,
            "progressDeadlineSeconds": 600,
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
            "template": {
                "metadata": {
                    "labels": LABELS,
                    "annotations": {
                        "wisp.dev/config-hash": config_hash(fn),
                        "wisp.dev/runtime": "python3.12",
                        **cpu_annotations,
                    },
                },
                "spec": {
                    "serviceAccountName": "wisp-function",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 3,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": {"wisp.dev/function": "hello"}},
                        }
                    ],
                    "terminationGracePeriodSeconds": 50,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "runAsGroup": 10001,
                        "fsGroup": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "function",
                            "image": "wisp/runtime-python:3.12",
                            "imagePullPolicy": "IfNotPresent",
                            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                            "env": env,
                            "resources": resources,
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "runAsNonRoot": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "volumeMounts": [
                                {"name": "tmp", "mountPath": "/tmp"},
                                {"name": "code", "mountPath": "/var/wisp/code", "readOnly": True},
                            ],
                            "terminationMessagePolicy": "FallbackToLogsOnError",
                            "readinessProbe": {
                                "httpGet": {"path": "/healthz", "port": "http"},
                                "periodSeconds": 1,
                                "failureThreshold": 3,
                                "timeoutSeconds": 1,
                            },
                            "livenessProbe": {
                                "httpGet": {"path": "/livez", "port": "http"},
                                "periodSeconds": 10,
                                "failureThreshold": 3,
                                "timeoutSeconds": 2,
                            },
                            **({"resizePolicy": resize_policy} if resize_policy else {}),
                        }
                    ],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {"sizeLimit": "512Mi"}},
                        {"name": "code", "configMap": {"name": "hello-code"}},
                    ],
                },
            },
        },
    }


def test_cpu_boost_is_the_default() -> None:
    fn = function(memory="512Mi")
    assert make_deployment(fn) == make_deployment(fn, DeploymentSettings(cpu=CpuSettings(CpuMode.BOOST)))
    (container,) = make_deployment(fn, VOLUMES)["spec"]["template"]["spec"]["containers"]
    assert container["resources"] == BOOSTED


def test_small_inline_code_starts_without_volumes() -> None:
    """The same pod but for what makes it start with no volume: its code in its environment, the
    root writable (the function's user owns only /tmp there) and /tmp bounded as its volume was."""
    fn = function(memory="512Mi", code={"files": {"main.py": CODE, "data.json": "{}"}})
    with_volumes = make_deployment(fn, VOLUMES)
    pod = with_volumes["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    code = '{"data.json":"{}","main.py":' + json.dumps(CODE) + "}"
    container["env"].append({"name": "WISP_CODE", "value": code})
    container["volumeMounts"] = []
    container["securityContext"]["readOnlyRootFilesystem"] = False
    container["resources"]["requests"]["ephemeral-storage"] = "0"
    container["resources"]["limits"]["ephemeral-storage"] = "512Mi"
    del pod["volumes"]
    assert make_deployment(fn) == with_volumes


@pytest.mark.parametrize(
    "spec",
    [
        {"code": {"image": "registry/fn:1"}},
        {"code": {"configMapRef": {"name": "mine"}}},
        {"code": {"files": {"main.py": CODE, "lib/util.py": ""}}},
        {"code": {"files": {"main.py": CODE, "requirements.txt": "six\n"}}},
        {"code": {"files": {"main.py": CODE + "#" * 100_000}}},
        {"secrets": [{"name": "keys"}]},
        {"runtime": "java21", "handler": "example.Hello", "code": {"inline": "class Hello {}"}},
    ],
    ids=["image", "its own ConfigMap", "folders", "dependencies", "over 96 KiB", "Secret files", "Java"],
)
def test_code_that_needs_a_volume_keeps_every_volume(spec: dict[str, Any]) -> None:
    pod = make_deployment(function(**spec))["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    assert all(e["name"] != "WISP_CODE" for e in container["env"])


def test_an_installation_may_keep_every_pod_with_its_volumes() -> None:
    pod = make_deployment(function(), VOLUMES)["spec"]["template"]["spec"]
    assert [v["name"] for v in pod["volumes"]] == ["tmp", "code"]


@pytest.mark.parametrize(("memory", "cpu"), [("2Gi", None), ("512Mi", "1"), ("512Mi", "1500m")])
def test_no_boost_for_a_function_given_as_much_cpu(memory: str, cpu: str | None) -> None:
    """A function entitled to the boost's CPU or more starts with its own: nothing to resize."""
    fn = function(memory=memory, **({"cpu": cpu} if cpu else {}))
    boosted = make_deployment(fn, DeploymentSettings(cpu=CpuSettings(CpuMode.BOOST, boost_millis=1000)))
    assert boosted == make_deployment(fn, DeploymentSettings(cpu=CpuSettings(CpuMode.LIMIT)))


def test_boost_reaches_the_dependency_installer() -> None:
    """The init step (pip/npm install) runs before Ready, so it gets the boosted limit too; init
    containers are never resized, so they carry no resizePolicy."""
    fn = function(memory="512Mi", code={"files": {"main.py": CODE, "requirements.txt": "six\n"}})
    (init,) = make_deployment(fn)["spec"]["template"]["spec"]["initContainers"]
    assert init["resources"] == BOOSTED
    assert "resizePolicy" not in init


@pytest.mark.parametrize("installation", list(CpuMode), ids=lambda m: m.value)
@pytest.mark.parametrize("own", list(CpuMode), ids=lambda m: m.value)
def test_a_functions_cpu_mode_wins_over_the_installations(installation: CpuMode, own: CpuMode) -> None:
    fn = function(memory="512Mi", cpuMode=own.value)
    settings = DeploymentSettings(cpu=CpuSettings(mode=installation))
    same_with_the_installations = make_deployment(
        function(memory="512Mi"), DeploymentSettings(cpu=CpuSettings(own))
    )
    assert make_deployment(fn, settings) == same_with_the_installations


def test_replicas_only_when_asked() -> None:
    assert "replicas" not in make_deployment(function())["spec"]


@pytest.mark.parametrize(
    ("runtime", "handler", "image"),
    [
        ("python3.11", "main.handler", "wisp/runtime-python:3.11"),
        ("python3.12", "main.handler", "wisp/runtime-python:3.12"),
        ("nodejs20", "index.handler", "wisp/runtime-node:20"),
        ("nodejs22", "index.handler", "wisp/runtime-node:22"),
        ("java17", "example.Hello", "wisp/runtime-java:17-jdk"),
        ("java21", "example.Hello::handle", "wisp/runtime-java:21-jdk"),
    ],
)
def test_runtime_image_per_runtime(runtime: str, handler: str, image: str) -> None:
    dep = make_deployment(function(runtime=runtime, handler=handler))
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == image


def test_java_from_an_image_runs_on_the_jre_image() -> None:
    settings = ImageSettings()
    assert (
        settings.for_runtime(
            parse_function(
                {
                    "metadata": {"name": "j"},
                    "spec": {"runtime": "java21", "handler": "a.B", "code": {"image": "x"}},
                }
            ).spec.runtime
        )
        == "wisp/runtime-java:21"
    )


def test_image_settings_are_templates() -> None:
    settings = DeploymentSettings(images=ImageSettings(python="reg.example/py:{version}-1.0"))
    dep = make_deployment(function(), settings)
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "reg.example/py:3.12-1.0"


def test_code_image_replaces_runtime_image_and_mounts_no_code() -> None:
    spec = make_deployment(function(code={"image": "registry/fn:1"}))["spec"]["template"]["spec"]
    assert spec["containers"][0]["image"] == "registry/fn:1"
    assert [v["name"] for v in spec["volumes"]] == ["tmp"]


def test_dependencies_get_an_init_step() -> None:
    fn = function(code={"files": {"main.py": CODE, "requirements.txt": "six\n"}})
    init = make_deployment(fn)["spec"]["template"]["spec"]["initContainers"]
    assert init[0]["command"] == ["python", "-m", "wisp_runtime.deps"]
    node = function(
        runtime="nodejs20", handler="index.handler", code={"files": {"index.js": "", "package.json": "{}"}}
    )
    assert make_deployment(node)["spec"]["template"]["spec"]["initContainers"][0]["command"][0] == "node"
    referenced = make_deployment(
        function(code={"configMapRef": {"name": "c"}}), code_file_names=["requirements.txt"]
    )
    assert "initContainers" in referenced["spec"]["template"]["spec"]
    assert "initContainers" not in make_deployment(function())["spec"]["template"]["spec"]


def test_code_change_changes_the_hash_config_change_does_not_need_it() -> None:
    assert config_hash(function()) != config_hash(function(code={"inline": CODE + "# v2\n"}))
    assert config_hash(function()) == config_hash(function(memory="1Gi"))
    assert config_hash(function(code={"configMapRef": {"name": "c"}}), {"a": "1"}) != config_hash(
        function(code={"configMapRef": {"name": "c"}}), {"a": "2"}
    )


@pytest.mark.parametrize(
    ("memory", "cpu", "limit"),
    [
        ("128Mi", None, "72m"),
        ("1769Mi", None, "1000m"),
        ("64Mi", None, "50m"),
        ("1Gi", "2", "2000m"),
        ("1Gi", "250m", "250m"),
    ],
)
def test_cpu_follows_memory_unless_set(memory: str, cpu: str | None, limit: str) -> None:
    spec: dict[str, Any] = {"memory": memory}
    if cpu:
        spec["cpu"] = cpu
    limited = DeploymentSettings(cpu=CpuSettings(CpuMode.LIMIT))
    container = make_deployment(function(**spec), limited)["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["cpu"] == limit


def test_bad_spec_raises_naming_the_field() -> None:
    with pytest.raises(SpecError) as info:
        function(memory="1Ti")
    assert info.value.field == "spec.memory"


# -- code with folders, and layers ---------------------------------------------------------------

NESTED = {"main.py": CODE, "src/orders/__init__.py": "", "src/orders/models.py": "X = 1\n"}


def test_code_with_folders_is_stored_flat_and_mounted_at_its_paths() -> None:
    fn = function(code={"files": NESTED})
    data = make_code_configmap(fn)["data"]  # type: ignore[index]
    assert sorted(data) == [".wisp-layout.json", "main.py", "src.orders.__init__.py", "src.orders.models.py"]
    assert data["src.orders.models.py"] == "X = 1\n"
    code = next(v for v in make_deployment(fn)["spec"]["template"]["spec"]["volumes"] if v["name"] == "code")
    assert code == {
        "name": "code",
        "configMap": {
            "name": "hello-code",
            "items": [
                {"key": "main.py", "path": "main.py"},
                {"key": "src.orders.__init__.py", "path": "src/orders/__init__.py"},
                {"key": "src.orders.models.py", "path": "src/orders/models.py"},
            ],
        },
    }


def test_flat_code_keeps_plain_keys_and_a_plain_volume() -> None:
    fn = function(code={"files": {"main.py": CODE, "util.py": ""}})
    assert sorted(make_code_configmap(fn)["data"]) == ["main.py", "util.py"]  # type: ignore[index]
    volumes = make_deployment(fn, VOLUMES)["spec"]["template"]["spec"]["volumes"]
    code = next(v for v in volumes if v["name"] == "code")
    assert code == {"name": "code", "configMap": {"name": "hello-code"}}


def test_a_flat_key_taken_by_another_file_gets_a_number() -> None:
    fn = function(code={"files": {"main.py": CODE, "a.b": "flat", "a/b": "nested"}})
    data = make_code_configmap(fn)["data"]  # type: ignore[index]
    assert data["a.b"] == "flat" and data["a.b.2"] == "nested"


def test_a_referenced_configmap_with_a_layout_is_mounted_at_its_paths() -> None:
    fn = function(code={"configMapRef": {"name": "mine"}})
    data = {
        "main.py": CODE,
        "lib.x.py": "",
        "requirements.txt": "",
        ".wisp-layout.json": (
            '{"main.py": "main.py", "lib.x.py": "lib/x.py", "requirements.txt": "requirements.txt"}'
        ),
    }
    pod = make_deployment(fn, code_file_names=sorted(data), code_hash_extra=data)["spec"]["template"]["spec"]
    code = next(v for v in pod["volumes"] if v["name"] == "code")
    assert {"key": "lib.x.py", "path": "lib/x.py"} in code["configMap"]["items"]
    assert [c["name"] for c in pod["initContainers"]] == ["install-dependencies"]


def _layer(name: str, files: dict[str, str]) -> LayerData:
    from wisp.api.codepaths import config_map_data

    return LayerData(name, config_map_data(files))


def test_layers_are_merged_under_opt_the_later_winning() -> None:
    fn = function(layers=[{"configMapRef": {"name": "common"}}, {"configMapRef": {"name": "extra"}}])
    common = _layer("common", {"python/shared/__init__.py": "A", "python/util.py": "old", "bin/tool": "#!"})
    extra = _layer("extra", {"python/util.py": "new", "nodejs/node_modules/x/index.js": ""})
    manifest = make_deployment(fn, layers=[common, extra])
    pod = manifest["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "layers")
    assert volume == {
        "name": "layers",
        "projected": {
            "sources": [
                {
                    "configMap": {
                        "name": "common",
                        "items": [
                            {"key": "bin.tool", "path": "bin/tool"},
                            {"key": "python.shared.__init__.py", "path": "python/shared/__init__.py"},
                        ],
                    }
                },
                {
                    "configMap": {
                        "name": "extra",
                        "items": [
                            {
                                "key": "nodejs.node_modules.x.index.js",
                                "path": "nodejs/node_modules/x/index.js",
                            },
                            {"key": "python.util.py", "path": "python/util.py"},
                        ],
                    }
                },
            ]
        },
    }
    mounts = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "layers"]
    assert mounts == [
        {"name": "layers", "mountPath": f"/opt/{top}", "subPath": top, "readOnly": True}
        for top in ("bin", "nodejs", "python")
    ]
    # A layer's change rolls the pods like a code change.
    changed = _layer("extra", {"python/util.py": "newer", "nodejs/node_modules/x/index.js": ""})
    annotations = make_deployment(fn, layers=[common, changed])["spec"]["template"]["metadata"]["annotations"]
    assert annotations != manifest["spec"]["template"]["metadata"]["annotations"]


def test_a_layer_may_not_cover_the_runtimes_own_opt_folder() -> None:
    fn = function(layers=[{"configMapRef": {"name": "bad"}}])
    with pytest.raises(SpecError) as info:
        make_deployment(fn, layers=[_layer("bad", {"wisp/runtime/index.js": ""})])
    assert info.value.field == "spec.layers[0]"
    assert "/opt/wisp" in str(info.value)


DIGEST = "sha256:" + "0f" * 32


def archive_pod(settings: DeploymentSettings, **archive: str) -> dict[str, Any]:
    fn = function(code={"archive": {"digest": DIGEST, **archive}})
    return make_deployment(fn, settings)["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def test_a_package_is_fetched_by_digest_into_the_code_folder_by_an_init_step() -> None:
    settings = DeploymentSettings(
        packages=PackageSettings(
            fetcher_image="wisp/wisp:9", plain_http=("10.0.0.1:5000",), node_cache="/var/lib/wisp/packages"
        ),
        cpu=CpuSettings(mode=CpuMode.LIMIT),
    )
    pod = archive_pod(settings, repository="10.0.0.1:5000/team/pkgs")
    resources = {"requests": {"cpu": "72m", "memory": "256Mi"}, "limits": {"cpu": "145m", "memory": "256Mi"}}
    assert pod["initContainers"] == [
        {
            "name": "fetch-code",
            "image": "wisp/wisp:9",
            "imagePullPolicy": "IfNotPresent",
            "args": [
                "fetch-code",
                "--digest",
                DIGEST,
                "--into",
                "/var/wisp/code",
                "--repository",
                "10.0.0.1:5000/team/pkgs",
                "--plain-http",
                "10.0.0.1:5000",
                "--cache",
                "/var/cache/wisp/packages",
            ],
            "env": [{"name": "TMPDIR", "value": "/tmp"}],
            "resources": resources,
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "runAsNonRoot": False,
                "runAsUser": 0,
                "runAsGroup": 10001,
                "capabilities": {"drop": ["ALL"]},
            },
            "volumeMounts": [
                {"name": "code", "mountPath": "/var/wisp/code"},
                {"name": "tmp", "mountPath": "/tmp"},
                {"name": "package-cache", "mountPath": "/var/cache/wisp/packages"},
            ],
            "terminationMessagePolicy": "File",
        }
    ]
    assert pod["volumes"] == [
        {"name": "tmp", "emptyDir": {"sizeLimit": "512Mi"}},
        {"name": "code", "emptyDir": {}},
        {
            "name": "package-cache",
            "hostPath": {"path": "/var/lib/wisp/packages", "type": "DirectoryOrCreate"},
        },
    ]
    main = pod["containers"][0]
    assert main["image"] == "wisp/runtime-python:3.12"
    assert {"name": "code", "mountPath": "/var/wisp/code", "readOnly": True} in main["volumeMounts"]


def test_without_a_node_cache_the_init_step_runs_as_the_runtime_user() -> None:
    settings = DeploymentSettings(packages=PackageSettings(repository="reg.io/wisp/packages", node_cache=""))
    pod = archive_pod(settings)
    (init,) = pod["initContainers"]
    assert init["args"][-2:] == ["--repository", "reg.io/wisp/packages"]
    assert "runAsUser" not in init["securityContext"] and init["securityContext"]["runAsNonRoot"] is True
    assert [v["name"] for v in pod["volumes"]] == ["tmp", "code"]


@pytest.mark.parametrize(
    ("installation", "named", "secret"),
    [("", "regcred", "regcred"), ("site-registry", "", "site-registry"), ("site-registry", "team", "team")],
)
def test_a_pull_secret_is_mounted_for_the_init_step_only(installation: str, named: str, secret: str) -> None:
    settings = DeploymentSettings(packages=PackageSettings(repository="reg.io/p", pull_secret=installation))
    pod = archive_pod(settings, **({"pullSecret": named} if named else {}))
    (init,) = pod["initContainers"]
    assert init["args"][-2:] == ["--registry-auth", "/var/run/wisp/registry-auth/config.json"]
    mount = {"name": "registry-auth", "mountPath": "/var/run/wisp/registry-auth", "readOnly": True}
    assert mount in init["volumeMounts"]
    assert not any(m["name"] == "registry-auth" for m in pod["containers"][0]["volumeMounts"])
    assert pod["volumes"][-1] == {
        "name": "registry-auth",
        "secret": {"secretName": secret, "items": [{"key": ".dockerconfigjson", "path": "config.json"}]},
    }


def test_without_a_pull_secret_pulls_are_anonymous() -> None:
    pod = archive_pod(DeploymentSettings(packages=PackageSettings(repository="reg.io/p")))
    assert "--registry-auth" not in pod["initContainers"][0]["args"]
    assert [v["name"] for v in pod["volumes"]] == ["tmp", "code"]
    # An HTTPS URL takes no registry credentials, even when the installation has them.
    pod = archive_pod(
        DeploymentSettings(packages=PackageSettings(pull_secret="site")), url="https://x.io/a.zip"
    )
    assert "--registry-auth" not in pod["initContainers"][0]["args"]


def test_a_package_behind_a_url_is_fetched_from_it() -> None:
    pod = archive_pod(DeploymentSettings(), url="https://files.example.com/app.zip")
    args = pod["initContainers"][0]["args"]
    assert args[args.index("--url") + 1] == "https://files.example.com/app.zip"
    assert "--repository" not in args


def test_a_package_without_a_store_is_refused_naming_the_field() -> None:
    with pytest.raises(SpecError) as info:
        archive_pod(DeploymentSettings())
    assert info.value.field == "spec.code.archive.repository"


def test_another_digest_rolls_the_pods() -> None:
    one = function(code={"archive": {"digest": DIGEST, "repository": "r.io/p"}})
    other = function(code={"archive": {"digest": "sha256:" + "1e" * 32, "repository": "r.io/p"}})
    assert config_hash(one) != config_hash(other)
