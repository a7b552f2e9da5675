"""An in-memory ``Backend``: functions, triggers and endpoints set by hand.

Used by the gateway's functional tests and by anything embedding the gateway without a control
plane. ``scale()`` calls an optional async hook (a test's hook starts or stops real runtime
processes and then calls ``set_endpoints``), so scale-from-zero runs the same code paths as
on Kubernetes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from wisp.api.trigger import Trigger
from wisp.autoscaler.port import StatusUpdate
from wisp.gateway.backend import BackendEvents, Endpoint, FunctionInfo

ScaleHook = Callable[[str, int], Awaitable[None]]


class StaticBackend:
    def __init__(self, on_scale: ScaleHook | None = None) -> None:
        self.functions: dict[str, FunctionInfo] = {}
        self.triggers: dict[str, Trigger] = {}
        self.endpoints: dict[str, tuple[Endpoint, ...]] = {}
        self.replicas: dict[str, int] = {}
        self.statuses: dict[str, StatusUpdate] = {}
        self.scale_calls: list[tuple[str, int]] = []
        self.failure_causes: dict[str, str] = {}  # endpoint (pod) name -> why it drops calls
        self._on_scale = on_scale
        self._events: BackendEvents | None = None
        self._scaled_up: Callable[[str], None] | None = None

    # -- the Backend protocol ------------------------------------------------------------------

    async def start(self, events: BackendEvents) -> None:
        self._events = events
        for info in self.functions.values():
            events.function_upserted(info)
        for trigger in self.triggers.values():
            events.trigger_upserted(trigger)
        for key, endpoints in self.endpoints.items():
            events.endpoints_changed(key, endpoints)
        events.synced()

    async def stop(self) -> None:
        self._events = None

    async def scale(self, function_key: str, replicas: int) -> None:
        self.scale_calls.append((function_key, replicas))
        self.replicas[function_key] = replicas
        if self._on_scale is not None:
            await self._on_scale(function_key, replicas)

    def on_scaled_up(self, wake: Callable[[str], None]) -> None:
        self._scaled_up = wake

    async def get_replicas(self, function_key: str) -> int:
        return self.replicas.get(function_key, len(self.endpoints.get(function_key, ())))

    async def publish_status(self, function_key: str, update: StatusUpdate) -> None:
        self.statuses[function_key] = update

    async def failure_cause(self, function_key: str, endpoint: Endpoint, since: float) -> str | None:
        return self.failure_causes.get(endpoint.name)

    # -- setting the picture by hand -----------------------------------------------------------

    def set_function(self, info: FunctionInfo) -> None:
        self.functions[info.key] = info
        if self._events is not None:
            self._events.function_upserted(info)

    def delete_function(self, key: str) -> None:
        self.functions.pop(key, None)
        if self._events is not None:
            self._events.function_deleted(key)

    def set_trigger(self, trigger: Trigger) -> None:
        self.triggers[trigger.key] = trigger
        if self._events is not None:
            self._events.trigger_upserted(trigger)

    def delete_trigger(self, key: str) -> None:
        self.triggers.pop(key, None)
        if self._events is not None:
            self._events.trigger_deleted(key)

    def set_replicas(self, function_key: str, replicas: int) -> None:
        """Someone else (``kubectl scale``, another gateway) set the function's replica count."""
        self.replicas[function_key] = replicas
        if replicas > 0 and self._scaled_up is not None:
            self._scaled_up(function_key)

    def set_endpoints(self, function_key: str, endpoints: tuple[Endpoint, ...]) -> None:
        self.endpoints[function_key] = endpoints
        if self._events is not None:
            self._events.endpoints_changed(function_key, endpoints)
