"""Spans of calls through the gateway, exported over OTLP/HTTP (JSON) when an endpoint is set.

``Tracing`` is None on the gateway when no OTLP endpoint is configured: the data path then only
passes a caller's ``traceparent`` on as any other header, and builds nothing. When it is set,
each call gets a ``CallTrace``: a server span for the gateway hop (child of the caller's span,
or the root of a new trace), a span for the time the activator held the call for a cold start,
one for the time an async or queued event waited in its stream, and one for the handler, whose
id is sent to the runtime as the ``traceparent`` the handler (and its OpenTelemetry SDK) sees,
so the handler's own spans hang off it. The handler span's length is the runtime's
``X-Wisp-Duration-Ms``.

Spans are buffered and POSTed in batches to ``{endpoint}/v1/traces`` by one task; a full buffer
drops spans (counted) rather than slowing calls. The OTLP JSON encoding is the protocol's own
(https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding): hex ids, nanosecond times
as strings.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from wisp.api.tracecontext import SpanContext, continue_or_start, is_root

log = logging.getLogger("wisp.gateway.tracing")

SCOPE = "wisp.gateway"


class SpanKind(enum.IntEnum):
    """OTLP's ``Span.SpanKind`` values."""

    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5


@dataclass
class Span:
    name: str
    context: SpanContext
    parent_id: str  # "" for a trace's root
    kind: SpanKind
    start_ns: int
    end_ns: int = 0
    attributes: dict[str, str | int | float | bool] = field(default_factory=dict)
    error: str | None = None

    def otlp(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "traceId": self.context.trace_id,
            "spanId": self.context.span_id,
            "name": self.name,
            "kind": int(self.kind),
            "startTimeUnixNano": str(self.start_ns),
            "endTimeUnixNano": str(self.end_ns or self.start_ns),
            "attributes": [_attribute(k, v) for k, v in self.attributes.items()],
            "status": {"code": 2, "message": self.error} if self.error else {"code": 0},
        }
        if self.parent_id:
            out["parentSpanId"] = self.parent_id
        if self.context.tracestate:
            out["traceState"] = self.context.tracestate
        return out


def _attribute(key: str, value: str | int | float | bool) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": value}}


def otlp_request(spans: list[Span], resource: Mapping[str, str]) -> dict[str, Any]:
    """An ``ExportTraceServiceRequest`` in OTLP's JSON encoding."""
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [_attribute(k, v) for k, v in resource.items()]},
                "scopeSpans": [{"scope": {"name": SCOPE}, "spans": [s.otlp() for s in spans]}],
            }
        ]
    }


def traces_url(endpoint: str) -> str:
    """OTLP/HTTP's traces path under a base endpoint, as ``OTEL_EXPORTER_OTLP_ENDPOINT`` is read;
    an endpoint that already ends in ``/v1/traces`` is taken as it is."""
    base = endpoint.rstrip("/")
    return base if base.endswith("/v1/traces") else f"{base}/v1/traces"


@dataclass(frozen=True)
class TracingSettings:
    endpoint: str
    sample_ratio: float = 1.0
    service_name: str = "wisp-gateway"
    flush_interval: float = 1.0
    batch_size: int = 512
    max_buffered: int = 8192
    export_timeout: float = 10.0


class CallTrace:
    """The spans of one call; ``handler`` is the context sent on to the runtime."""

    __slots__ = ("gateway", "handler", "parent_id", "start_ns", "tracing")

    def __init__(self, tracing: Tracing, parent: SpanContext, start_ns: int) -> None:
        self.tracing = tracing
        self.parent_id = "" if is_root(parent) else parent.span_id
        self.gateway = parent.child()
        self.handler = self.gateway.child()
        self.start_ns = start_ns

    def headers(self) -> list[tuple[str, str]]:
        return self.handler.headers()

    def finish(
        self,
        name: str,
        kind: SpanKind,
        attributes: dict[str, str | int | float | bool],
        *,
        status: int,
        handler_ms: float | None,
        cold_start_s: float | None = None,
        queued_since_ns: int = 0,
    ) -> None:
        """Records the call's spans (when its trace is sampled) as it ends now."""
        if not self.gateway.sampled:
            return
        end = time.time_ns()
        tracing = self.tracing
        error = f"HTTP {status}" if status >= 500 else None
        gateway_id = self.gateway.span_id
        if queued_since_ns and queued_since_ns < self.start_ns:
            tracing.add(
                Span(
                    "queue wait",
                    self.gateway.child(),
                    gateway_id,
                    SpanKind.INTERNAL,
                    queued_since_ns,
                    self.start_ns,
                )
            )
        if cold_start_s is not None:
            begin = self.start_ns  # the activator holds a call from its start
            tracing.add(
                Span(
                    "cold start",
                    self.gateway.child(),
                    gateway_id,
                    SpanKind.INTERNAL,
                    begin,
                    begin + int(cold_start_s * 1e9),
                )
            )
        if handler_ms is not None:
            tracing.add(
                Span(
                    "handler",
                    self.handler,
                    gateway_id,
                    SpanKind.SERVER,
                    max(self.start_ns, end - int(handler_ms * 1e6)),
                    end,
                    {"faas.invocation_id": str(attributes.get("faas.invocation_id", ""))},
                    error,
                )
            )
        start = min(self.start_ns, queued_since_ns) if queued_since_ns else self.start_ns
        attributes["http.response.status_code"] = status
        tracing.add(Span(name, self.gateway, self.parent_id, kind, start, end, attributes, error))


class Tracing:
    """The gateway's span buffer and its exporter task (``start``/``stop``)."""

    def __init__(self, settings: TracingSettings) -> None:
        self.settings = settings
        self.url = traces_url(settings.endpoint)
        self.resource = {"service.name": settings.service_name}
        self.dropped = 0
        self.exported = 0
        self._buffer: list[Span] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None

    def begin(self, headers: Mapping[str, str], start_ns: int | None = None) -> CallTrace:
        parent = continue_or_start(headers, self.settings.sample_ratio)
        return CallTrace(self, parent, time.time_ns() if start_ns is None else start_ns)

    def add(self, span: Span) -> None:
        if len(self._buffer) >= self.settings.max_buffered:
            self.dropped += 1
            return
        self._buffer.append(span)
        if len(self._buffer) >= self.settings.batch_size:
            self._wake.set()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.settings.export_timeout)
        )
        self._task = asyncio.create_task(self._run(), name="wisp-trace-export")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.flush_interval):
                    await self._wake.wait()
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        """Exports what is buffered; a failed export drops its batch (and says so in the log)."""
        while self._buffer and self._session is not None:
            batch = self._buffer[: self.settings.batch_size]
            del self._buffer[: len(batch)]
            body = json.dumps(otlp_request(batch, self.resource)).encode()
            try:
                async with self._session.post(
                    self.url, data=body, headers={"Content-Type": "application/json"}
                ) as response:
                    await response.read()
                    if response.status >= 300:
                        raise RuntimeError(f"HTTP {response.status}")
                self.exported += len(batch)
            except (aiohttp.ClientError, OSError, TimeoutError, RuntimeError) as exc:
                self.dropped += len(batch)
                log.warning("exporting %d spans to %s failed: %s", len(batch), self.url, exc)
                return


def tracing_from(endpoint: str, sample_ratio: float, service_name: str = "wisp-gateway") -> Tracing | None:
    """The gateway's tracing, or None when no endpoint is configured (tracing off)."""
    if not endpoint:
        return None
    return Tracing(TracingSettings(endpoint, sample_ratio, service_name))
