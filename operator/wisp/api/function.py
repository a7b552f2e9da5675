"""The Function resource, parsed and checked.

The API server validates Functions with the CRD's schema; ``parse_function`` applies the same
defaults and the same rules so that ``wisp dev`` (which has no API server) rejects the same specs
with the same field names, and so that every consumer works with typed values instead of dicts.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wisp.api.asyncspec import AsyncConfig, parse_async_config
from wisp.api.checks import SpecError as SpecError  # noqa: PLC0414 - re-exported for its importers
from wisp.api.checks import _duration_in, _int_in, _require, _typed
from wisp.api.codepaths import check_code_path
from wisp.api.cpu import CpuMode
from wisp.api.defaults import FUNCTION_DEFAULTS as DEFAULTS
from wisp.api.identity import RoleSpec, parse_role, parse_service_account_name
from wisp.api.logconfig import LoggingSpec, parse_logging
from wisp.api.names import function_key
from wisp.api.network import NetworkSpec, parse_network
from wisp.api.package import ArchiveSpec, parse_archive
from wisp.api.quantities import (
    cpu_millis_for_memory,
    parse_cpu_millis,
    parse_duration,
    parse_memory_bytes,
    parse_memory_mib,
)
from wisp.api.runtimes import Runtime
from wisp.api.version import Alias, parse_aliases

NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_PY_HANDLER = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*\.[A-Za-z_]\w*$")
_NODE_HANDLER = re.compile(r"^[A-Za-z0-9_$./-]+\.[A-Za-z_$][\w$]*$")
_JAVA_HANDLER = re.compile(r"^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*(::[A-Za-z_$][\w$]*)?$")
_PROVIDED_HANDLER = re.compile(r"^[!-~]+$")  # printable ASCII, no spaces (Lambda's is as free)
MAX_LAYERS = 5  # as Lambda
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_OBJECT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
CODE_SOURCES = ("inline", "files", "configMapRef", "image", "archive")
SECRETS_DIR = "/var/wisp/secrets"  # spec.secrets[i] is mounted at SECRETS_DIR/<name>


class ScaleMetric(enum.Enum):
    CONCURRENCY = "concurrency"
    RPS = "rps"


_DEFAULT_METRIC = ScaleMetric(DEFAULTS.scale_metric)
_DEFAULT_MEMORY_MIB = parse_memory_mib(DEFAULTS.memory)


@dataclass(frozen=True)
class ScaleSpec:
    min: int = DEFAULTS.scale_min
    max: int = DEFAULTS.scale_max
    metric: ScaleMetric = _DEFAULT_METRIC
    target: int = DEFAULTS.scale_target
    idle_timeout: float = parse_duration(DEFAULTS.scale_idle_timeout)


@dataclass(frozen=True)
class StreamingSpec:
    """Limits of a streamed answer (one the runtime marks ``X-Wisp-Stream``): the call's
    ``timeout`` bounds the wait for its head, these bound the stream itself."""

    timeout: float = parse_duration(DEFAULTS.streaming_timeout)
    max_bytes: int = parse_memory_bytes(DEFAULTS.streaming_max_bytes)


@dataclass(frozen=True)
class WebSocketSpec:
    """WebSocket connections to the function (``spec.websocket`` set): the gateway holds each
    socket and invokes the handler for its connect, each message and its disconnect."""

    idle_timeout: float = parse_duration(DEFAULTS.websocket_idle_timeout)
    max_duration: float = parse_duration(DEFAULTS.websocket_max_duration)


@dataclass(frozen=True)
class SecretKey:
    name: str
    key: str


@dataclass(frozen=True)
class RateLimit:
    rps: int
    burst: int


@dataclass(frozen=True)
class AccessSpec:
    """Who may call. ``public`` None means: follow the gateway's default."""

    public: bool | None = None
    token_secrets: tuple[SecretKey, ...] = ()
    hmac_secret: SecretKey | None = None
    hmac_tolerance: float = parse_duration(DEFAULTS.hmac_tolerance)
    rate_limit: RateLimit | None = None


@dataclass(frozen=True)
class CodeSpec:
    """Exactly one of the five sources is set."""

    inline: str | None = None
    files: Mapping[str, str] | None = None
    config_map: str | None = None
    image: str | None = None
    archive: ArchiveSpec | None = None  # a code package fetched by digest (wisp.api.package)

    @property
    def kind(self) -> str:
        for name in ("inline", "files", "config_map", "image", "archive"):
            if getattr(self, name) is not None:
                return name
        raise AssertionError("CodeSpec without a source")


@dataclass(frozen=True)
class LayerSpec:
    """A code package unpacked under /opt beside the function's code (Lambda's layers)."""

    config_map: str


@dataclass(frozen=True)
class FunctionSpec:
    runtime: Runtime
    handler: str
    code: CodeSpec
    env: tuple[Mapping[str, Any], ...] = ()
    memory: str = DEFAULTS.memory
    memory_mib: int = _DEFAULT_MEMORY_MIB
    cpu_millis: int = cpu_millis_for_memory(_DEFAULT_MEMORY_MIB)
    cpu_explicit: bool = False
    cpu_mode: CpuMode | None = None  # spec.cpuMode; None: the installation's
    timeout: float = parse_duration(DEFAULTS.timeout)
    concurrency: int = DEFAULTS.concurrency
    replicas: int | None = None
    scale: ScaleSpec = field(default_factory=ScaleSpec)
    streaming: StreamingSpec = field(default_factory=StreamingSpec)
    websocket: WebSocketSpec | None = None  # None: no WebSockets (an upgrade is a plain call)
    stack_traces: bool = DEFAULTS.stack_traces
    access: AccessSpec = field(default_factory=AccessSpec)
    async_config: AsyncConfig = field(default_factory=AsyncConfig)  # spec.async
    layers: tuple[LayerSpec, ...] = ()
    publish: bool = False  # spec.publish: publish a version whenever the snapshot changes
    aliases: Mapping[str, Alias] = field(default_factory=dict)  # spec.aliases
    logging: LoggingSpec = field(default_factory=LoggingSpec)
    env_from: tuple[Mapping[str, Any], ...] = ()  # spec.envFrom, as in a container
    secret_files: tuple[str, ...] = ()  # spec.secrets: Secrets mounted under SECRETS_DIR
    service_account_name: str | None = None  # spec.serviceAccountName: an existing account
    role: RoleSpec | None = None  # spec.role: an account, Role and RoleBinding of its own
    network: NetworkSpec | None = None  # spec.network

    def secret_names(self) -> list[tuple[str, str]]:
        """(field, Secret name) of every Secret the pods read: env, envFrom, files."""
        found: list[tuple[str, str]] = []
        for i, item in enumerate(self.env):
            ref = (item.get("valueFrom") or {}).get("secretKeyRef") or {}
            if ref.get("name") and not ref.get("optional"):
                found.append((f"spec.env[{i}].valueFrom.secretKeyRef", str(ref["name"])))
        for i, item in enumerate(self.env_from):
            ref = item.get("secretRef") or {}
            if ref.get("name") and not ref.get("optional"):
                found.append((f"spec.envFrom[{i}].secretRef", str(ref["name"])))
        found.extend((f"spec.secrets[{i}]", name) for i, name in enumerate(self.secret_files))
        return found

    def code_files(self) -> dict[str, str]:
        """The files wisp stores for inline or files code (empty for configMapRef and image)."""
        if self.code.inline is not None:
            return {handler_source_file(self.runtime, self.handler): self.code.inline}
        if self.code.files is not None:
            return dict(self.code.files)
        return {}


@dataclass(frozen=True)
class Function:
    name: str
    namespace: str
    spec: FunctionSpec
    generation: int = 0
    uid: str = ""
    kind: str = "Function"  # "FunctionVersion" for a version rendered as a function

    @property
    def key(self) -> str:
        """``name.namespace``: how the gateway's routes and metrics name a function."""
        return function_key(self.name, self.namespace)


def handler_source_file(runtime: Runtime, handler: str) -> str:
    """The file an inline handler is stored as: ``main.handler`` → ``main.py``."""
    module = handler.rsplit(".", 1)[0] if runtime.language in ("python", "node") else "Handler"
    if runtime.language == "python":
        return module.replace(".", "/") + ".py"
    if runtime.language == "node":
        return module if module.endswith((".js", ".mjs", ".cjs")) else module + ".js"
    if runtime.language == "provided":
        return "bootstrap"  # inline code is the bootstrap script
    return module + runtime.source_suffix


def parse_function(obj: Mapping[str, Any]) -> Function:
    """A Function from its API object (or YAML document); SpecError names the bad field."""
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name) or len(name) > 63:
        raise SpecError("metadata.name", "must be a DNS label (lowercase letters, digits, '-')")
    namespace = meta.get("namespace") or "default"
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        raise SpecError("spec", "Required value")
    return Function(
        name=name,
        namespace=str(namespace),
        spec=parse_function_spec(spec),
        generation=int(meta.get("generation") or 0),
        uid=str(meta.get("uid") or ""),
        kind="FunctionVersion" if obj.get("kind") == "FunctionVersion" else "Function",
    )


def parse_function_spec(spec: Mapping[str, Any]) -> FunctionSpec:
    runtime_text = _require(spec, "runtime", "spec")
    try:
        runtime = Runtime(runtime_text)
    except ValueError:
        allowed = ", ".join(r.value for r in Runtime)
        raise SpecError("spec.runtime", f"Unsupported value {runtime_text!r}: one of {allowed}") from None

    code = _parse_code(_require(spec, "code", "spec"))
    if runtime is Runtime.CUSTOM:
        if code.image is None:
            raise SpecError("spec.code.image", "is required when spec.runtime is custom")
        handler = str(spec.get("handler") or "")
    else:
        handler = _typed(_require(spec, "handler", "spec"), str, "spec.handler", "a string")
        _check_handler(runtime, handler)

    memory = _typed(spec.get("memory", DEFAULTS.memory), str, "spec.memory", "a quantity such as 256Mi")
    try:
        memory_mib = parse_memory_mib(memory)
    except ValueError as exc:
        raise SpecError("spec.memory", str(exc)) from None
    if not 64 <= memory_mib <= 10 * 1024:
        raise SpecError("spec.memory", f"must be between 64Mi and 10Gi, got {memory}")

    cpu_text = spec.get("cpu")
    if cpu_text is not None:
        try:
            cpu_millis = parse_cpu_millis(_typed(cpu_text, str, "spec.cpu", "a quantity such as 500m"))
        except ValueError as exc:
            raise SpecError("spec.cpu", str(exc)) from None
        if cpu_millis <= 0:
            raise SpecError("spec.cpu", "must be greater than zero")
    else:
        cpu_millis = cpu_millis_for_memory(memory_mib)
    cpu_mode = _parse_cpu_mode(spec.get("cpuMode"))

    timeout = _duration_in(spec.get("timeout", DEFAULTS.timeout), "spec.timeout", 1, 900, "1s", "15m")
    concurrency = _int_in(spec.get("concurrency", DEFAULTS.concurrency), "spec.concurrency", 1, 1000)
    replicas = spec.get("replicas")
    if replicas is not None:
        replicas = _int_in(replicas, "spec.replicas", 0, 1000)
    stack_traces = _typed(
        spec.get("stackTraces", DEFAULTS.stack_traces), bool, "spec.stackTraces", "a boolean"
    )
    service_account = parse_service_account_name(spec.get("serviceAccountName"))
    role = parse_role(spec.get("role"))
    if service_account is not None and role is not None:
        raise SpecError("spec.role", "sets spec.role or spec.serviceAccountName, not both")

    return FunctionSpec(
        runtime=runtime,
        handler=handler,
        code=code,
        env=_parse_env(spec.get("env") or []),
        memory=memory,
        memory_mib=memory_mib,
        cpu_millis=cpu_millis,
        cpu_explicit=cpu_text is not None,
        cpu_mode=cpu_mode,
        timeout=timeout,
        concurrency=concurrency,
        replicas=replicas,
        scale=_parse_scale(spec.get("scale") or {}),
        streaming=_parse_streaming(spec.get("streaming") or {}),
        websocket=_parse_websocket(spec.get("websocket")),
        stack_traces=stack_traces,
        access=_parse_access(spec.get("access")),
        async_config=parse_async_config(spec.get("async")),
        layers=_parse_layers(spec.get("layers") or []),
        publish=_typed(spec.get("publish", False), bool, "spec.publish", "a boolean"),
        aliases=parse_aliases(spec.get("aliases")),
        logging=parse_logging(spec.get("logging")),
        env_from=_parse_env_from(spec.get("envFrom") or []),
        secret_files=_parse_secret_files(spec.get("secrets") or []),
        service_account_name=service_account,
        role=role,
        network=parse_network(spec.get("network")),
    )


def _parse_layers(layers: Any) -> tuple[LayerSpec, ...]:
    _typed(layers, list, "spec.layers", "a list")
    if len(layers) > MAX_LAYERS:
        raise SpecError("spec.layers", f"at most {MAX_LAYERS} layers, got {len(layers)}")
    parsed: list[LayerSpec] = []
    for i, item in enumerate(layers):
        path = f"spec.layers[{i}]"
        _typed(item, Mapping, path, "an object")
        ref = _typed(_require(item, "configMapRef", path), Mapping, f"{path}.configMapRef", "an object")
        name = _typed(
            _require(ref, "name", f"{path}.configMapRef"), str, f"{path}.configMapRef.name", "a name"
        )
        if any(layer.config_map == name for layer in parsed):
            raise SpecError(f"{path}.configMapRef.name", f"Duplicate value {name!r}")
        parsed.append(LayerSpec(config_map=name))
    return tuple(parsed)


def _parse_cpu_mode(value: Any) -> CpuMode | None:
    if value is None:
        return None
    try:
        return CpuMode(value)
    except ValueError:
        raise SpecError("spec.cpuMode", f"must be limit, request or boost, got {value!r}") from None


def _check_handler(runtime: Runtime, handler: str) -> None:
    patterns = {
        "python": (_PY_HANDLER, "module.function (for example main.handler)"),
        "node": (_NODE_HANDLER, "file.export (for example index.handler)"),
        "java": (_JAVA_HANDLER, "package.Class or package.Class::method"),
        "provided": (_PROVIDED_HANDLER, "a name without spaces, given to the bootstrap as _HANDLER"),
    }
    pattern, shape = patterns[runtime.language]
    if not pattern.match(handler) or len(handler) > 256:
        raise SpecError("spec.handler", f"for {runtime.value} must be {shape}, got {handler!r}")


def _parse_code(code: Any) -> CodeSpec:
    _typed(code, Mapping, "spec.code", "an object")
    present = [k for k in CODE_SOURCES if code.get(k) is not None]
    if len(present) != 1:
        raise SpecError("spec.code", f"must set exactly one of {', '.join(CODE_SOURCES)}")
    kind = present[0]
    if kind == "archive":
        return CodeSpec(archive=parse_archive(code["archive"]))
    if kind == "inline":
        text = _typed(code["inline"], str, "spec.code.inline", "a string")
        if not text:
            raise SpecError("spec.code.inline", "must not be empty")
        return CodeSpec(inline=text)
    if kind == "files":
        files = _typed(code["files"], Mapping, "spec.code.files", "a map of file name to content")
        if not files:
            raise SpecError("spec.code.files", "must name at least one file")
        for fname, content in files.items():
            check_code_path(fname, f"spec.code.files[{fname}]")
            _typed(content, str, f"spec.code.files[{fname}]", "a string")
        return CodeSpec(files=dict(files))
    if kind == "configMapRef":
        ref = _typed(code["configMapRef"], Mapping, "spec.code.configMapRef", "an object")
        name = _require(ref, "name", "spec.code.configMapRef")
        return CodeSpec(config_map=_typed(name, str, "spec.code.configMapRef.name", "a name"))
    image = _typed(code["image"], str, "spec.code.image", "an image reference")
    if not image.strip() or any(c.isspace() for c in image):
        raise SpecError("spec.code.image", "must be an image reference without spaces")
    return CodeSpec(image=image)


def _parse_env(env: Any) -> tuple[Mapping[str, Any], ...]:
    _typed(env, list, "spec.env", "a list")
    seen: set[str] = set()
    for i, item in enumerate(env):
        path = f"spec.env[{i}]"
        _typed(item, Mapping, path, "an object")
        name = _typed(_require(item, "name", path), str, f"{path}.name", "a string")
        if not _ENV_NAME.match(name):
            raise SpecError(f"{path}.name", f"{name!r} is not a valid environment variable name")
        if name.startswith("WISP_"):
            raise SpecError(f"{path}.name", "names starting with WISP_ are reserved for the runtime")
        if name in seen:
            raise SpecError(f"{path}.name", f"Duplicate value {name!r}")
        seen.add(name)
        if "value" in item and "valueFrom" in item:
            raise SpecError(path, "sets value or valueFrom, not both")
    return tuple(dict(item) for item in env)


def _ref_name(ref: Any, path: str) -> str:
    _typed(ref, Mapping, path, "an object")
    name = _typed(_require(ref, "name", path), str, f"{path}.name", "a name")
    if not _OBJECT_NAME.match(name) or len(name) > 253:
        raise SpecError(f"{path}.name", f"{name!r} is not a valid object name")
    return str(name)


def _parse_env_from(env_from: Any) -> tuple[Mapping[str, Any], ...]:
    _typed(env_from, list, "spec.envFrom", "a list")
    for i, item in enumerate(env_from):
        path = f"spec.envFrom[{i}]"
        _typed(item, Mapping, path, "an object")
        refs = [k for k in ("configMapRef", "secretRef") if item.get(k) is not None]
        if len(refs) != 1:
            raise SpecError(path, "must set exactly one of configMapRef, secretRef")
        _ref_name(item[refs[0]], f"{path}.{refs[0]}")
        prefix = item.get("prefix")
        if prefix is not None:
            _typed(prefix, str, f"{path}.prefix", "a string")
            if prefix.startswith("WISP_"):
                raise SpecError(f"{path}.prefix", "names starting with WISP_ are reserved for the runtime")
    return tuple(dict(item) for item in env_from)


def _parse_secret_files(secrets: Any) -> tuple[str, ...]:
    _typed(secrets, list, "spec.secrets", "a list")
    names: list[str] = []
    for i, item in enumerate(secrets):
        name = _ref_name(item, f"spec.secrets[{i}]")
        if name in names:
            raise SpecError(f"spec.secrets[{i}].name", f"Duplicate value {name!r}")
        names.append(name)
    return tuple(names)


def _parse_scale(scale: Any) -> ScaleSpec:
    _typed(scale, Mapping, "spec.scale", "an object")
    lo = _int_in(scale.get("min", DEFAULTS.scale_min), "spec.scale.min", 0, 1000)
    hi = _int_in(scale.get("max", DEFAULTS.scale_max), "spec.scale.max", 1, 1000)
    if lo > hi:
        raise SpecError("spec.scale.min", f"must not be greater than spec.scale.max ({lo} > {hi})")
    try:
        metric = ScaleMetric(scale.get("metric", DEFAULTS.scale_metric))
    except ValueError:
        raise SpecError("spec.scale.metric", "Unsupported value: one of concurrency, rps") from None
    target = _int_in(scale.get("target", DEFAULTS.scale_target), "spec.scale.target", 1, 10000)
    idle = _duration_in(
        scale.get("idleTimeout", DEFAULTS.scale_idle_timeout), "spec.scale.idleTimeout", 1, 86400, "1s", "24h"
    )
    return ScaleSpec(min=lo, max=hi, metric=metric, target=target, idle_timeout=idle)


MAX_STREAM_BYTES = 10 * 1024**3


def _parse_streaming(streaming: Any) -> StreamingSpec:
    _typed(streaming, Mapping, "spec.streaming", "an object")
    timeout = _duration_in(
        streaming.get("timeout", DEFAULTS.streaming_timeout), "spec.streaming.timeout", 1, 86400, "1s", "24h"
    )
    text = _typed(
        streaming.get("maxBytes", DEFAULTS.streaming_max_bytes),
        str,
        "spec.streaming.maxBytes",
        "a quantity such as 200Mi",
    )
    try:
        max_bytes = parse_memory_bytes(text)
    except ValueError as exc:
        raise SpecError("spec.streaming.maxBytes", str(exc)) from None
    if not 1024**2 <= max_bytes <= MAX_STREAM_BYTES:
        raise SpecError("spec.streaming.maxBytes", f"must be between 1Mi and 10Gi, got {text}")
    return StreamingSpec(timeout=timeout, max_bytes=max_bytes)


def _parse_websocket(websocket: Any) -> WebSocketSpec | None:
    if websocket is None:
        return None
    _typed(websocket, Mapping, "spec.websocket", "an object")
    idle = _duration_in(
        websocket.get("idleTimeout", DEFAULTS.websocket_idle_timeout),
        "spec.websocket.idleTimeout",
        1,
        7200,
        "1s",
        "2h",
    )
    total = _duration_in(
        websocket.get("maxDuration", DEFAULTS.websocket_max_duration),
        "spec.websocket.maxDuration",
        1,
        86400,
        "1s",
        "24h",
    )
    return WebSocketSpec(idle_timeout=idle, max_duration=total)


def _secret_key(obj: Any, path: str, default_key: str) -> SecretKey:
    _typed(obj, Mapping, path, "an object")
    name = _typed(_require(obj, "name", path), str, f"{path}.name", "a Secret name")
    return SecretKey(name=name, key=str(obj.get("key") or default_key))


def _parse_access(access: Any) -> AccessSpec:
    if access is None:
        return AccessSpec()
    _typed(access, Mapping, "spec.access", "an object")
    public = access.get("public")
    if public is not None:
        _typed(public, bool, "spec.access.public", "a boolean")
    tokens = tuple(
        _secret_key(t, f"spec.access.tokenSecrets[{i}]", DEFAULTS.token_secret_key)
        for i, t in enumerate(access.get("tokenSecrets") or [])
    )
    hmac = access.get("hmacSecret")
    hmac_secret = _secret_key(hmac, "spec.access.hmacSecret", DEFAULTS.hmac_secret_key) if hmac else None
    tolerance = AccessSpec.hmac_tolerance
    if hmac:
        tolerance = _duration_in(
            hmac.get("tolerance", DEFAULTS.hmac_tolerance),
            "spec.access.hmacSecret.tolerance",
            1,
            86400,
            "1s",
            "24h",
        )
    rate = access.get("rateLimit")
    rate_limit = None
    if rate is not None:
        rps = _int_in(_require(rate, "rps", "spec.access.rateLimit"), "spec.access.rateLimit.rps", 1, 100000)
        burst = _int_in(rate.get("burst", rps), "spec.access.rateLimit.burst", 1, 100000)
        rate_limit = RateLimit(rps=rps, burst=burst)
    return AccessSpec(
        public=public,
        token_secrets=tokens,
        hmac_secret=hmac_secret,
        hmac_tolerance=tolerance,
        rate_limit=rate_limit,
    )
