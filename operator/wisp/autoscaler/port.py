"""What the autoscaler needs of where functions run: set and read replicas, publish status.

The autoscaler owns this port; the gateway's ``Backend`` (Kubernetes, ``wisp dev``'s local
processes, the static table) is one, so the loop depends on no gateway code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


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
