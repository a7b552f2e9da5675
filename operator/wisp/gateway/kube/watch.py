"""List-then-watch of one resource in a thread, feeding the asyncio loop.

``WatchThread`` lists (delivering the whole set as a snapshot), then watches from the list's
resourceVersion, resuming from the last seen version (bookmarks included) when a watch ends,
and re-listing when the server answers 410 Gone. Objects are delivered as plain dicts (the
API's JSON) with ``loop.call_soon_threadsafe``; the consumer's callbacks run on the loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

log = logging.getLogger("wisp.gateway.kube")

Obj = dict[str, Any]
WATCH_SECONDS = 10  # bounds how long stop() waits for the thread's blocking read
RETRY_SECONDS = 1.0


class WatchThread:
    def __init__(
        self,
        name: str,
        list_fn: Callable[..., Any],
        kwargs: Mapping[str, Any],
        loop: asyncio.AbstractEventLoop,
        on_snapshot: Callable[[list[Obj]], None],
        on_event: Callable[[str, Obj], None],
    ) -> None:
        self.name = name
        self._list_fn = list_fn
        self._kwargs = dict(kwargs)
        self._loop = loop
        self._on_snapshot = on_snapshot
        self._on_event = on_event
        self._stopped = threading.Event()
        self._watch: watch.Watch | None = None
        self._thread = threading.Thread(target=self._run, name=f"watch-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._watch is not None:
            self._watch.stop()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    def _deliver(self, callback: Callable[..., None], *args: Any) -> None:
        if self._stopped.is_set():
            return
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop closed under us
            self._stopped.set()

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                version: str | None = self._list()
                while not self._stopped.is_set() and version is not None:
                    version = self._watch_from(version)
            except Exception as exc:
                if self._stopped.is_set():
                    return
                log.warning("watch %s failed, re-listing: %s", self.name, exc)
                time.sleep(RETRY_SECONDS)

    def _list(self) -> str:
        response = self._list_fn(**self._kwargs, _preload_content=False)
        data = json.loads(response.data)
        self._deliver(self._on_snapshot, list(data.get("items") or []))
        return str(data["metadata"]["resourceVersion"])

    def _watch_from(self, version: str) -> str | None:
        """Watch until the server ends the stream; the version to resume from, None to re-list."""
        self._watch = watch.Watch()
        try:
            for event in self._watch.stream(
                self._list_fn,
                resource_version=version,
                timeout_seconds=WATCH_SECONDS,
                allow_watch_bookmarks=True,
                **self._kwargs,
            ):
                if self._stopped.is_set():
                    return None
                kind = event["type"]
                raw = event.get("raw_object") or {}
                if kind == "ERROR":
                    if raw.get("code") == 410:
                        return None
                    raise RuntimeError(f"watch error: {raw.get('message')}")
                if kind == "BOOKMARK":
                    continue
                self._deliver(self._on_event, kind, raw)
            return self._watch.resource_version or version
        except ApiException as exc:
            if exc.status == 410:
                return None
            raise
        finally:
            self._watch = None
