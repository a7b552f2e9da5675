"""The pure decisions of the event path: what happens after a call, and how messages decode."""

from __future__ import annotations

import pytest

from wisp.queue.events import Rejection, queue_message_data
from wisp.queue.policy import (
    CallOutcome,
    DeadLetterReason,
    Outcome,
    RetryPolicy,
    decide,
    in_flight_limit,
    stop_reason,
)
from wisp.queue.routes import forwarded_headers

POLICY = RetryPolicy(max_retries=2, initial=1.0, maximum=3.0, multiplier=2.0, jitter=0.2)


@pytest.mark.parametrize(
    ("call", "attempt", "outcome", "next_attempt"),
    [
        (CallOutcome(200), 1, Outcome.ACKED, 0),
        (CallOutcome(204), 3, Outcome.ACKED, 0),
        (CallOutcome(500), 1, Outcome.RETRIED, 2),
        (CallOutcome(504), 2, Outcome.RETRIED, 3),
        (CallOutcome(500), 3, Outcome.DEAD_LETTERED, 0),
        (CallOutcome(429, throttled=True), 3, Outcome.DEFERRED, 3),  # not an attempt
        (CallOutcome(503, cold_start_pending=True), 1, Outcome.DEFERRED, 1),
        (CallOutcome(400), 1, Outcome.DEAD_LETTERED, 0),  # the runtime rejects the event itself
        (CallOutcome(413), 1, Outcome.DEAD_LETTERED, 0),
    ],
)
def test_decisions(call: CallOutcome, attempt: int, outcome: Outcome, next_attempt: int) -> None:
    decision = decide(call, attempt, POLICY)
    assert decision.outcome is outcome
    assert decision.next_attempt == next_attempt


def test_dead_letter_reasons_tell_exhaustion_from_rejection() -> None:
    assert decide(CallOutcome(500), 3, POLICY).reason is DeadLetterReason.RETRIES_EXHAUSTED
    assert decide(CallOutcome(400), 1, POLICY).reason is DeadLetterReason.REJECTED


def test_backoff_grows_exponentially_up_to_the_maximum_with_bounded_jitter() -> None:
    assert [POLICY.delay(a) for a in (1, 2, 3, 4)] == [1.0, 2.0, 3.0, 3.0]
    assert POLICY.delay(2, draw=0.0) == pytest.approx(1.6)


def test_in_flight_bound_defaults_to_concurrency_times_factor_within_the_cap() -> None:
    assert in_flight_limit(None, 10, 2, 1000) == 20
    assert in_flight_limit(None, 1000, 2, 1000) == 1000
    assert in_flight_limit(5, 1000, 2, 1000) == 5


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"data": b'{"a": 1}'}, ({"a": 1}, {})),
        ({"data": b"[1]", "type": b"created"}, ([1], {"type": "created"})),
        ({"a": b"1", "b": b"two"}, ({"a": "1", "b": "two"}, {})),
    ],
)
def test_both_message_layouts(fields: dict[str, bytes], expected: object) -> None:
    assert queue_message_data(fields, 1024) == expected


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"data": b"{oops"}, DeadLetterReason.MALFORMED),
        ({"data": b"\xff\xfe"}, DeadLetterReason.MALFORMED),
        ({"blob": b"\xff"}, DeadLetterReason.MALFORMED),
        ({"data": b'"' + b"x" * 2000 + b'"'}, DeadLetterReason.TOO_LARGE),
    ],
)
def test_undeliverable_messages(fields: dict[str, bytes], reason: DeadLetterReason) -> None:
    rejected = queue_message_data(fields, 1024)
    assert isinstance(rejected, Rejection)
    assert rejected.reason is reason


def test_credentials_and_wisp_headers_are_not_forwarded_to_async_calls() -> None:
    kept = forwarded_headers(
        {
            "Content-Type": "application/json",
            "traceparent": "00-abc-def-01",
            "Authorization": "Bearer secret",
            "Cookie": "a=b",
            "X-Wisp-Event": "http",
            "X-Callback-Url": "http://x/",
            "X-Tenant": "t1",
        }
    )
    assert kept == {"Content-Type": "application/json", "traceparent": "00-abc-def-01", "X-Tenant": "t1"}


@pytest.mark.parametrize(
    ("age", "max_age", "hops", "reason"),
    [
        (59.0, 60.0, 1, None),
        (61.0, 60.0, 1, DeadLetterReason.EVENT_AGE_EXCEEDED),
        (10_000.0, None, 1, None),  # no age limit (a queue trigger without maxEventAge)
        (0.0, 60.0, 16, None),
        (0.0, 60.0, 17, DeadLetterReason.RECURSION_LIMIT),
        (61.0, 60.0, 17, DeadLetterReason.EVENT_AGE_EXCEEDED),  # too old is said first
    ],
)
def test_an_event_too_old_or_too_deep_is_not_run(
    age: float, max_age: float | None, hops: int, reason: DeadLetterReason | None
) -> None:
    stopped = stop_reason(age, max_age, hops, 16)
    assert (stopped[0] if stopped else None) is reason
