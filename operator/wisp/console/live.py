"""The console's view of the gateway it is mounted in: functions with live stats, time series,
usage, and test calls through the gateway's own invoke path.

Reads ``wisp.gateway.state.Components`` (the registry's upstreams and their ``FunctionStats``,
the autoscaler's desired replicas) and never writes to them; test calls go through
``Gateway.invoke``, so they are balanced, activated from zero and metered like any other call.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wisp.api import contract
from wisp.api.names import function_key
from wisp.api.runtimes import deprecation_warning
from wisp.console.tap import Observed, StatsTap
from wisp.console.usage import FunctionSeries, Period, UsageRow, series_points, usage_rows
from wisp.gateway.backend import PoolReport
from wisp.gateway.state import Components

FOLD_INTERVAL = 2.0  # seconds between folds of the gateway's stats into the series


@dataclass(frozen=True)
class Invocation:
    status: int
    headers: Mapping[str, str]
    body: bytes
    duration_ms: float
    cold_start_ms: float | None
    request_id: str

    def as_json(self) -> dict[str, Any]:
        text = self.body.decode("utf-8", "replace")
        return {
            "status": self.status,
            "headers": dict(self.headers),
            "body": text,
            "durationMs": round(self.duration_ms, 3),
            "handlerMs": _float(self.headers.get(contract.DURATION_HEADER)),
            "coldStart": self.cold_start_ms is not None,
            "coldStartMs": None if self.cold_start_ms is None else round(self.cold_start_ms, 1),
            "requestId": self.request_id,
        }


def _float(value: str | None) -> float | None:
    try:
        return None if value is None else float(value)
    except ValueError:
        return None


class GatewayView:
    def __init__(self, parts: Components, price: float) -> None:
        self.parts = parts
        self.price = price
        self.tap = StatsTap()
        self._changing: set[str] = set()  # the functions with news at the last fold

    # -- reading ---------------------------------------------------------------------------------

    def observed(self) -> Iterator[Observed]:
        """The functions with something new for the tap, asked of each without making anything.
        Only the functions the autoscaler's index holds active (anything that changes a
        function's calls or replicas wakes it there) and those that changed at the last fold are
        asked, so the functions at rest cost a fold nothing at all."""
        news = self.tap.news
        replicas = self.parts.replicas
        upstreams = self.parts.registry.upstreams
        changing = set()
        for key in self._changing.union(self.parts.registry.activity):
            up = upstreams.get(key)
            if up is None:
                continue
            ready, desired = up.pool.ready_count, replicas.get((key, "desired"))
            if not news(key, up.stats, ready, desired):
                continue
            changing.add(key)
            fn = up.info.function
            yield Observed(fn.name, fn.namespace, up.stats, up.memory_gib, ready, desired)
        self._changing = changing

    def fold(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        self.tap.fold(self.observed(), now, present=self.parts.registry.upstreams)

    def functions(self, now: float) -> list[dict[str, Any]]:
        """One row per function the gateway serves, for the functions list."""
        rows = []
        today = datetime.fromtimestamp(now, UTC).date()
        for key, up in sorted(self.parts.registry.upstreams.items()):
            fn = up.info.function
            summary = up.stats.summary(now)
            recent = summary["windows"]["300s"]
            rows.append(
                {
                    "name": fn.name,
                    "namespace": fn.namespace,
                    "runtime": fn.spec.runtime.value,
                    "runtimeWarning": deprecation_warning(fn.spec.runtime.value, today),
                    "memory": fn.spec.memory,
                    "ready": up.info.ready,
                    "reason": up.info.reason,
                    "message": up.info.message,
                    "oomKills": up.info.oom_kills,
                    "replicas": {
                        "ready": up.pool.ready_count,
                        "desired": self.parts.replicas.get((key, "desired")),
                    },
                    "inFlight": up.meter.in_flight,
                    "invocations": summary["invocations"],
                    "errors": summary["errors"],
                    "errorRate": summary["errors"] / summary["invocations"]
                    if summary["invocations"]
                    else None,
                    "p95Ms": recent["p95Ms"],
                    "recentInvocations": recent["invocations"],
                    "coldStarts": summary["coldStarts"],
                    "poolStarts": summary["poolStarts"],
                    "gbSeconds": summary["gbSeconds"],
                    "lastCall": summary["lastCall"],
                }
            )
        return rows

    def pool(self) -> dict[str, dict[str, int]]:
        """The gateway's warm pools (pods by state, cold starts by result); {} without one."""
        backend = self.parts.backend
        return backend.pool_report() if isinstance(backend, PoolReport) else {}

    def series(self, namespace: str, name: str, now: float, minutes: int) -> list[dict[str, object]]:
        self.fold(now)
        found = self.tap.series.get(function_key(name, namespace)) or FunctionSeries(name, namespace)
        return [p.as_json() for p in series_points(found, now, minutes)]

    def usage(
        self, now: float, period: Period, function: str | None = None, namespace: str | None = None
    ) -> list[UsageRow]:
        self.fold(now)
        return usage_rows(
            self.tap.series.values(), now, period, self.price, function=function, namespace=namespace
        )

    def namespaces(self) -> list[str]:
        """The namespaces of the functions the gateway serves."""
        return sorted({up.info.function.namespace for up in self.parts.registry.upstreams.values()})

    def knows(self, namespace: str, name: str) -> bool:
        return function_key(name, namespace) in self.parts.registry.upstreams

    # -- calling ---------------------------------------------------------------------------------

    async def invoke(self, namespace: str, name: str, body: bytes) -> Invocation:
        request_id = uuid.uuid4().hex
        started = time.monotonic()
        result = await self.parts.gateway.invoke(
            function_key(name, namespace), body, {contract.REQUEST_ID_HEADER: request_id}
        )
        elapsed = (time.monotonic() - started) * 1000
        return Invocation(
            result.status,
            dict(result.headers),
            result.body,
            elapsed,
            result.cold_start_ms,
            result.request_id or request_id,
        )
