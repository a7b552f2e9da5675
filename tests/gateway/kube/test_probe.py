"""A function's endpoints from its pods, and probing starting pods ahead of the kubelet: the pod
read as a view (tables), the prober against real runtime-shaped HTTP servers on loopback (503
while the handler loads, then 200), and the backend merging the two."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from kubernetes import client

from tests.support.net import free_port
from wisp.gateway.backend import Endpoint
from wisp.gateway.config import GatewayConfig
from wisp.gateway.kube.backend import KubernetesBackend, _Scope
from wisp.gateway.kube.podview import PodView, pod_view, resize_body
from wisp.gateway.kube.probe import PodProber, healthz_ok, next_interval


def _pod(
    *,
    ip: str = "10.1.0.5",
    ready: bool = False,
    deleting: bool = False,
    phase: str = "Running",
    restarts: int = 0,
    limit: str | None = "1000m",
    after: str | None = "72m",
    uid: str = "u-1",
) -> dict[str, Any]:
    annotations = {"wisp.dev/cpu-after-start": after} if after else {}
    meta: dict[str, Any] = {
        "name": "hello-abc",
        "namespace": "ns",
        "uid": uid,
        "labels": {"wisp.dev/function": "hello"},
        "annotations": annotations,
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-12-04T14:00:00Z"
    resources = {"limits": {"cpu": limit, "memory": "128Mi"}} if limit else {"limits": {"memory": "128Mi"}}
    return {
        "metadata": meta,
        "spec": {"containers": [{"name": "function", "resources": resources}]},
        "status": {
            "phase": phase,
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "function", "restartCount": restarts}],
        },
    }


def _view(**kwargs: Any) -> PodView:
    view = pod_view(_pod(**kwargs))
    assert view is not None
    return view


def test_a_pod_without_the_function_label_is_not_a_function_pod() -> None:
    pod = _pod()
    pod["metadata"]["labels"] = {}
    assert pod_view(pod) is None


def test_view_of_a_starting_pod() -> None:
    assert _view() == PodView(
        uid="u-1",
        name="hello-abc",
        namespace="ns",
        function_key="hello.ns",
        ip="10.1.0.5",
        ready=False,
        gone=False,
        restarts=0,
        cpu_limit="1000m",
        cpu_after_start="72m",
    )


@pytest.mark.parametrize(
    ("pod", "startable"),
    [
        ({}, True),
        ({"ip": ""}, False),  # no sandbox address yet
        ({"ready": True}, False),  # the kubelet already says so
        ({"deleting": True}, False),
        ({"phase": "Failed"}, False),
    ],
)
def test_which_pods_are_worth_probing(pod: dict[str, Any], startable: bool) -> None:
    assert _view(**pod).startable is startable


@pytest.mark.parametrize(
    ("pod", "endpoint"),
    [
        ({"ready": True}, Endpoint("10.1.0.5", 8080, "hello-abc")),
        ({}, None),  # starting: the prober's to judge
        ({"ready": True, "ip": ""}, None),
        ({"ready": True, "deleting": True}, None),  # terminating: no new calls
        ({"ready": True, "phase": "Succeeded"}, None),
        ({"ready": True, "phase": "Failed"}, None),
    ],
)
def test_which_pods_are_routed_to(pod: dict[str, Any], endpoint: Endpoint | None) -> None:
    assert _view(**pod).endpoint == endpoint


@pytest.mark.parametrize(
    ("pod", "resize_to"),
    [
        ({"ready": True}, "72m"),
        ({"ready": True, "limit": "1"}, "72m"),
        ({"ready": False}, None),  # still starting: keeps its boost
        ({"ready": True, "limit": "72m"}, None),  # already resized
        ({"ready": True, "after": "500m", "limit": "0.5"}, None),  # the same quantity spelt otherwise
        ({"ready": True, "after": None}, None),  # not boosted
        ({"ready": True, "deleting": True}, None),
    ],
)
def test_when_a_boosted_pod_is_resized(pod: dict[str, Any], resize_to: str | None) -> None:
    assert _view(**pod).resize_to == resize_to


def test_the_resize_patch_names_the_function_container() -> None:
    assert resize_body("72m") == {
        "spec": {"containers": [{"name": "function", "resources": {"limits": {"cpu": "72m"}}}]}
    }


# -- the prober ----------------------------------------------------------------------------------


class Runtime:
    """/healthz as a runtime serves it: 503 until the handler is loaded, then 200."""

    def __init__(self) -> None:
        self.loaded = False
        self.probed = asyncio.Event()

    async def healthz(self, request: web.Request) -> web.Response:
        self.probed.set()
        return web.json_response({"ready": self.loaded}, status=200 if self.loaded else 503)


@pytest_asyncio.fixture
async def runtime() -> AsyncIterator[tuple[Runtime, int]]:
    rt = Runtime()
    app = web.Application()
    app.router.add_get("/healthz", rt.healthz)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    yield rt, port
    await runner.cleanup()


class Changes:
    def __init__(self) -> None:
        self.keys: asyncio.Queue[str] = asyncio.Queue()

    def __call__(self, key: str) -> None:
        self.keys.put_nowait(key)


async def test_healthz_ok_only_for_200(runtime: tuple[Runtime, int]) -> None:
    rt, port = runtime
    assert await healthz_ok("127.0.0.1", port) is False
    rt.loaded = True
    assert await healthz_ok("127.0.0.1", port) is True
    assert await healthz_ok("127.0.0.1", free_port()) is False  # nothing listens


async def test_a_starting_pod_becomes_an_endpoint_at_its_first_healthy_answer(
    runtime: tuple[Runtime, int],
) -> None:
    rt, port = runtime
    changes = Changes()
    prober = PodProber(changes, port=port)
    try:
        prober.observe(_view(ip="127.0.0.1"))
        await rt.probed.wait()
        assert prober.ready_endpoints("hello.ns") == []  # 503: the handler is still loading
        rt.loaded = True
        assert await changes.keys.get() == "hello.ns"
        assert prober.ready_endpoints("hello.ns") == [Endpoint("127.0.0.1", port, "hello-abc")]
        # The kubelet catches up: nothing changes until the EndpointSlice lists it.
        prober.observe(_view(ip="127.0.0.1", ready=True))
        assert prober.ready_endpoints("hello.ns") == [Endpoint("127.0.0.1", port, "hello-abc")]
        prober.settle("hello.ns", [f"127.0.0.1:{port}"])
        assert prober.ready_endpoints("hello.ns") == []
        # Once Ready, the pod is the kubelet's: an unready spell is not probed around.
        prober.observe(_view(ip="127.0.0.1", ready=False))
        assert prober.ready_endpoints("hello.ns") == []
        assert changes.keys.empty()
    finally:
        await prober.close()


@pytest.mark.parametrize(
    "moved",
    [{"deleting": True}, {"restarts": 1}, {"ip": "127.0.0.2"}],
    ids=["terminating", "restarted", "new-address"],
)
async def test_a_probed_pod_that_goes_away_is_dropped(
    runtime: tuple[Runtime, int], moved: dict[str, Any]
) -> None:
    rt, port = runtime
    rt.loaded = True
    changes = Changes()
    prober = PodProber(changes, port=port)
    try:
        prober.observe(_view(ip="127.0.0.1"))
        assert await changes.keys.get() == "hello.ns"
        prober.observe(_view(**{"ip": "127.0.0.1", **moved}))
        assert await changes.keys.get() == "hello.ns"
        assert Endpoint("127.0.0.1", port, "hello-abc") not in prober.ready_endpoints("hello.ns")
    finally:
        await prober.close()


async def test_a_deleted_pod_is_dropped(runtime: tuple[Runtime, int]) -> None:
    rt, port = runtime
    rt.loaded = True
    changes = Changes()
    prober = PodProber(changes, port=port)
    try:
        prober.observe(_view(ip="127.0.0.1"))
        assert await changes.keys.get() == "hello.ns"
        prober.forget("u-1", deleted=True)
        assert await changes.keys.get() == "hello.ns"
        assert prober.ready_endpoints("hello.ns") == []
    finally:
        await prober.close()


async def test_pods_of_other_functions_are_apart(runtime: tuple[Runtime, int]) -> None:
    rt, port = runtime
    rt.loaded = True
    changes = Changes()
    prober = PodProber(changes, port=port)
    try:
        prober.observe(_view(ip="127.0.0.1"))
        assert await changes.keys.get() == "hello.ns"
        assert prober.ready_endpoints("other.ns") == []
        prober.settle("other.ns", [f"127.0.0.1:{port}"])
        assert len(prober.ready_endpoints("hello.ns")) == 1
    finally:
        await prober.close()


# -- the backend: a function's endpoints from its pods, probed ones first -------------------------


class Sink:
    """The gateway's side of the backend: the endpoint sets it was given, per function."""

    def __init__(self) -> None:
        self.endpoints: dict[str, tuple[Endpoint, ...]] = {}
        self.told = 0
        self.changed = asyncio.Event()

    def endpoints_changed(self, key: str, endpoints: tuple[Endpoint, ...]) -> None:
        self.endpoints[key] = endpoints
        self.told += 1
        self.changed.set()

    def routed(self, key: str) -> list[Endpoint]:
        return list(self.endpoints.get(key, ()))


async def test_the_backend_routes_a_probed_pod_then_the_kubelets_ready_pod() -> None:
    backend = KubernetesBackend(client.ApiClient(), GatewayConfig())
    answer = asyncio.Event()

    async def probe(host: str, port: int) -> bool:
        await answer.wait()
        return True

    assert backend.prober is not None
    backend.prober._probe = probe
    sink = Sink()
    backend._events = sink  # type: ignore[assignment]
    pods = _Scope()
    try:
        backend._pod_event(pods, "ADDED", _pod(ip=""))
        backend._pod_event(pods, "MODIFIED", _pod(ip="10.1.0.5"))
        assert sink.routed("hello.ns") == []
        sink.changed.clear()
        answer.set()
        await sink.changed.wait()
        probed = Endpoint("10.1.0.5", 8080, "hello-abc")
        assert sink.routed("hello.ns") == [probed]
        # The kubelet says Ready: the same endpoint, now the pod's own; the probe is done.
        backend._pod_event(pods, "MODIFIED", _pod(ip="10.1.0.5", ready=True))
        assert sink.routed("hello.ns") == [probed]
        assert backend.prober.ready_endpoints("hello.ns") == []
        # Events that do not change where calls go tell the gateway nothing.
        told = sink.told
        backend._pod_event(pods, "MODIFIED", _pod(ip="10.1.0.5", ready=True, limit="72m"))
        assert sink.told == told
        # A second pod, Ready, joins; the first, terminating, leaves at once.
        backend._pod_event(pods, "ADDED", _pod(ip="10.1.0.6", ready=True, uid="u-2"))
        assert [e.host for e in sink.routed("hello.ns")] == ["10.1.0.5", "10.1.0.6"]
        backend._pod_event(pods, "MODIFIED", _pod(ip="10.1.0.5", ready=True, deleting=True))
        assert [e.host for e in sink.routed("hello.ns")] == ["10.1.0.6"]
        # Not Ready any more (its readiness probe fails): out of the rotation, and not probed again.
        backend._pod_event(pods, "MODIFIED", _pod(ip="10.1.0.6", uid="u-2"))
        assert sink.routed("hello.ns") == []
        assert backend.prober.ready_endpoints("hello.ns") == []
        backend._pod_event(pods, "MODIFIED", _pod(ip="10.1.0.6", ready=True, uid="u-2"))
        assert [e.host for e in sink.routed("hello.ns")] == ["10.1.0.6"]
        # A re-list that no longer has it: gone.
        backend._pod_snapshot(pods, [])
        assert sink.routed("hello.ns") == []
        assert backend._ready == {}
    finally:
        await backend.stop()


@pytest.mark.parametrize(
    ("interval", "probing_for", "expected"),
    [
        (0.025, 0.0, 0.025),  # a pod just seen
        (0.025, 1.2, 0.025),  # most runtimes start listening within the first seconds: no backoff
        (0.025, 2.99, 0.025),
        (0.025, 3.0, 0.0325),  # past the steady window: backing off
        (0.2, 10.0, 0.25),  # never past the ceiling
        (0.25, 60.0, 0.25),
    ],
)
def test_a_starting_pod_is_probed_every_25_ms_for_its_first_seconds(
    interval: float, probing_for: float, expected: float
) -> None:
    assert next_interval(interval, probing_for) == pytest.approx(expected)
