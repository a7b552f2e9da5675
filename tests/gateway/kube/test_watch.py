"""The gateway's list-then-watch (``WatchThread``) against the real API server: every change
delivered once as the API's JSON, a watch that ends or falls silent resumed where it was (no
re-list, nothing lost, nothing twice), a version the server no longer has re-listed, and a stop
that does not wait for the watch to run out."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from wisp.gateway.kube import watch
from wisp.gateway.kube.watch import Obj, WatchThread

MINE = "wisp.dev/test=watch"  # the ConfigMaps the test makes (the namespace has one of its own)


@dataclass
class Seen:
    """What a WatchThread delivered, and how it asked the API."""

    snapshots: list[list[str]] = field(default_factory=list)
    events: list[tuple[str, str]] = field(default_factory=list)
    objects: list[Obj] = field(default_factory=list)
    watches: int = 0

    def names(self, kind: str) -> list[str]:
        return [name for k, name in self.events if k == kind]


@pytest.fixture
def configmaps(kube_api: client.ApiClient, namespace: str) -> Iterator[Callable[..., Any]]:
    """Starts a WatchThread on the test namespace's ConfigMaps; ``list_version`` replaces the
    version the first watch starts from."""
    core = client.CoreV1Api(kube_api)
    threads: list[WatchThread] = []

    def start(seen: Seen, *, list_version: str | None = None) -> WatchThread:
        loop = asyncio.get_running_loop()
        replaced = [list_version]

        def list_fn(**kwargs: Any) -> Any:
            if kwargs.get("watch"):
                seen.watches += 1
                if replaced[0] is not None:
                    kwargs["resource_version"], replaced[0] = replaced[0], None
            return core.list_namespaced_config_map(**kwargs)

        def on_snapshot(items: list[Obj]) -> None:
            seen.snapshots.append(sorted(item["metadata"]["name"] for item in items))

        def on_event(kind: str, obj: Obj) -> None:
            seen.events.append((kind, obj["metadata"]["name"]))
            seen.objects.append(obj)

        scope = {"namespace": namespace, "label_selector": MINE}
        thread = WatchThread("configmaps", list_fn, scope, loop, on_snapshot, on_event)
        thread.start()
        threads.append(thread)
        return thread

    yield start
    for thread in threads:
        thread.stop()
        thread.join(10)


def _configmap(core: client.CoreV1Api, namespace: str, name: str) -> None:
    meta = {"name": name, "labels": dict([MINE.split("=")])}
    core.create_namespaced_config_map(namespace, {"metadata": meta, "data": {"k": name}})


async def _until(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "the watch did not deliver in time"
        await asyncio.sleep(0.05)


async def test_every_change_arrives_once_as_the_apis_json_and_stop_is_at_once(
    kube_api: client.ApiClient, namespace: str, configmaps: Callable[..., WatchThread]
) -> None:
    core = client.CoreV1Api(kube_api)
    _configmap(core, namespace, "before")
    seen = Seen()
    thread = configmaps(seen)
    await _until(lambda: bool(seen.snapshots))
    assert seen.snapshots == [["before"]]
    _configmap(core, namespace, "a")
    core.patch_namespaced_config_map("a", namespace, {"data": {"k": "changed"}})
    core.delete_namespaced_config_map("before", namespace)
    await _until(lambda: len(seen.events) == 3)
    assert seen.events == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "before")]
    assert isinstance(seen.objects[1], dict) and seen.objects[1]["data"] == {"k": "changed"}
    await asyncio.sleep(0.5)  # the thread is in its blocking read, minutes from the watch's end
    began = time.monotonic()
    thread.stop()
    await asyncio.to_thread(thread.join, 30)
    assert not thread._thread.is_alive()
    assert time.monotonic() - began < 5, "stop waited for the watch to run out"


@pytest.mark.parametrize(
    "ends",
    [
        pytest.param({"WATCH_SECONDS": 1}, id="the-server-ends-the-watch"),
        pytest.param({"SILENCE_SECONDS": 0.3}, id="the-connection-falls-silent"),
    ],
)
async def test_a_watch_that_ends_is_resumed_without_a_relist_or_a_lost_change(
    kube_api: client.ApiClient,
    namespace: str,
    configmaps: Callable[..., WatchThread],
    monkeypatch: pytest.MonkeyPatch,
    ends: dict[str, float],
) -> None:
    for name, value in ends.items():
        monkeypatch.setattr(watch, name, value)
    core = client.CoreV1Api(kube_api)
    seen = Seen()
    configmaps(seen)
    await _until(lambda: bool(seen.snapshots))
    names = [f"cm-{i}" for i in range(8)]
    for name in names:
        _configmap(core, namespace, name)
        await asyncio.sleep(0.4)  # changes across several watches
    await _until(lambda: len(seen.events) >= len(names))
    await asyncio.sleep(1)  # anything delivered twice would be in by now
    assert seen.names("ADDED") == names
    assert seen.snapshots == [[]], "the watch was re-listed"
    assert seen.watches >= 3, "the watch was not ended and resumed"


class _Answer:
    """What the client's list call gives with ``_preload_content=False``: a list's JSON, or a
    watch's lines in chunks cut anywhere."""

    def __init__(self, body: bytes, chunk: int = 7) -> None:
        self.data = body
        self._chunks = [body[i : i + chunk] for i in range(0, len(body), chunk)]

    def stream(self, amt: int) -> Iterator[bytes]:
        yield from self._chunks

    def close(self) -> None: ...

    def release_conn(self) -> None: ...

    def shutdown(self) -> None: ...


GONE = b'{"type": "ERROR", "object": {"kind": "Status", "code": 410, "message": "too old"}}\n'


@pytest.mark.parametrize("answered", ["in-the-stream", "to-the-watch-request"])
async def test_a_version_the_server_no_longer_has_is_relisted(
    answered: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The server's 410 (its watch cache or etcd compacted past the version): re-listed at once,
    as routine, not as a failure."""
    lists = iter([b'{"metadata": {"resourceVersion": "5"}, "items": [{"metadata": {"name": "a"}}]}'] * 2)
    watches = iter(
        [GONE, b'{"type": "ADDED", "object": {"metadata": {"name": "b", "resourceVersion": "9"}}}\n']
    )
    seen = Seen()
    done = asyncio.Event()

    def list_fn(**kwargs: Any) -> _Answer:
        if kwargs.get("watch"):
            seen.watches += 1
            body = next(watches, b"")
            if body == GONE and answered == "to-the-watch-request":
                raise ApiException(status=410, reason="Gone")
            return _Answer(body)
        return _Answer(next(lists))

    def on_event(kind: str, obj: Obj) -> None:
        seen.events.append((kind, obj["metadata"]["name"]))
        done.set()

    def on_snapshot(items: list[Obj]) -> None:
        seen.snapshots.append([item["metadata"]["name"] for item in items])

    thread = WatchThread("stub", list_fn, {}, asyncio.get_running_loop(), on_snapshot, on_event)
    thread.start()
    try:
        await asyncio.wait_for(done.wait(), 10)
    finally:
        thread.stop()
        await asyncio.to_thread(thread.join, 10)
    assert seen.snapshots == [["a"], ["a"]]
    assert seen.events == [("ADDED", "b")]
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
