"""The operator's settings, from flags and environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from wisp.api import contract
from wisp.api.cpu import CpuMode
from wisp.api.names import function_key
from wisp.api.quantities import parse_cpu_millis
from wisp.resources.deployment import CpuSettings, DeploymentSettings, ImageSettings


@dataclass(frozen=True)
class OperatorSettings:
    namespaces: tuple[str, ...] = ()  # empty: every namespace
    peering: str | None = None  # kopf peering name; None: standalone
    liveness_port: int = 8081
    gateway_url: str = "http://wisp-gateway.wisp-system.svc.cluster.local"
    resync_seconds: float = 60.0
    # How long a version nothing points at is kept before it is deleted (WISP_VERSION_RETENTION_SECONDS).
    version_retention: float = 86400.0
    function_cluster_ip: bool = False  # headless Function Services unless asked (WISP_FUNCTION_CLUSTER_IP)
    deployment: DeploymentSettings = field(default_factory=DeploymentSettings)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> OperatorSettings:
        env = dict(os.environ if env is None else env)
        images = ImageSettings(
            python=env.get("WISP_IMAGE_PYTHON", ImageSettings.python),
            node=env.get("WISP_IMAGE_NODE", ImageSettings.node),
            java=env.get("WISP_IMAGE_JAVA", ImageSettings.java),
            java_source=env.get("WISP_IMAGE_JAVA_JDK", ImageSettings.java_source),
            pull_policy=env.get("WISP_IMAGE_PULL_POLICY", ImageSettings.pull_policy),
        )
        namespaces = tuple(n.strip() for n in env.get("WISP_NAMESPACES", "").split(",") if n.strip())
        values: dict[str, object] = {
            "namespaces": namespaces,
            "peering": env.get("WISP_PEERING") or None,
            "gateway_url": env.get("WISP_GATEWAY_URL", cls.gateway_url).rstrip("/"),
            "resync_seconds": float(env.get("WISP_RESYNC_SECONDS", cls.resync_seconds)),
            "version_retention": float(env.get("WISP_VERSION_RETENTION_SECONDS", cls.version_retention)),
            "function_cluster_ip": env.get("WISP_FUNCTION_CLUSTER_IP", "").strip().lower()
            in ("1", "true", "yes"),
            "deployment": DeploymentSettings(
                images=images,
                cpu=cpu_settings(env),
                max_body_bytes=int(env.get("WISP_MAX_BODY_BYTES", contract.DEFAULT_MAX_BODY_BYTES)),
                region=env.get("WISP_REGION", "").strip(),
                account_id=env.get("WISP_ACCOUNT_ID", "").strip(),
            ),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def function_url(self, name: str, namespace: str) -> str:
        return f"{self.gateway_url}/function/{function_key(name, namespace)}"


def cpu_settings(env: dict[str, str]) -> CpuSettings:
    """``WISP_FUNCTION_CPU_MODE`` (limit, request, boost) and ``WISP_FUNCTION_CPU_BOOST`` (500m, 1)."""
    mode = env.get("WISP_FUNCTION_CPU_MODE") or CpuSettings.mode.value
    boost = env.get("WISP_FUNCTION_CPU_BOOST") or f"{CpuSettings.boost_millis}m"
    try:
        return CpuSettings(mode=CpuMode(mode), boost_millis=parse_cpu_millis(boost))
    except ValueError as exc:
        raise ValueError(f"WISP_FUNCTION_CPU_MODE / WISP_FUNCTION_CPU_BOOST: {exc}") from None
