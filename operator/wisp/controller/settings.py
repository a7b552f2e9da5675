"""The operator's settings, from flags and environment."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace

from wisp.api import contract
from wisp.api.checks import SpecError
from wisp.api.cpu import CpuMode
from wisp.api.identity import PolicyRule, parse_grantable_rules
from wisp.api.names import function_key
from wisp.api.quantities import parse_cpu_millis
from wisp.resources.deployment import CpuSettings, DeploymentSettings, ImageSettings, PackageSettings
from wisp.resources.network import GatewayPeer


@dataclass(frozen=True)
class OperatorSettings:
    namespaces: tuple[str, ...] = ()  # empty: every namespace
    peering: str | None = None  # kopf peering name; None: standalone
    liveness_port: int = 8081
    gateway_url: str = "http://wisp-gateway.wisp-system.svc.cluster.local"
    resync_seconds: float = 60.0
    resync_rate: float = 2.0  # at most this many resync reconciles a second (WISP_RESYNC_RATE)
    # Reconciles run at once (WISP_RECONCILE_WORKERS): the work queue's threads. Each spends most
    # of its time waiting for the API server, so throughput is workers / a reconcile's round
    # trips: with 8, a bulk apply fell minutes behind kubectl.
    reconcile_workers: int = 32
    # How long a version nothing points at is kept before it is deleted (WISP_VERSION_RETENTION_SECONDS).
    version_retention: float = 86400.0
    function_cluster_ip: bool = False  # headless Function Services unless asked (WISP_FUNCTION_CLUSTER_IP)
    deployment: DeploymentSettings = field(default_factory=DeploymentSettings)
    # What spec.role may ask for (WISP_GRANTABLE_RULES, a JSON list of RBAC rules; the chart's
    # functions.identity.grantableRules, which it also grants the operator).
    grantable_rules: tuple[PolicyRule, ...] = ()
    gateway_peer: GatewayPeer = field(default_factory=GatewayPeer)  # who spec.network always lets in

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> OperatorSettings:
        env = dict(os.environ if env is None else env)
        images = ImageSettings(
            python=env.get("WISP_IMAGE_PYTHON", ImageSettings.python),
            node=env.get("WISP_IMAGE_NODE", ImageSettings.node),
            java=env.get("WISP_IMAGE_JAVA", ImageSettings.java),
            java_source=env.get("WISP_IMAGE_JAVA_JDK", ImageSettings.java_source),
            provided=env.get("WISP_IMAGE_PROVIDED", ImageSettings.provided),
            pull_policy=env.get("WISP_IMAGE_PULL_POLICY", ImageSettings.pull_policy),
        )
        namespaces = tuple(n.strip() for n in env.get("WISP_NAMESPACES", "").split(",") if n.strip())
        values: dict[str, object] = {
            "namespaces": namespaces,
            "peering": env.get("WISP_PEERING") or None,
            "gateway_url": env.get("WISP_GATEWAY_URL", cls.gateway_url).rstrip("/"),
            "resync_seconds": float(env.get("WISP_RESYNC_SECONDS", cls.resync_seconds)),
            "resync_rate": _positive("WISP_RESYNC_RATE", env.get("WISP_RESYNC_RATE"), cls.resync_rate),
            "reconcile_workers": _count(
                "WISP_RECONCILE_WORKERS", env.get("WISP_RECONCILE_WORKERS"), cls.reconcile_workers
            ),
            "version_retention": float(env.get("WISP_VERSION_RETENTION_SECONDS", cls.version_retention)),
            "function_cluster_ip": env.get("WISP_FUNCTION_CLUSTER_IP", "").strip().lower()
            in ("1", "true", "yes"),
            "deployment": DeploymentSettings(
                images=images,
                packages=package_settings(env),
                cpu=cpu_settings(env),
                start_without_volumes=_flag(env, "WISP_FUNCTION_START_WITHOUT_VOLUMES", default=True),
                max_body_bytes=int(env.get("WISP_MAX_BODY_BYTES", contract.DEFAULT_MAX_BODY_BYTES)),
                region=env.get("WISP_REGION", "").strip(),
                account_id=env.get("WISP_ACCOUNT_ID", "").strip(),
            ),
        }
        values.update(network_settings(env))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def function_url(self, name: str, namespace: str) -> str:
        return f"{self.gateway_url}/function/{function_key(name, namespace)}"


def network_settings(env: dict[str, str]) -> dict[str, object]:
    """Grantable rules and the gateway's pods, from ``WISP_GRANTABLE_RULES``,
    ``WISP_GATEWAY_NAMESPACE``, ``WISP_GATEWAY_POD_LABELS`` (JSON) and ``WISP_GATEWAY_POD_PORT``."""
    try:
        grantable = parse_grantable_rules(
            json.loads(env.get("WISP_GRANTABLE_RULES") or "[]"), "WISP_GRANTABLE_RULES"
        )
        labels = json.loads(env.get("WISP_GATEWAY_POD_LABELS") or "null")
    except (ValueError, SpecError) as exc:
        raise ValueError(f"WISP_GRANTABLE_RULES / WISP_GATEWAY_POD_LABELS: {exc}") from None
    port = env.get("WISP_GATEWAY_POD_PORT") or str(GatewayPeer.port)
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"WISP_GATEWAY_POD_PORT: {port!r} is not a port number (1-65535)")
    peer = GatewayPeer(namespace=env.get("WISP_GATEWAY_NAMESPACE") or GatewayPeer.namespace, port=int(port))
    if labels is not None:
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise ValueError("WISP_GATEWAY_POD_LABELS: must be a JSON map of label to value")
        peer = replace(peer, labels=labels)
    return {"grantable_rules": grantable, "gateway_peer": peer}


def package_settings(env: dict[str, str]) -> PackageSettings:
    """``WISP_IMAGE_FETCHER`` (the wisp image, whose ``wisp fetch-code`` is the packages' init step),
    ``WISP_PACKAGE_REPOSITORY``, ``WISP_PACKAGE_PLAIN_HTTP`` (registries, comma-separated) and
    ``WISP_PACKAGE_NODE_CACHE`` (a host folder; empty: none), ``WISP_PACKAGE_PULL_SECRET`` (a
    dockerconfigjson Secret's name; empty: anonymous pulls) and
    ``WISP_PACKAGE_PULL_SECRET_NAMESPACE`` (where that Secret is: the operator copies it into the
    function namespaces that need it; empty: it must exist in each)."""
    plain = tuple(h.strip() for h in env.get("WISP_PACKAGE_PLAIN_HTTP", "").split(",") if h.strip())
    return PackageSettings(
        fetcher_image=env.get("WISP_IMAGE_FETCHER") or PackageSettings.fetcher_image,
        repository=env.get("WISP_PACKAGE_REPOSITORY", "").strip(),
        plain_http=plain,
        node_cache=env.get("WISP_PACKAGE_NODE_CACHE", PackageSettings.node_cache).strip(),
        pull_secret=env.get("WISP_PACKAGE_PULL_SECRET", "").strip(),
        pull_secret_namespace=env.get("WISP_PACKAGE_PULL_SECRET_NAMESPACE", "").strip(),
    )


def cpu_settings(env: dict[str, str]) -> CpuSettings:
    """``WISP_FUNCTION_CPU_MODE`` (limit, request, boost) and ``WISP_FUNCTION_CPU_BOOST`` (500m, 1)."""
    mode = env.get("WISP_FUNCTION_CPU_MODE") or CpuSettings.mode.value
    boost = env.get("WISP_FUNCTION_CPU_BOOST") or f"{CpuSettings.boost_millis}m"
    try:
        return CpuSettings(mode=CpuMode(mode), boost_millis=parse_cpu_millis(boost))
    except ValueError as exc:
        raise ValueError(f"WISP_FUNCTION_CPU_MODE / WISP_FUNCTION_CPU_BOOST: {exc}") from None


def _flag(env: dict[str, str], name: str, *, default: bool) -> bool:
    text = env.get(name, "").strip().lower()
    if not text:
        return default
    if text in ("1", "true", "yes"):
        return True
    if text in ("0", "false", "no"):
        return False
    raise ValueError(f"{name} must be true or false, not {text!r}")


def _count(name: str, text: str | None, default: int) -> int:
    if text is None or not text.strip():
        return default
    if not text.strip().isdigit() or int(text) < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, not {text!r}")
    return int(text)


def _positive(name: str, text: str | None, default: float) -> float:
    if text is None or not text.strip():
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{name} must be a number of reconciles a second, not {text!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive, not {text!r}")
    return value
