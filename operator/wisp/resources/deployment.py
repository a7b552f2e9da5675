"""The Deployment that runs a Function's runtime server.

Replicas are the autoscaler's: ``make_deployment`` includes them only when asked (at creation),
so that the operator's later applies never own the field and cannot fight the gateway.

CPU follows memory (Lambda's model), given in one of three ways (``CpuMode``: the Function's
``spec.cpuMode``, else the chart's ``functions.cpu.mode``): a hard limit at the proportional
figure; a request at that figure and no limit; or (the default) a start with a higher limit that
the gateway resizes down in place (the ``pods/resize`` subresource) once the pod is Ready, so a
runtime's start-up is not throttled to a fraction of a core. See docs/autoscaling.md, "CPU at start-up".
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wisp.api import contract
from wisp.api.codepaths import config_map_data, config_map_paths, volume_items
from wisp.api.cpu import CpuMode
from wisp.api.function import SECRETS_DIR, Function, SpecError
from wisp.api.names import (
    CONFIG_HASH_ANNOTATION,
    CPU_AFTER_START_ANNOTATION,
    RUNTIME_ANNOTATION,
    SCALE_BOUNDS_ANNOTATION,
)
from wisp.api.package import ArchiveSpec
from wisp.api.runtimes import Runtime
from wisp.resources.layers import LayerData, layers_mounts, layers_volume
from wisp.resources.names import (
    CONTAINER_NAME,
    Names,
    child_metadata,
    function_labels,
    selector_labels,
)

RUNTIME_UID = 10001
FETCH_CONTAINER = "fetch-code"
PACKAGE_CACHE_VOLUME = "package-cache"
REGISTRY_AUTH_VOLUME = "registry-auth"
REGISTRY_AUTH_DIR = "/var/run/wisp/registry-auth"
DOCKER_CONFIG_KEY = ".dockerconfigjson"  # the key of a kubernetes.io/dockerconfigjson Secret
PACKAGE_CACHE_DIR = "/var/cache/wisp/packages"
# Files in a function's code that make the init step install dependencies.
DEPENDENCY_FILES = {"python": "requirements.txt", "node": "package.json"}
# Code a pod may carry in its environment (contract.CODE_ENV) rather than in a volume: runtimes
# that write it out at start, and at most this much JSON (Linux takes 128 KiB per variable).
CODE_ENV_LANGUAGES = ("python", "node")
CODE_ENV_MAX_BYTES = 96 * 1024
_DEPS_COMMANDS = {
    "python": ["python", "-m", "wisp_runtime.deps"],
    "node": ["node", "/opt/wisp/runtime/deps.js"],
}


@dataclass(frozen=True)
class ImageSettings:
    """Runtime images; ``{version}`` is replaced by the runtime's version (``Runtime.version``, from
    the runtime table in ``wisp.api.runtimes``: 3.14, 24, 25)."""

    python: str = "wisp/runtime-python:{version}"
    node: str = "wisp/runtime-node:{version}"
    java: str = "wisp/runtime-java:{version}"
    # Java source (inline, files, ConfigMap) is compiled when the pod starts: that needs a JDK.
    java_source: str = "wisp/runtime-java:{version}-jdk"
    provided: str = "wisp/runtime-provided:latest"
    pull_policy: str = "IfNotPresent"

    def for_runtime(self, runtime: Runtime, *, source_code: bool = False) -> str:
        java = self.java_source if source_code else self.java
        templates = {"python": self.python, "node": self.node, "java": java, "provided": self.provided}
        return templates[runtime.language].replace("{version}", runtime.version)


@dataclass(frozen=True)
class CpuSettings:
    mode: CpuMode = CpuMode.BOOST  # the installation's; a Function's spec.cpuMode wins
    boost_millis: int = 1000  # the CPU limit a BOOST pod starts with


@dataclass(frozen=True)
class PackageSettings:
    """How pods get code packages (``spec.code.archive``): the init step runs ``wisp fetch-code``
    from the wisp image; ``node_cache`` is a host folder that keeps fetched packages on the node
    ("" = none: every pod fetches its own)."""

    fetcher_image: str = "wisp/wisp:latest"
    repository: str = ""  # the installation's package store, for archives that name none
    plain_http: tuple[str, ...] = ()  # registries (host[:port]) spoken to over HTTP
    node_cache: str = ""
    # A dockerconfigjson Secret for archives that name none, in ``pull_secret_namespace`` (the
    # installation's), which the operator copies into each function namespace that needs it;
    # without that namespace, one of that name must exist in each function namespace.
    pull_secret: str = ""
    pull_secret_namespace: str = ""


@dataclass(frozen=True)
class DeploymentSettings:
    images: ImageSettings = field(default_factory=ImageSettings)
    packages: PackageSettings = field(default_factory=PackageSettings)
    cpu: CpuSettings = field(default_factory=CpuSettings)
    tmp_size_limit: str = "512Mi"
    # Pods of small inline Python and Node.js code start without volumes (``code_in_env``).
    start_without_volumes: bool = True
    max_body_bytes: int = contract.DEFAULT_MAX_BODY_BYTES
    # Lambda's region and account for every function (WISP_REGION, WISP_ACCOUNT_ID); empty:
    # the runtimes' defaults (docs/lambda.md).
    region: str = ""
    account_id: str = ""


def config_hash(fn: Function, extra: Mapping[str, str] | None = None) -> str:
    """A hash of the code and what the runtime reads, so a change rolls the pods."""
    spec = fn.spec
    material = {
        "files": fn.spec.code_files(),
        "extra": dict(extra or {}),
        "runtime": spec.runtime.value,
        "handler": spec.handler,
        "image": spec.code.image,
        "configMap": spec.code.config_map,
        **({"archive": dataclasses.asdict(spec.code.archive)} if spec.code.archive else {}),
    }
    digest = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
    return digest[:16]


def make_deployment(
    fn: Function,
    settings: DeploymentSettings | None = None,
    *,
    replicas: int | None = None,
    code_file_names: Iterable[str] = (),
    code_hash_extra: Mapping[str, str] | None = None,
    layers: Sequence[LayerData] = (),
) -> dict[str, Any]:
    """The Deployment manifest.

    ``replicas`` is set only on creation. ``code_file_names`` lists the files of a referenced
    ConfigMap (inline/files code lists itself) to decide whether dependencies must be installed;
    ``code_hash_extra`` is that ConfigMap's data. ``layers`` are the ConfigMaps of
    ``spec.layers`` as read, in order (SpecError if one cannot be mounted).
    """
    settings = settings or DeploymentSettings()
    spec = fn.spec
    if spec.cpu_mode is not None:
        settings = dataclasses.replace(settings, cpu=dataclasses.replace(settings.cpu, mode=spec.cpu_mode))
    names = Names.of(fn)
    files = set(spec.code_files()) | set(code_file_names)
    extra = dict(code_hash_extra or {})
    if spec.code.config_map is not None and extra:
        files |= set(config_map_paths(extra).values())
    for layer in layers:
        extra.update({f"layer:{layer.config_map}:{k}": v for k, v in layer.data.items()})
    # A code image is the server itself (custom) or is built FROM a runtime image with the code
    # at the code dir; either way it replaces the runtime image.
    source_code = spec.code.archive is None  # a package holds built code (jars, vendored deps)
    image = spec.code.image or settings.images.for_runtime(spec.runtime, source_code=source_code)

    code = code_in_env(fn, settings, layers)
    container = _function_container(fn, image, settings)
    container["volumeMounts"] += layers_mounts(layers)
    if code is None:
        volumes = _volumes(fn, settings, code_hash_extra or {}, layers)
    else:
        _without_volumes(container, code, settings)
        volumes = []
    init_containers = []
    if spec.code.archive is not None:
        init_containers.append(fetch_container(fn, container, settings))
    dep_file = DEPENDENCY_FILES.get(spec.runtime.language)
    if dep_file and dep_file in files and spec.code.image is None:
        init_containers.append(_deps_container(fn, image, container, settings))

    manifest: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": child_metadata(fn, names.deployment),
        "spec": {
            "selector": {"matchLabels": selector_labels(fn)},
            "revisionHistoryLimit": 3,
            "progressDeadlineSeconds": 600,
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0},
            },
            "template": {
                "metadata": {
                    "labels": function_labels(fn),
                    "annotations": {
                        CONFIG_HASH_ANNOTATION: config_hash(fn, extra),
                        RUNTIME_ANNOTATION: spec.runtime.value,
                        **_cpu_annotations(fn, settings.cpu),
                    },
                },
                "spec": {
                    "serviceAccountName": Names.service_account(fn),
                    # A token only for an identity the Function asked for.
                    "automountServiceAccountToken": _has_identity(fn),
                    "enableServiceLinks": False,
                    "topologySpreadConstraints": [spread_over_nodes(fn)],
                    "terminationGracePeriodSeconds": int(spec.timeout) + 5,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": RUNTIME_UID,
                        "runAsGroup": RUNTIME_UID,
                        "fsGroup": RUNTIME_UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    **({"initContainers": init_containers} if init_containers else {}),
                    "containers": [container],
                    **({"volumes": volumes} if volumes else {}),
                },
            },
        },
    }
    manifest["metadata"]["annotations"] = {
        SCALE_BOUNDS_ANNOTATION: scale_bounds(fn),
    }
    if replicas is not None:
        manifest["spec"]["replicas"] = replicas
    return manifest


def spread_over_nodes(fn: Function) -> dict[str, Any]:
    """The function's pods spread over nodes as the scheduler's own default would (maxSkew 3, a
    preference), said in the pod. A pod with no constraint of its own gets the scheduler's
    defaults, whose selector it works out for each pod it places by matching the selector of
    every Service in the namespace against the pod: with thousands of Functions (a Service each)
    beside it, that is milliseconds on every cold start's path. Nodes without a zone label would
    drop out of a zone constraint said in the pod, so the zone is left to the nodes' spread."""
    return {
        "maxSkew": 3,
        "topologyKey": "kubernetes.io/hostname",
        "whenUnsatisfiable": "ScheduleAnyway",
        "labelSelector": {"matchLabels": selector_labels(fn)},
    }


def code_in_env(fn: Function, settings: DeploymentSettings, layers: Sequence[LayerData] = ()) -> str | None:
    """The ``CODE_ENV`` value of ``fn``'s pods when they start with no volume at all, else None.

    The kubelet starts a pod's sandbox only once its volumes are mounted, and looks every 0.3 s:
    a pod with none starts about that much sooner (docs/benchmarks.md, "Real node"). So small
    inline code of a runtime that writes it out itself goes in the environment, and ``/tmp`` is
    the image's own (``_without_volumes``). Code from an image, a ConfigMap of its own or a
    package, code with folders or dependencies to install, layers and Secret files keep their
    volumes, as does every pod when the installation turns this off.
    """
    spec = fn.spec
    if not settings.start_without_volumes or spec.runtime.language not in CODE_ENV_LANGUAGES:
        return None
    if spec.code.image or spec.code.config_map or spec.code.archive or layers or spec.secret_files:
        return None
    files = spec.code_files()
    if not files or DEPENDENCY_FILES[spec.runtime.language] in files or any("/" in name for name in files):
        return None
    value = json.dumps(files, separators=(",", ":"), sort_keys=True)
    return value if len(value.encode()) <= CODE_ENV_MAX_BYTES else None


def _without_volumes(container: dict[str, Any], code: str, settings: DeploymentSettings) -> None:
    """A pod with no volume: its code in its environment and ``/tmp`` on the container's own
    writable layer. The root file system is writable for it, but the function's user (uid 10001)
    owns nothing in wisp's runtime images: ``/tmp`` and ``/var/tmp`` are the only places it can
    write, as with a read-only root and a ``/tmp`` volume. An ephemeral-storage limit bounds
    ``/tmp`` as the volume's size limit does (the kubelet evicts a pod past either); nothing is
    requested, so scheduling is as before."""
    container["env"].append({"name": contract.CODE_ENV, "value": code})
    container["volumeMounts"] = []
    container["securityContext"]["readOnlyRootFilesystem"] = False
    resources = container["resources"]
    resources["requests"]["ephemeral-storage"] = "0"
    resources["limits"]["ephemeral-storage"] = settings.tmp_size_limit


def scale_bounds(fn: Function) -> str:
    """What the operator last enforced on replicas: ``min-max`` or ``pinned=N``."""
    if fn.spec.replicas is not None:
        return f"pinned={fn.spec.replicas}"
    return f"{fn.spec.scale.min}-{fn.spec.scale.max}"


def _has_identity(fn: Function) -> bool:
    return fn.spec.service_account_name is not None or fn.spec.role is not None


def initial_replicas(fn: Function) -> int:
    return fn.spec.replicas if fn.spec.replicas is not None else fn.spec.scale.min


def _container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }


def _boosted(fn: Function, cpu: CpuSettings) -> bool:
    return cpu.mode is CpuMode.BOOST and cpu.boost_millis > fn.spec.cpu_millis


def _cpu_annotations(fn: Function, cpu: CpuSettings) -> dict[str, str]:
    """What the gateway resizes a boosted pod's CPU limit to once it is Ready."""
    return {CPU_AFTER_START_ANNOTATION: f"{fn.spec.cpu_millis}m"} if _boosted(fn, cpu) else {}


def _resources(fn: Function, cpu: CpuSettings) -> dict[str, Any]:
    memory = f"{fn.spec.memory_mib}Mi"
    proportional = f"{fn.spec.cpu_millis}m"
    if cpu.mode is CpuMode.REQUEST:
        # Burstable without a CPU limit: the scheduler reserves the proportional CPU, and the pod
        # may use whatever is idle on its node beyond it, at start-up and afterwards.
        return {"requests": {"cpu": proportional, "memory": memory}, "limits": {"memory": memory}}
    # The request stays at half the proportional CPU in both other modes, so a boost changes
    # neither scheduling nor the QoS class (which an in-place resize must keep).
    limit = f"{cpu.boost_millis}m" if _boosted(fn, cpu) else proportional
    return {
        "requests": {"cpu": f"{max(10, fn.spec.cpu_millis // 2)}m", "memory": memory},
        "limits": {"cpu": limit, "memory": memory},
    }


def _env(fn: Function, settings: DeploymentSettings) -> list[dict[str, Any]]:
    base = contract.runtime_environment(
        fn,
        max_body_bytes=settings.max_body_bytes,
        region=settings.region,
        account_id=settings.account_id,
        exit_on_load_failure=True,
    )
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in base.items()]
    # The user's entries stay as written: a secretKeyRef remains a reference.
    env.extend(dict(item) for item in fn.spec.env)
    return env


def _mounts(fn: Function) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
    if fn.spec.code.image is None:
        mounts.append({"name": "code", "mountPath": contract.CODE_DIR, "readOnly": True})
    mounts.extend(
        {"name": f"secret-{i}", "mountPath": f"{SECRETS_DIR}/{name}", "readOnly": True}
        for i, name in enumerate(fn.spec.secret_files)
    )
    return mounts


def _volumes(
    fn: Function, settings: DeploymentSettings, referenced: Mapping[str, str], layers: Sequence[LayerData]
) -> list[dict[str, Any]]:
    volumes: list[dict[str, Any]] = [
        {"name": "tmp", "emptyDir": {"sizeLimit": settings.tmp_size_limit}},
    ]
    if fn.spec.code.archive is not None:
        # The init step unpacks the package here; a package may unpack to 250 MB, beyond /tmp's limit.
        volumes.append({"name": "code", "emptyDir": {}})
        if settings.packages.node_cache:
            volumes.append(
                {
                    "name": PACKAGE_CACHE_VOLUME,
                    "hostPath": {"path": settings.packages.node_cache, "type": "DirectoryOrCreate"},
                }
            )
        secret = pull_secret(fn.spec.code.archive, settings.packages)
        if secret:
            # Only the registry credentials, only for the init step; a missing Secret keeps the
            # pod from starting, and the kubelet says which Secret in the pod's events.
            only = [{"key": DOCKER_CONFIG_KEY, "path": "config.json"}]
            volumes.append({"name": REGISTRY_AUTH_VOLUME, "secret": {"secretName": secret, "items": only}})
    elif fn.spec.code.image is None:
        configmap = fn.spec.code.config_map or Names.of(fn).configmap
        # Code with folders: each flat key goes to its path (wisp.api.codepaths).
        data = referenced if fn.spec.code.config_map is not None else config_map_data(fn.spec.code_files())
        items = volume_items(data)
        volumes.append(
            {"name": "code", "configMap": {"name": configmap, **({"items": items} if items else {})}}
        )
    layer_volume = layers_volume(layers)
    if layer_volume is not None:
        volumes.append(layer_volume)
    # Readable by the runtime's group only (fsGroup); a file per key, updated in place when the
    # Secret changes.
    volumes.extend(
        {"name": f"secret-{i}", "secret": {"secretName": name, "defaultMode": 0o440}}
        for i, name in enumerate(fn.spec.secret_files)
    )
    return volumes


def _function_container(fn: Function, image: str, settings: DeploymentSettings) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": image,
        "imagePullPolicy": settings.images.pull_policy,
        "ports": [{"name": "http", "containerPort": contract.PORT, "protocol": "TCP"}],
        "env": _env(fn, settings),
        **({"envFrom": [dict(item) for item in fn.spec.env_from]} if fn.spec.env_from else {}),
        "resources": _resources(fn, settings.cpu),
        "securityContext": _container_security(),
        "volumeMounts": _mounts(fn),
        # A runtime that ends writes why to the termination log; any other container that
        # crashes (a code image) leaves its log's last lines there instead.
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "readinessProbe": {
            "httpGet": {"path": contract.HEALTH_PATH, "port": "http"},
            "periodSeconds": 1,
            "failureThreshold": 3,
            "timeoutSeconds": 1,
        },
        "livenessProbe": {
            "httpGet": {"path": contract.LIVENESS_PATH, "port": "http"},
            "periodSeconds": 10,
            "failureThreshold": 3,
            "timeoutSeconds": 2,
        },
    }
    if _boosted(fn, settings.cpu):
        # The resize down must not restart the runtime (memory is never resized).
        container["resizePolicy"] = [
            {"resourceName": "cpu", "restartPolicy": "NotRequired"},
            {"resourceName": "memory", "restartPolicy": "RestartContainer"},
        ]
    return container


def pull_secret(archive: ArchiveSpec, packages: PackageSettings) -> str:
    """The Secret holding the registry credentials of a package ("" = anonymous): the Function's
    ``spec.code.archive.pullSecret``, else the installation's; none for an HTTPS URL."""
    if archive.url is not None:
        return ""
    return archive.pull_secret or packages.pull_secret


def fetch_container(fn: Function, main: Mapping[str, Any], settings: DeploymentSettings) -> dict[str, Any]:
    """The init step that fetches ``spec.code.archive`` by digest, checks it and unpacks it into the
    code folder (``wisp fetch-code``); it fails, and the runtime never starts, when the package is
    missing or its bytes are not the digest's."""
    archive = fn.spec.code.archive
    assert archive is not None
    packages = settings.packages
    args = ["fetch-code", "--digest", archive.digest, "--into", contract.CODE_DIR]
    if archive.url is not None:
        args += ["--url", archive.url]
    else:
        repository = archive.repository or packages.repository
        if not repository:
            raise SpecError(
                "spec.code.archive.repository",
                "is required: this installation has no package store "
                "(the chart's functions.packages.repository)",
            )
        args += ["--repository", repository]
        args += [arg for host in packages.plain_http for arg in ("--plain-http", host)]
    mounts: list[dict[str, Any]] = [
        {"name": "code", "mountPath": contract.CODE_DIR},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if pull_secret(archive, packages):
        args += ["--registry-auth", f"{REGISTRY_AUTH_DIR}/config.json"]
        mounts.append({"name": REGISTRY_AUTH_VOLUME, "mountPath": REGISTRY_AUTH_DIR, "readOnly": True})
    security = _container_security()
    if packages.node_cache:
        args += ["--cache", PACKAGE_CACHE_DIR]
        mounts.append({"name": PACKAGE_CACHE_VOLUME, "mountPath": PACKAGE_CACHE_DIR})
        # The node's cache folder is root's (the kubelet makes it); the step writes there as root
        # without any capability, and checks every cached package's digest before using it.
        security = {**security, "runAsNonRoot": False, "runAsUser": 0, "runAsGroup": RUNTIME_UID}
    return {
        "name": FETCH_CONTAINER,
        "image": packages.fetcher_image,
        "imagePullPolicy": settings.images.pull_policy,
        "args": args,
        "env": [{"name": "TMPDIR", "value": "/tmp"}],
        "resources": main["resources"],
        "securityContext": security,
        "volumeMounts": mounts,
        "terminationMessagePolicy": "File",
    }


def _deps_container(
    fn: Function, image: str, main: Mapping[str, Any], settings: DeploymentSettings
) -> dict[str, Any]:
    return {
        "name": "install-dependencies",
        "image": image,
        "imagePullPolicy": settings.images.pull_policy,
        "command": _DEPS_COMMANDS[fn.spec.runtime.language],
        "env": main["env"],
        **({"envFrom": main["envFrom"]} if "envFrom" in main else {}),
        "resources": main["resources"],
        "securityContext": _container_security(),
        "volumeMounts": main["volumeMounts"],
    }
