"""How many replicas a function should have: Knative's algorithm as one pure function.

``decide(state, samples, target, now)`` takes the previous ``ScaleState``, the traffic observed
over the stable and panic windows (summed over every gateway replica), the function's scale
settings and the time, and returns a ``Decision``. No I/O, no clock, no aiohttp or kubernetes
imports (an import-linter contract checks it): every behaviour is a table case in
tests/autoscaler/test_decider.py.

* Demand is in-flight calls (metric ``concurrency``) or calls per second (``rps``), and at least
  the queue's pending and in-flight events when the event path feeds the function (its
  deliveries pass through the gateway, so they are in the observed figures as well: the larger
  of the two counts, never their sum).
* Stable mode: ``ceil(stable demand / target per pod)``; scaling down only once demand fell
  ``scale_down_tolerance`` below the current capacity, so a steady load on a boundary does not
  flap, and at most by ``max_scale_down_rate`` per decision.
* Panic mode: entered when the panic-window demand reaches ``panic_threshold`` x the ready
  capacity; while panicking the count only rises (to the panic-window figure) and panic ends
  after a full stable window without a panic-level burst.
* Zero: when nothing is in flight or queued and no call came for the function's
  ``idleTimeout`` (and ``min`` is 0), directly, whatever the windows' averages still hold;
  otherwise at least one replica stays, so no call is ever cut.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, replace

from wisp.api.defaults import FUNCTION_DEFAULTS
from wisp.api.function import Function, ScaleMetric, ScaleSpec


@dataclass(frozen=True)
class Settings:
    stable_window: float = 60.0
    panic_window: float = 6.0
    panic_threshold: float = 2.0
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    scale_down_tolerance: float = 0.1


@dataclass(frozen=True)
class ScaleTarget:
    """A function's scale settings as the decider needs them."""

    min: int = ScaleSpec.min
    max: int = ScaleSpec.max
    metric: ScaleMetric = ScaleSpec.metric
    target: int = ScaleSpec.target
    idle_timeout: float = ScaleSpec.idle_timeout
    # A pod's hard cap; a concurrency target above it is meaningless.
    concurrency: int = FUNCTION_DEFAULTS.concurrency

    @classmethod
    def of(cls, fn: Function) -> ScaleTarget:
        scale = fn.spec.scale
        return cls(
            min=scale.min,
            max=scale.max,
            metric=scale.metric,
            target=scale.target,
            idle_timeout=scale.idle_timeout,
            concurrency=fn.spec.concurrency,
        )

    @property
    def per_pod(self) -> float:
        if self.metric is ScaleMetric.CONCURRENCY:
            return float(min(self.target, self.concurrency))
        return float(self.target)


@dataclass(frozen=True)
class Observation:
    """Traffic summed over all gateway replicas (averages over each window)."""

    stable_concurrency: float = 0.0
    panic_concurrency: float = 0.0
    stable_rps: float = 0.0
    panic_rps: float = 0.0
    in_flight: int = 0
    last_active: float | None = None  # epoch seconds of the latest call activity
    queue_demand: int = 0  # pending + in-flight queue events


@dataclass(frozen=True)
class ScaleState:
    desired: int = 0
    ready: int = 0
    panic_since: float | None = None


class Reason(enum.Enum):
    STEADY = "steady"
    SCALE_UP = "scale-up"
    PANIC = "panic"
    SCALE_DOWN = "scale-down"
    TO_ZERO = "to-zero"
    NO_DATA = "no-data"
    BOUNDS = "bounds"


@dataclass(frozen=True)
class Decision:
    desired: int
    state: ScaleState
    reason: Reason

    @property
    def panicking(self) -> bool:
        return self.state.panic_since is not None


def _clamp(value: int, target: ScaleTarget) -> int:
    return max(target.min, min(target.max, value))


def decide(
    state: ScaleState,
    samples: Observation | None,
    target: ScaleTarget,
    now: float,
    settings: Settings = Settings(),
) -> Decision:
    current = state.desired
    if samples is None:
        desired = _clamp(current, target)
        reason = Reason.NO_DATA if desired == current else Reason.BOUNDS
        return Decision(desired, replace(state, desired=desired), reason)

    per_pod = target.per_pod
    # Queue deliveries are calls through the gateway too: those in flight are already in the
    # observed figures, so the backlog is a floor under them, not an addition.
    queued = float(samples.queue_demand)
    if target.metric is ScaleMetric.CONCURRENCY:
        stable, panic = max(samples.stable_concurrency, queued), max(samples.panic_concurrency, queued)
    else:
        stable, panic = max(samples.stable_rps, queued), max(samples.panic_rps, queued)
    want_stable = math.ceil(stable / per_pod - 1e-9)
    want_panic = math.ceil(panic / per_pod - 1e-9)

    capacity = max(state.ready, 1) * per_pod
    panic_since = state.panic_since
    if panic > 0 and panic >= settings.panic_threshold * capacity:
        panic_since = now
    elif panic_since is not None and now - panic_since >= settings.stable_window:
        panic_since = None

    if panic_since is not None:
        desired = max(want_panic, want_stable, current)
    else:
        desired = want_stable
        if desired < current:
            # Hysteresis: keep the pods until demand is clearly below what fewer pods carry.
            desired = min(current, math.ceil(stable * (1 + settings.scale_down_tolerance) / per_pod - 1e-9))

    up_limit = max(1, math.ceil(settings.max_scale_up_rate * max(state.ready, 1)))
    desired = min(desired, max(current, up_limit))
    down_limit = math.floor(current / settings.max_scale_down_rate)
    desired = max(desired, down_limit)

    busy = samples.in_flight > 0 or samples.queue_demand > 0
    idle_for = math.inf if samples.last_active is None else now - samples.last_active
    if not busy and idle_for >= target.idle_timeout and panic_since is None:
        # No call at all for the idle timeout: zero, whatever the windows' averages still say.
        desired = 0
    elif desired == 0 and (busy or (current > 0 and idle_for < target.idle_timeout)):
        desired = 1

    unclamped = desired
    desired = _clamp(desired, target)
    reason = _reason(current, desired, unclamped, panic_since is not None)
    return Decision(desired, ScaleState(desired=desired, ready=state.ready, panic_since=panic_since), reason)


def _reason(current: int, desired: int, unclamped: int, panicking: bool) -> Reason:
    if desired == current:
        return Reason.STEADY
    if desired != unclamped:
        return Reason.BOUNDS
    if panicking and desired > current:
        return Reason.PANIC
    if desired > current:
        return Reason.SCALE_UP
    if desired == 0 and current > 0:
        return Reason.TO_ZERO
    if desired < current:
        return Reason.SCALE_DOWN
    return Reason.STEADY
