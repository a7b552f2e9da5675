"""Probing a starting pod ahead of the kubelet, as Knative's activator does.

The kubelet probes readiness at most once a second: a runtime that listens 150 ms after its
container starts is often routed a second later. ``PodProber`` closes that gap. For every function
pod the pod watch shows with an address and no Ready condition yet, it sends ``GET /healthz`` to
``podIP:8080`` every ``PROBE_FIRST_INTERVAL`` seconds for ``PROBE_STEADY_FOR`` seconds, then
backing off to ``PROBE_MAX_INTERVAL``, for at most ``PROBE_WINDOW`` seconds; the first 200 makes
the pod an endpoint (``ready_endpoints``), and the backend hands it to the gateway with the
function's Ready pods, so a held call is forwarded at once. When the kubelet calls the pod Ready
it is an ordinary endpoint and the prober forgets it (``settle``); a pod that is deleted,
terminating, or whose runtime restarted is dropped.

The probe is a bare HTTP/1.1 request on a fresh connection (no client session to manage); only
the status line is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from wisp.api import contract
from wisp.gateway.backend import Endpoint
from wisp.gateway.kube.podview import PodView

log = logging.getLogger("wisp.gateway.kube")

PROBE_FIRST_INTERVAL = 0.025
PROBE_STEADY_FOR = 3.0  # probe at the first interval this long: when most runtimes start listening
PROBE_BACKOFF = 1.3
PROBE_MAX_INTERVAL = 0.25
PROBE_TIMEOUT = 0.5  # one probe: connect, send, status line
PROBE_WINDOW = 120.0  # a pod still not answering by then is left to the kubelet


@dataclass
class _Probe:
    key: str  # function key
    restarts: int
    endpoint: Endpoint
    task: asyncio.Task[None] | None = None
    answered: bool = False


async def healthz_ok(host: str, port: int) -> bool:
    """Whether ``GET /healthz`` on ``host:port`` answers 200 within ``PROBE_TIMEOUT`` seconds."""
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(
                f"GET {contract.HEALTH_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                "User-Agent: wisp-gateway-probe\r\nConnection: close\r\n\r\n".encode()
            )
            line = await reader.readline()
    except (OSError, TimeoutError):
        return False
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    parts = line.split(None, 2)
    return len(parts) >= 2 and parts[0].startswith(b"HTTP/1.") and parts[1] == b"200"


def next_interval(interval: float, probing_for: float) -> float:
    """The wait before the next probe of a pod probed for ``probing_for`` seconds.

    Steady at ``PROBE_FIRST_INTERVAL`` for the first ``PROBE_STEADY_FOR`` seconds (a runtime
    that starts listening then is found within 25 ms; backing off from the start had the
    interval at 0.1-0.25 s by the time a runtime was up, and the held call waited that long),
    then backing off to ``PROBE_MAX_INTERVAL`` for pods that take longer.
    """
    if probing_for < PROBE_STEADY_FOR:
        return PROBE_FIRST_INTERVAL
    return min(interval * PROBE_BACKOFF, PROBE_MAX_INTERVAL)


class PodProber:
    """Probes starting pods; calls ``on_change(function_key)`` when a pod turns ready or leaves.

    Runs on the gateway's event loop: ``observe`` and ``forget`` are called from the pod watch's
    events, ``settle`` when the backend tells the gateway a function's endpoints.
    """

    def __init__(
        self,
        on_change: Callable[[str], None],
        *,
        port: int = contract.PORT,
        probe: Callable[[str, int], Awaitable[bool]] = healthz_ok,
    ) -> None:
        self._on_change = on_change
        self._port = port
        self._probe = probe
        self._probes: dict[str, _Probe] = {}  # by pod uid
        self._was_ready: set[str] = set()  # pods the kubelet said Ready once: not starting any more

    def observe(self, pod: PodView) -> None:
        """A pod as the watch shows it now: start, keep or drop its probe."""
        if pod.ready:
            self._was_ready.add(pod.uid)
        current = self._probes.get(pod.uid)
        if current is not None:
            moved = pod.gone or pod.ip != current.endpoint.host or pod.restarts != current.restarts
            if not moved:
                if pod.ready and current.task is not None:
                    current.task.cancel()  # the kubelet has caught up; the backend settles it
                return
            self.forget(pod.uid)
        if pod.startable and pod.uid not in self._was_ready:
            self._start(pod)

    def forget(self, uid: str, *, deleted: bool = False) -> None:
        """The pod moved or is gone: stop probing, drop its endpoint."""
        if deleted:
            self._was_ready.discard(uid)
        probe = self._probes.pop(uid, None)
        if probe is None:
            return
        if probe.task is not None:
            probe.task.cancel()
        if probe.answered:
            self._on_change(probe.key)

    def settle(self, function_key: str, listed: Iterable[str]) -> None:
        """These addresses of the function are Ready pods now: they need no probe."""
        addresses = set(listed)
        for uid, probe in list(self._probes.items()):
            if probe.key == function_key and probe.endpoint.address in addresses:
                if probe.task is not None:
                    probe.task.cancel()
                del self._probes[uid]

    def ready_endpoints(self, function_key: str) -> list[Endpoint]:
        """Pods that answered a probe and the kubelet has not called Ready yet."""
        return [p.endpoint for p in self._probes.values() if p.key == function_key and p.answered]

    async def close(self) -> None:
        tasks = [p.task for p in self._probes.values() if p.task is not None]
        self._probes.clear()
        self._was_ready.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _start(self, pod: PodView) -> None:
        probe = _Probe(pod.function_key, pod.restarts, Endpoint(pod.ip, self._port, pod.name))
        self._probes[pod.uid] = probe
        probe.task = asyncio.get_running_loop().create_task(self._run(pod.uid, probe))

    async def _run(self, uid: str, probe: _Probe) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PROBE_WINDOW
        interval = PROBE_FIRST_INTERVAL
        host, port = probe.endpoint.host, probe.endpoint.port
        while loop.time() < deadline:
            if await self._probe(host, port):
                if self._probes.get(uid) is probe:
                    probe.answered = True
                    probe.task = None
                    log.info("%s: pod %s answered its probe; routing to it", probe.key, probe.endpoint.name)
                    self._on_change(probe.key)
                return
            await asyncio.sleep(interval)
            interval = next_interval(interval, loop.time() - (deadline - PROBE_WINDOW))
        probe.task = None
