"""The decider as a table: state, observation, scale settings and time in; replicas out."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from wisp.api.function import ScaleMetric
from wisp.autoscaler.decider import Observation, Reason, ScaleState, ScaleTarget, Settings, decide

NOW = 10_000.0
T = ScaleTarget(min=0, max=20, target=10, idle_timeout=60)


def obs(
    stable: float = 0,
    panic: float | None = None,
    in_flight: int = 0,
    idle: float | None = 0.0,
    rps: float = 0,
    panic_rps: float | None = None,
    queue: int = 0,
) -> Observation:
    return Observation(
        stable_concurrency=stable,
        panic_concurrency=stable if panic is None else panic,
        stable_rps=rps,
        panic_rps=rps if panic_rps is None else panic_rps,
        in_flight=in_flight,
        last_active=None if idle is None else NOW - idle,
        queue_demand=queue,
    )


@dataclass(frozen=True)
class Case:
    name: str
    state: ScaleState
    samples: Observation | None
    desired: int
    reason: Reason
    target: ScaleTarget = T


CASES = [
    Case("steady load holds", ScaleState(3, 3), obs(28), 3, Reason.STEADY),
    Case("steady on a boundary does not flap down", ScaleState(2, 2), obs(19.5), 2, Reason.STEADY),
    Case("step up", ScaleState(2, 2), obs(35, panic=38), 4, Reason.SCALE_UP),
    Case(
        "panic at 2x capacity jumps to the burst",
        ScaleState(2, 2),
        obs(25, panic=80),
        8,
        Reason.PANIC,
    ),
    Case(
        "no scale-down while panicking",
        ScaleState(8, 8, panic_since=NOW - 10),
        obs(5, panic=5),
        8,
        Reason.STEADY,
    ),
    Case(
        "panic ends after a stable window",
        ScaleState(8, 8, panic_since=NOW - 61),
        obs(5, panic=5),
        4,
        Reason.SCALE_DOWN,
    ),
    Case("scale down at most halves", ScaleState(10, 10), obs(5), 5, Reason.SCALE_DOWN),
    Case("scale down by demand when within the rate", ScaleState(4, 4), obs(21), 3, Reason.SCALE_DOWN),
    Case("idle past timeout goes to zero", ScaleState(1, 1), obs(0, idle=61), 0, Reason.TO_ZERO),
    Case(
        "idle past timeout goes to zero from several, whatever the averages",
        ScaleState(4, 4),
        obs(0.4, idle=61),
        0,
        Reason.TO_ZERO,
    ),
    Case("idle but not long enough keeps one", ScaleState(1, 1), obs(0, idle=30), 1, Reason.STEADY),
    Case(
        "never to zero with a call in flight",
        ScaleState(1, 1),
        obs(0, in_flight=1, idle=600),
        1,
        Reason.STEADY,
    ),
    Case(
        "never to zero with queued events",
        ScaleState(1, 1),
        obs(0, idle=600, queue=1),
        1,
        Reason.STEADY,
    ),
    Case(
        "a held call at zero asks for one",
        ScaleState(0, 0),
        obs(0.02, in_flight=1),
        1,
        Reason.SCALE_UP,
    ),
    Case("zero stays zero without traffic", ScaleState(0, 0), obs(0, idle=None), 0, Reason.STEADY),
    Case("min holds", ScaleState(2, 2), obs(0, idle=600), 2, Reason.STEADY, ScaleTarget(min=2, max=5)),
    Case(
        "min raises",
        ScaleState(0, 0),
        obs(0, idle=None),
        2,
        Reason.BOUNDS,
        ScaleTarget(min=2, max=5),
    ),
    Case("max caps", ScaleState(3, 3), obs(300), 5, Reason.BOUNDS, ScaleTarget(min=0, max=5)),
    Case(
        "rps metric",
        ScaleState(1, 1),
        obs(1, rps=450, panic_rps=300),
        3,
        Reason.SCALE_UP,
        ScaleTarget(metric=ScaleMetric.RPS, target=200),
    ),
    Case(
        "concurrency target above the pod cap uses the cap",
        ScaleState(2, 2),
        obs(12),
        3,
        Reason.SCALE_UP,
        ScaleTarget(target=50, concurrency=5),
    ),
    Case("missing samples hold", ScaleState(4, 4), None, 4, Reason.NO_DATA),
    Case(
        "missing samples still respect min",
        ScaleState(0, 0),
        None,
        1,
        Reason.BOUNDS,
        ScaleTarget(min=1, max=5),
    ),
    Case("queue demand scales out", ScaleState(1, 1), obs(2, queue=40), 4, Reason.PANIC),
    Case(
        "deliveries in flight are not counted twice",
        ScaleState(2, 2),
        obs(20, in_flight=20, queue=20),
        2,
        Reason.STEADY,
    ),
    Case(
        "calls beyond the backlog count",
        ScaleState(2, 2),
        obs(30, in_flight=30, queue=10),
        3,
        Reason.SCALE_UP,
    ),
    Case(
        "queue demand at zero wakes the function",
        ScaleState(0, 0),
        obs(0, idle=None, queue=3),
        1,
        Reason.SCALE_UP,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_decide(case: Case) -> None:
    decision = decide(case.state, case.samples, case.target, NOW)
    assert (decision.desired, decision.reason) == (case.desired, case.reason)


def test_scale_up_rate_limits_growth() -> None:
    settings = Settings(max_scale_up_rate=2.0)
    decision = decide(ScaleState(2, 2), obs(200, panic=200), ScaleTarget(max=100), NOW, settings)
    assert decision.desired == 4


def test_panic_state_is_carried_and_refreshed() -> None:
    first = decide(ScaleState(1, 1), obs(5, panic=30), T, NOW)
    assert first.panicking and first.desired == 3
    calmer = decide(first.state, obs(5, panic=4, idle=-30), T, NOW + 30)
    assert calmer.panicking and calmer.desired == 3  # holds during the stable window
    done = decide(calmer.state, obs(5, panic=4, idle=-61), T, NOW + 61)
    assert not done.panicking and done.desired == 1
