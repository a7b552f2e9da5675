"""The gateway's long-lived parts, held in one object under a typed ``web.AppKey``.

Parts that need a running loop (the client session, the backend's watches, the autoscaler
task) are filled in by ``app.cleanup_ctx`` and torn down by it; everything else exists from
``make_app`` on, so handlers never look anything up beyond attributes of ``Components``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web

from wisp.autoscaler.loop import Autoscaler
from wisp.gateway.activator import Activator
from wisp.gateway.admission import FastGuard
from wisp.gateway.backend import Backend
from wisp.gateway.config import GatewayConfig
from wisp.gateway.metrics import GatewayMetrics
from wisp.gateway.registry import Registry
from wisp.gateway.service import Gateway


@dataclass
class Components:
    config: GatewayConfig
    backend: Backend
    metrics: GatewayMetrics
    registry: Registry
    activator: Activator
    gateway: Gateway
    autoscaler: Autoscaler | None = None
    # (function key, "desired" | "ready") -> replicas, for metrics and /system/stats
    replicas: dict[tuple[str, str], int] = field(default_factory=dict)
    # Set by a layer that guards the invocation app (security): its decisions on the fast path.
    fast_guard: FastGuard | None = None

    def record_replicas(self, key: str, state: str, value: int) -> None:
        self.replicas[(key, state)] = value


COMPONENTS = web.AppKey("components", Components)
