"""The trace context of a call, handed to the handler the ways Lambda code and OpenTelemetry look.

The gateway sends a W3C ``traceparent`` (and ``tracestate``) with a call. The handler sees it
* in ``_X_AMZN_TRACE_ID``, in X-Ray's format, set for each call as Lambda sets it (what the AWS
  SDKs, Powertools and X-Ray propagators read; with concurrent calls in one process it holds the
  latest call's, as on Lambda);
* as ``context.trace_id``/``context.traceparent`` (wisp's own);
* as the current OpenTelemetry context, when the handler's code imported OpenTelemetry: the
  caller's span is then the parent of the spans the handler starts, with no code of its own.

OpenTelemetry is never imported here: when the handler did not load it, a call costs one
dictionary lookup.
"""

from __future__ import annotations

import os
import sys
from typing import Any

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
XRAY_ENV = "_X_AMZN_TRACE_ID"
_HEX = frozenset("0123456789abcdef")


class TraceContext:
    __slots__ = ("flags", "span_id", "trace_id", "traceparent", "tracestate")

    def __init__(self, traceparent: str, trace_id: str, span_id: str, flags: int, tracestate: str) -> None:
        self.traceparent = traceparent
        self.trace_id = trace_id
        self.span_id = span_id
        self.flags = flags
        self.tracestate = tracestate

    def xray(self) -> str:
        trace = self.trace_id
        sampled = 1 if self.flags & 1 else 0
        return f"Root=1-{trace[:8]}-{trace[8:]};Parent={self.span_id};Sampled={sampled}"


def parse(traceparent: str | None, tracestate: str | None) -> TraceContext | None:
    """The call's context from its headers, or None when there is none (or it is malformed)."""
    if not traceparent:
        return None
    text = traceparent.strip().lower()
    parts = text.split("-")
    if len(parts) < 4 or (parts[0] == "00" and len(parts) != 4):
        return None
    version, trace_id, span_id, flags = parts[:4]
    if len(version) != 2 or version == "ff" or len(trace_id) != 32 or len(span_id) != 16 or len(flags) != 2:
        return None
    if not _HEX.issuperset(version + trace_id + span_id + flags):
        return None
    if trace_id == "0" * 32 or span_id == "0" * 16:
        return None
    return TraceContext(text, trace_id, span_id, int(flags, 16), (tracestate or "").strip())


def enter(trace: TraceContext) -> Any:
    """Makes ``trace`` the call's context (run in the call's contextvars context); the token
    goes to ``leave``."""
    os.environ[XRAY_ENV] = trace.xray()
    if "opentelemetry.context" not in sys.modules:
        return None
    return _attach_opentelemetry(trace)


def clear() -> None:
    """A call without a trace: no earlier call's trace id is left for it to read."""
    if XRAY_ENV in os.environ:
        del os.environ[XRAY_ENV]


def leave(token: Any) -> None:
    if token is None:
        return
    from opentelemetry import context as otel_context

    otel_context.detach(token)


def _attach_opentelemetry(trace: TraceContext) -> Any:
    try:
        from opentelemetry import context as otel_context
        from opentelemetry.propagate import extract
    except ImportError:  # a partial installation: the handler still runs
        return None
    carrier = {TRACEPARENT: trace.traceparent}
    if trace.tracestate:
        carrier[TRACESTATE] = trace.tracestate
    return otel_context.attach(extract(carrier))
