"""The gateway's settings: one frozen dataclass, read from command-line flags or the environment.

Flags win over environment variables, which win over the defaults below.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from wisp.api.names import FUNCTION_LABEL


@dataclass(frozen=True)
class GatewayConfig:
    host: str = "0.0.0.0"
    port: int = 8080
    admin_port: int = 9090
    namespaces: tuple[str, ...] = ()  # empty: all namespaces
    default_namespace: str = "default"
    max_body_bytes: int = 6 * 1024 * 1024
    # Seconds a caller has to send its whole request body (408 past it); the body is read
    # before the call takes a slot on a pod, so a slow uploader holds no slot meanwhile.
    body_read_timeout: float = 30.0
    # Seconds from the first byte of a request head to its end (408 and close past it).
    header_read_timeout: float = 10.0
    # The largest answer passed on from a function (Lambda's 6 MB): past it the caller gets
    # 502 ResponseTooLarge, or a cut connection when the answer was already streaming.
    max_response_bytes: int = 6 * 1024 * 1024
    cold_start_timeout: float = 60.0
    max_held_requests: int = 1000
    queue_timeout: float = 10.0
    # Added to a Function's timeout before the gateway gives up on a call (the runtime answers
    # 504 itself at the timeout; the margin covers a pod that stopped answering).
    timeout_margin: float = 2.0
    lease_name: str = "wisp-gateway"
    lease_namespace: str = "default"
    pod_name: str = field(default_factory=lambda: os.uname().nodename)
    kubeconfig: str | None = None
    autoscale_tick: float = 2.0
    # The autoscaler's averaging windows (Knative's defaults): steady decisions and bursts.
    autoscale_stable_window: float = 60.0
    autoscale_panic_window: float = 6.0
    endpoint_selector: str = FUNCTION_LABEL
    # Probe a starting pod's /healthz from the gateway and route to it at the first 200, ahead of
    # the kubelet's readiness probe (Kubernetes backend only).
    probe_pods: bool = True
    # The account part of Lambda ARNs (WISP_ACCOUNT_ID, as the operator tells functions): an ARN
    # naming it calls a function of the default namespace; without it, or for any other
    # account, the account part is the namespace (docs/lambda.md).
    account_id: str = ""
    # The warm pool (docs/warm-pool.md): the namespace of its pods (empty: no pool) and the key
    # each pool pod's token is derived from (a pod's token is its own; pods never see the key).
    pool_namespace: str = ""
    pool_key: str = field(default="", repr=False)
    # Traces (docs/tracing.md): spans go to this OTLP/HTTP endpoint (empty: tracing off), for
    # this share of the traces the gateway starts (a caller's sampling decision is kept).
    otlp_endpoint: str = ""
    trace_sample_ratio: float = 1.0

    def __post_init__(self) -> None:
        if not 0 < self.autoscale_panic_window <= self.autoscale_stable_window:
            raise ValueError(
                f"the autoscaler's panic window ({self.autoscale_panic_window} s) must be positive "
                f"and at most its stable window ({self.autoscale_stable_window} s)"
            )
        if not 0.0 <= self.trace_sample_ratio <= 1.0:
            raise ValueError(f"the trace sample ratio must be within 0 and 1, not {self.trace_sample_ratio}")
        if self.autoscale_tick <= 0:
            raise ValueError(f"the autoscaler's tick must be positive, not {self.autoscale_tick}")

    def namespace_allowed(self, namespace: str) -> bool:
        return not self.namespaces or namespace in self.namespaces


_ENV = {
    "port": "WISP_GATEWAY_PORT",
    "admin_port": "WISP_ADMIN_PORT",
    "namespaces": "WISP_NAMESPACES",
    "default_namespace": "WISP_DEFAULT_NAMESPACE",
    "max_body_bytes": "WISP_MAX_BODY_BYTES",
    "body_read_timeout": "WISP_BODY_READ_TIMEOUT",
    "header_read_timeout": "WISP_HEADER_READ_TIMEOUT",
    "max_response_bytes": "WISP_MAX_RESPONSE_BYTES",
    "cold_start_timeout": "WISP_COLD_START_TIMEOUT",
    "max_held_requests": "WISP_MAX_HELD_REQUESTS",
    "queue_timeout": "WISP_QUEUE_TIMEOUT",
    "lease_name": "WISP_LEASE_NAME",
    "lease_namespace": "WISP_LEASE_NAMESPACE",
    "pod_name": "WISP_POD_NAME",
    "kubeconfig": "WISP_KUBECONFIG",
    "autoscale_tick": "WISP_AUTOSCALE_TICK",
    "autoscale_stable_window": "WISP_AUTOSCALE_STABLE_WINDOW",
    "autoscale_panic_window": "WISP_AUTOSCALE_PANIC_WINDOW",
    "host": "WISP_GATEWAY_HOST",
    "probe_pods": "WISP_PROBE_PODS",
    "account_id": "WISP_ACCOUNT_ID",
    "pool_namespace": "WISP_POOL_NAMESPACE",
    "pool_key": "WISP_POOL_KEY",
    "otlp_endpoint": "WISP_OTLP_ENDPOINT",
    "trace_sample_ratio": "WISP_TRACE_SAMPLE_RATIO",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags for every setting; unset flags fall back to the environment, then the default."""
    parser.add_argument("--host", help="address to listen on (WISP_GATEWAY_HOST; 0.0.0.0)")
    parser.add_argument("--port", type=int, help="invocation port (WISP_GATEWAY_PORT; 8080)")
    parser.add_argument(
        "--admin-port",
        type=int,
        help="/metrics, /healthz, /readyz and /system/* (WISP_ADMIN_PORT; 9090)",
    )
    parser.add_argument("--namespaces", help="comma list to serve; empty: all (WISP_NAMESPACES)")
    parser.add_argument("--default-namespace", help="namespace of /function/{name} (default)")
    parser.add_argument("--max-body-bytes", type=int, help="largest request body (6 MiB)")
    parser.add_argument("--max-response-bytes", type=int, help="largest answer passed on (6 MiB)")
    parser.add_argument("--header-read-timeout", type=float, help="seconds to send a request head (10)")
    parser.add_argument("--body-read-timeout", type=float, help="seconds to send a request body (30)")
    parser.add_argument("--cold-start-timeout", type=float, help="seconds a cold call waits (60)")
    parser.add_argument("--max-held-requests", type=int, help="cold calls held per function (1000)")
    parser.add_argument("--queue-timeout", type=float, help="seconds a call waits for a slot (10)")
    parser.add_argument("--lease-name", help="leader Lease name (wisp-gateway)")
    parser.add_argument("--lease-namespace", help="namespace of the Leases (default)")
    parser.add_argument("--pod-name", help="this replica's identity (WISP_POD_NAME; host name)")
    parser.add_argument(
        "--kubeconfig", help="kubeconfig path (WISP_KUBECONFIG); else in-cluster, then the default kubeconfig"
    )
    parser.add_argument("--autoscale-tick", type=float, help="seconds between decisions (2)")
    parser.add_argument(
        "--autoscale-stable-window", type=float, help="seconds averaged for steady decisions (60)"
    )
    parser.add_argument("--autoscale-panic-window", type=float, help="seconds watched for bursts (6)")
    parser.add_argument("--otlp-endpoint", help="OTLP/HTTP endpoint for spans (WISP_OTLP_ENDPOINT; off)")
    parser.add_argument(
        "--trace-sample-ratio", type=float, help="share of new traces sampled (WISP_TRACE_SAMPLE_RATIO; 1)"
    )


def config_from(args: argparse.Namespace | None, env: Mapping[str, str] | None = None) -> GatewayConfig:
    """The config from parsed flags (may be None) and an environment (os.environ by default)."""
    env = os.environ if env is None else env
    defaults = GatewayConfig()
    values: dict[str, object] = {}
    for name, var in _ENV.items():
        flag = getattr(args, name, None) if args is not None else None
        raw: object = flag if flag is not None else env.get(var)
        if raw is None or raw == "":
            continue
        values[name] = _convert(name, raw, getattr(defaults, name))
    return GatewayConfig(**values)  # type: ignore[arg-type]


def _convert(name: str, raw: object, default: object) -> object:
    if name == "namespaces":
        return tuple(n.strip() for n in str(raw).split(",") if n.strip())
    if isinstance(default, bool):
        return str(raw).lower() in ("1", "true", "yes")
    if isinstance(default, int):
        return int(str(raw))
    if isinstance(default, float):
        return float(str(raw))
    return str(raw)
