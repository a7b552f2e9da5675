"""The seam between the gateway and where functions run (OpenFaaS's FaaSHandlers idea).

A ``Backend`` tells the gateway which Functions and Triggers exist and which endpoints (pod
addresses) of each function are ready, and does the few writes the gateway needs: set a
function's replica count and publish its status. Three implementations exist:

* ``wisp.gateway.kube.KubernetesBackend``: watches Functions, Triggers and function pods,
  scales through the Deployment ``scale`` subresource;
* ``wisp.gateway.static.StaticBackend``: an in-memory table (tests, embedding);
* the local-process backend of ``wisp dev`` (``wisp.dev``).

A backend delivers what it learns by calling the ``BackendEvents`` methods *on the gateway's
event loop* (a thread-based backend hands them over with ``loop.call_soon_threadsafe``). It first
delivers a full picture (every Function, Trigger and endpoint set) and then calls ``synced()``;
after that, changes. Calls are idempotent: an upsert of an unchanged object is harmless.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from prometheus_client.registry import Collector

from wisp.api.function import Function
from wisp.api.trigger import Trigger
from wisp.api.version import LATEST
from wisp.autoscaler.port import Scaler


@dataclass(frozen=True)
class FunctionInfo:
    """A Function and what its status says about whether it can serve.

    ``ready`` False with a ``reason`` (``ImagePullBackOff``, ``InvalidSpec``, ...) means the
    function cannot become ready by scaling it; the gateway answers 503 with the reason instead
    of holding calls. ``ready`` True means "can serve once it has endpoints", including at zero.
    """

    function: Function
    ready: bool = True
    reason: str = ""
    message: str = ""
    oom_kills: int = 0  # containers killed for running out of memory, as the status counts them
    version: str = LATEST  # a FunctionVersion's number ("3"), rendered as a function of its own
    desired_replicas: int | None = None  # status.desiredReplicas, as the autoscaler last wrote it

    @property
    def key(self) -> str:
        return self.function.key


@dataclass(frozen=True)
class Endpoint:
    """One ready address of a function (a pod's IP and port)."""

    host: str
    port: int
    name: str = ""  # the pod's name, when known
    pool: bool = False  # a warm pool pod specialised for the function (docs/warm-pool.md)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class BackendEvents(Protocol):
    """What a backend tells the gateway; every method runs on the gateway's event loop."""

    def function_upserted(self, info: FunctionInfo) -> None: ...
    def function_deleted(self, key: str) -> None: ...
    def trigger_upserted(self, trigger: Trigger) -> None: ...
    def trigger_deleted(self, key: str) -> None: ...
    def endpoints_changed(self, function_key: str, endpoints: tuple[Endpoint, ...]) -> None: ...
    def synced(self) -> None: ...


class Backend(Scaler, Protocol):
    """Where functions run. Function keys are ``name.namespace`` (``Function.key``).

    Its writes (``scale``, ``get_replicas``, ``publish_status``) are the autoscaler's ``Scaler``.
    """

    async def start(self, events: BackendEvents) -> None:
        """Begin delivering the picture and its changes to ``events``; returns once started."""

    async def stop(self) -> None:
        """Stop watching and release resources."""


OUT_OF_MEMORY = "Runtime.OutOfMemory"  # Lambda's errorType for a function killed for memory


@runtime_checkable
class FailureCauses(Protocol):
    """A backend that can tell why an endpoint dropped a call (optional: ``failure_cause``)."""

    async def failure_cause(self, function_key: str, endpoint: Endpoint, since: float) -> str | None:
        """``OUT_OF_MEMORY`` when the endpoint's process was killed for exceeding its memory
        since ``since`` (epoch seconds), else None; may wait a few seconds for the evidence."""


async def failure_cause(backend: object, function_key: str, endpoint: Endpoint, since: float) -> str | None:
    """Why ``endpoint`` dropped a call, when ``backend`` can tell (None otherwise)."""
    if not isinstance(backend, FailureCauses) or not endpoint.name:
        return None
    return await backend.failure_cause(function_key, endpoint, since)


@runtime_checkable
class WarmStarts(Protocol):
    """A backend with a warm pool (optional): a function at zero may start in a pod already
    running, while its own replica starts (docs/warm-pool.md)."""

    async def warm_start(self, function: Function) -> None:
        """Try to give ``function`` a pool pod; its endpoint arrives through ``endpoints_changed``.
        Never raises: a function that cannot use the pool waits for its own replica."""


@runtime_checkable
class PoolReport(Protocol):
    """A backend with a warm pool (optional), reporting it for the console."""

    def pool_report(self) -> dict[str, dict[str, int]]:
        """Per pool (python, node, java): its pods by state (free, claimed, specialised) and the
        cold starts that asked it by result (hit, miss, skipped, failed), as this gateway saw them."""


@runtime_checkable
class MetricSource(Protocol):
    """A backend with metrics of its own (optional), served on the gateway's ``/metrics``."""

    def metric_collectors(self) -> list[Collector]: ...


class BackendError(Exception):
    """A backend call that failed (API unreachable, object missing)."""
