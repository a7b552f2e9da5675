"""W3C Trace Context (https://www.w3.org/TR/trace-context/): reading, starting and passing on
``traceparent``/``tracestate``, and the sampling decision.

Pure: ids come from ``os.urandom``, nothing here does I/O. The gateway accepts a caller's
``traceparent`` (or starts a trace when there is none or it is malformed), makes each hop a
child span of it, and sends the child's ``traceparent`` on, to the runtime and into stored
async invocations.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
SAMPLED = 0x01
_INVALID_TRACE = "0" * 32
_INVALID_SPAN = "0" * 16
_HEX = frozenset("0123456789abcdef")
# tracestate: at most 32 list members (W3C); longer values are dropped rather than cut.
MAX_TRACESTATE_MEMBERS = 32
MAX_TRACESTATE_LENGTH = 512


def new_trace_id() -> str:
    return os.urandom(16).hex()


def new_span_id() -> str:
    return os.urandom(8).hex()


@dataclass(frozen=True)
class SpanContext:
    """One span's place in a trace: ``span_id`` is the span that the next hop's spans hang off."""

    trace_id: str
    span_id: str
    flags: int = 0
    tracestate: str = ""

    @property
    def sampled(self) -> bool:
        return bool(self.flags & SAMPLED)

    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags:02x}"

    def child(self) -> SpanContext:
        """A new span in the same trace, with the same sampling decision and state."""
        return SpanContext(self.trace_id, new_span_id(), self.flags, self.tracestate)

    def headers(self) -> list[tuple[str, str]]:
        out = [(TRACEPARENT, self.traceparent())]
        if self.tracestate:
            out.append((TRACESTATE, self.tracestate))
        return out


def _is_hex(value: str) -> bool:
    return all(c in _HEX for c in value)


def parse_traceparent(value: str | None, tracestate: str | None = None) -> SpanContext | None:
    """The caller's context, or None when ``value`` is missing or not a valid ``traceparent``
    (version ``00``, or a later version read by its first four fields as the spec asks)."""
    if not value:
        return None
    text = value.strip().lower()
    parts = text.split("-")
    if len(parts) < 4:
        return None
    version, trace_id, span_id, flags = parts[:4]
    if len(version) != 2 or not _is_hex(version) or version == "ff":
        return None
    if version == "00" and len(parts) != 4:
        return None
    if len(trace_id) != 32 or len(span_id) != 16 or len(flags) != 2:
        return None
    if not (_is_hex(trace_id) and _is_hex(span_id) and _is_hex(flags)):
        return None
    if trace_id == _INVALID_TRACE or span_id == _INVALID_SPAN:
        return None
    return SpanContext(trace_id, span_id, int(flags, 16), _clean_tracestate(tracestate))


def _clean_tracestate(value: str | None) -> str:
    if not value:
        return ""
    members = [m.strip() for m in value.split(",") if m.strip()]
    if len(members) > MAX_TRACESTATE_MEMBERS or any("=" not in m for m in members):
        return ""
    text = ",".join(members)
    return text if len(text) <= MAX_TRACESTATE_LENGTH else ""


def sample(trace_id: str, ratio: float) -> bool:
    """OpenTelemetry's ``TraceIdRatioBased``: the lowest 8 bytes of the trace id below
    ``ratio`` of their range, so every service with the same ratio decides alike."""
    if ratio >= 1.0:
        return True
    if ratio <= 0.0:
        return False
    return int(trace_id[16:], 16) < int(ratio * (1 << 64))


def continue_or_start(headers: Mapping[str, str], ratio: float) -> SpanContext:
    """The context a call runs in: the caller's (its sampling decision kept, as OpenTelemetry's
    parent-based sampler does), else a new trace sampled at ``ratio``."""
    parent = parse_traceparent(headers.get(TRACEPARENT), headers.get(TRACESTATE))
    if parent is not None:
        return parent
    trace_id = new_trace_id()
    return SpanContext(trace_id, _INVALID_SPAN, SAMPLED if sample(trace_id, ratio) else 0)


def is_root(context: SpanContext) -> bool:
    """A context that ``continue_or_start`` started (no caller span to be a child of)."""
    return context.span_id == _INVALID_SPAN
