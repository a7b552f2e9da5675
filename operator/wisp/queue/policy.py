"""What happens to a delivery after the function answered: pure decisions, no I/O.

The consumer hands in the invocation's outcome and the attempt number; ``decide`` answers
acknowledge, retry later (an attempt used), defer (re-deliver later, no attempt used: the function
throttled or was still starting), or dead-letter. Backoff is exponential with jitter; the jitter
draw is passed in so that tests pin it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# Statuses a retry cannot fix: the event itself is unacceptable to the runtime.
PERMANENT_STATUSES = frozenset({400, 413, 415, 422})
THROTTLED_STATUS = 429


class Outcome(enum.Enum):
    ACKED = "acked"
    RETRIED = "retried"
    DEFERRED = "deferred"
    DEAD_LETTERED = "dead_lettered"


class DeadLetterReason(enum.Enum):
    RETRIES_EXHAUSTED = "retries_exhausted"
    REJECTED = "rejected"
    MALFORMED = "malformed"
    TOO_LARGE = "too_large"
    EVENT_AGE_EXCEEDED = "event_age_exceeded"  # older than maxEventAge: dropped, never run late
    RECURSION_LIMIT = "recursion_limit"  # a chain of calls wisp made went past the hop limit


@dataclass(frozen=True)
class RetryPolicy:
    """``max_retries`` re-tries after the first attempt; delays grow from ``initial``."""

    max_retries: int = 3
    initial: float = 1.0
    maximum: float = 300.0
    multiplier: float = 2.0
    # Delays are spread over [delay * (1 - jitter), delay] so retries of a burst do not align.
    jitter: float = 0.2

    def delay(self, attempt: int, draw: float = 1.0) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based); ``draw`` in [0, 1]."""
        base = min(self.maximum, self.initial * self.multiplier ** max(0, attempt - 1))
        return base * (1.0 - self.jitter * (1.0 - draw))


@dataclass(frozen=True)
class CallOutcome:
    """The facts ``decide`` needs about one call of the function."""

    status: int
    throttled: bool = False
    cold_start_pending: bool = False

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status < 300


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    delay: float = 0.0
    next_attempt: int = 0
    reason: DeadLetterReason | None = None


def decide(call: CallOutcome, attempt: int, policy: RetryPolicy, draw: float = 1.0) -> Decision:
    """The fate of a delivery whose ``attempt``-th call ended as ``call``."""
    if call.succeeded:
        return Decision(Outcome.ACKED)
    if call.throttled or call.status == THROTTLED_STATUS or call.cold_start_pending:
        return Decision(Outcome.DEFERRED, next_attempt=attempt)
    if call.status in PERMANENT_STATUSES:
        return Decision(Outcome.DEAD_LETTERED, reason=DeadLetterReason.REJECTED)
    return after_failure(attempt, policy, draw)


def after_failure(attempt: int, policy: RetryPolicy, draw: float = 1.0) -> Decision:
    """Retry with backoff while attempts remain, else dead-letter."""
    if attempt > policy.max_retries:
        return Decision(Outcome.DEAD_LETTERED, reason=DeadLetterReason.RETRIES_EXHAUSTED)
    return Decision(Outcome.RETRIED, delay=policy.delay(attempt, draw), next_attempt=attempt + 1)


def stop_reason(
    age: float, max_age: float | None, hops: int, max_hops: int
) -> tuple[DeadLetterReason, str] | None:
    """Why an event must not run at all: older than ``max_age`` seconds, or deeper than
    ``max_hops`` in a chain of calls wisp made (the recursion guard); None if it may run."""
    if max_age is not None and age > max_age:
        return DeadLetterReason.EVENT_AGE_EXCEEDED, f"event is {age:.0f}s old, maxEventAge is {max_age:.0f}s"
    if hops > max_hops:
        return DeadLetterReason.RECURSION_LIMIT, f"{hops} hops deep in a chain of calls, limit {max_hops}"
    return None


def in_flight_limit(explicit: int | None, concurrency: int, factor: int, cap: int) -> int:
    """A trigger's bound on in-flight deliveries: its own ``maxInFlight`` or concurrency x factor."""
    if explicit is not None:
        return explicit
    return max(1, min(cap, concurrency * factor))
