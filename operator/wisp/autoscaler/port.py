"""What the autoscaler needs of where functions run: set and read replicas, publish status.

The autoscaler owns this port; the gateway's ``Backend`` (Kubernetes, ``wisp dev``'s local
processes, the static table) is one, so the loop depends on no gateway code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class StatusUpdate:
    """What the gateway publishes about a function (the operator owns the rest of status)."""

    desired_replicas: int | None = None
    last_invocation: float | None = None  # epoch seconds


class Scaler(Protocol):
    """Function keys are ``name.namespace`` (``Function.key``)."""

    async def scale(self, function_key: str, replicas: int) -> None:
        """Set the function's replica count (0 allowed)."""

    async def get_replicas(self, function_key: str) -> int:
        """The function's current replica count as its workload says (desired, not ready)."""

    async def publish_status(self, function_key: str, update: StatusUpdate) -> None:
        """Record desired replicas / last invocation where users see them."""


@runtime_checkable
class ReplicaEvents(Protocol):
    """A ``Scaler`` that learns of replica counts set by others (optional; the Kubernetes
    backend's Deployment watch): the loop is told of a function scaled above zero behind its back
    (``kubectl scale``, another replica's activator), so it can take it back down when idle
    without looking at every function every tick."""

    def on_scaled_up(self, wake: Callable[[str], None]) -> None:
        """Call ``wake(function key)`` whenever a function's workload asks for replicas > 0."""
