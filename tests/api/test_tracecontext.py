"""W3C traceparent parsing, continuation and sampling (pure)."""

from __future__ import annotations

import pytest

from wisp.api.tracecontext import (
    SAMPLED,
    SpanContext,
    continue_or_start,
    is_root,
    parse_traceparent,
    sample,
)

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (f"00-{TRACE}-{SPAN}-01", SpanContext(TRACE, SPAN, 1)),
        (f"00-{TRACE}-{SPAN}-00", SpanContext(TRACE, SPAN, 0)),
        (f"  00-{TRACE.upper()}-{SPAN}-01 ", SpanContext(TRACE, SPAN, 1)),
        # A later version is read by its first four fields, and may have more.
        (f"cc-{TRACE}-{SPAN}-01-future", SpanContext(TRACE, SPAN, 1)),
        (None, None),
        ("", None),
        (f"00-{TRACE}-{SPAN}-01-extra", None),  # version 00 has exactly four fields
        (f"ff-{TRACE}-{SPAN}-01", None),  # version ff is invalid
        (f"00-{'0' * 32}-{SPAN}-01", None),  # all-zero trace id
        (f"00-{TRACE}-{'0' * 16}-01", None),  # all-zero span id
        (f"00-{TRACE[:-1]}-{SPAN}-01", None),
        (f"00-{TRACE}-{SPAN}-1", None),
        (f"00-{TRACE[:-1]}g-{SPAN}-01", None),
        ("garbage", None),
    ],
)
def test_parse_traceparent(value: str | None, expected: SpanContext | None) -> None:
    assert parse_traceparent(value) == expected


@pytest.mark.parametrize(
    ("state", "kept"),
    [
        ("a=1, b=2", "a=1,b=2"),
        ("", ""),
        ("novalue", ""),
        (",".join(f"k{i}=v" for i in range(33)), ""),  # more than 32 members
        ("k=" + "v" * 600, ""),
    ],
)
def test_tracestate_is_kept_only_when_well_formed(state: str, kept: str) -> None:
    parsed = parse_traceparent(f"00-{TRACE}-{SPAN}-01", state)
    assert parsed is not None and parsed.tracestate == kept


def test_a_child_keeps_trace_flags_and_state_with_a_new_span() -> None:
    parent = SpanContext(TRACE, SPAN, SAMPLED, "a=1")
    child = parent.child()
    assert (child.trace_id, child.flags, child.tracestate) == (TRACE, SAMPLED, "a=1")
    assert child.span_id != SPAN and len(child.span_id) == 16
    assert child.headers() == [("traceparent", f"00-{TRACE}-{child.span_id}-01"), ("tracestate", "a=1")]


def test_a_callers_context_and_sampling_decision_are_kept() -> None:
    headers = {"traceparent": f"00-{TRACE}-{SPAN}-00"}
    context = continue_or_start(headers, ratio=1.0)
    assert context == SpanContext(TRACE, SPAN, 0)
    assert not is_root(context)


@pytest.mark.parametrize(("ratio", "sampled"), [(1.0, True), (0.0, False)])
def test_without_a_caller_a_trace_is_started_at_the_ratio(ratio: float, sampled: bool) -> None:
    context = continue_or_start({"traceparent": "malformed"}, ratio)
    assert is_root(context)
    assert context.sampled is sampled
    assert len(context.trace_id) == 32


@pytest.mark.parametrize(
    ("trace_id", "ratio", "sampled"),
    [
        ("0" * 16 + "0" * 16, 0.5, True),
        ("f" * 16 + "7fffffffffffffff", 0.5, True),
        ("0" * 16 + "8000000000000000", 0.5, False),
        ("0" * 16 + "ffffffffffffffff", 0.999, False),
        ("0" * 16 + "ffffffffffffffff", 1.0, True),
        ("0" * 16 + "0000000000000001", 0.0, False),
    ],
)
def test_sampling_follows_the_trace_ids_low_bytes(trace_id: str, ratio: float, sampled: bool) -> None:
    assert sample(trace_id, ratio) is sampled
