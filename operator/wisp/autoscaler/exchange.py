"""How gateway replicas share traffic samples and agree on one decider.

``SampleExchange``: each replica publishes its per-function ``Observation``s every tick; the
leader collects every live replica's latest. ``LeaderElection``: whether this replica decides.
The single-process versions here serve ``wisp dev``, tests and one-replica installs; the
Kubernetes ones (Lease-based) live in ``wisp.gateway.kube.coordination``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from wisp.autoscaler.decider import Observation

Summaries = Mapping[str, Observation]


class SampleExchange(Protocol):
    async def publish(self, summaries: Summaries) -> None: ...

    async def collect(self) -> list[Summaries]:
        """The latest summaries of every live replica (this one included)."""


class LeaderElection(Protocol):
    @property
    def is_leader(self) -> bool: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class LocalExchange:
    def __init__(self) -> None:
        self._latest: Summaries = {}

    async def publish(self, summaries: Summaries) -> None:
        self._latest = dict(summaries)

    async def collect(self) -> list[Summaries]:
        return [self._latest]


class AlwaysLeader:
    is_leader = True

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


_FIELDS = ("stable_concurrency", "panic_concurrency", "stable_rps", "panic_rps")


def encode(summaries: Summaries) -> dict[str, list[Any]]:
    """A compact JSON-able form: key -> [stable c, panic c, stable rps, panic rps, in flight, last]."""
    return {
        key: [*(round(getattr(o, f), 3) for f in _FIELDS), o.in_flight, o.last_active]
        for key, o in summaries.items()
    }


def decode(data: Mapping[str, Any]) -> dict[str, Observation]:
    out: dict[str, Observation] = {}
    for key, row in data.items():
        try:
            sc, pc, sr, pr, in_flight, last = row
            out[str(key)] = Observation(
                stable_concurrency=float(sc),
                panic_concurrency=float(pc),
                stable_rps=float(sr),
                panic_rps=float(pr),
                in_flight=int(in_flight),
                last_active=None if last is None else float(last),
            )
        except (TypeError, ValueError):
            continue
    return out
