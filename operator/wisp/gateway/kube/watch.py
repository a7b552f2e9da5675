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
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import ReadTimeoutError

log = logging.getLogger("wisp.gateway.kube")

Obj = dict[str, Any]
# A watch ends after 5 to 10 minutes, at random, as client-go's reflector has it, and is resumed
# from the last version seen; stop() interrupts the blocking read rather than waiting it out.
WATCH_SECONDS = 300
# The API server sends watches that allow bookmarks one every minute: a watch silent for longer
# is on a dead connection and is resumed on a new one.
SILENCE_SECONDS = 150
CONNECT_SECONDS = 10
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
        self._response: Any = None  # the watch's urllib3 response while one is open
        self._thread = threading.Thread(target=self._run, name=f"watch-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        response = self._response
        if response is not None:
            response.shutdown()  # wakes the thread's blocking read

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
        """Watch until the server ends the stream; the version to resume from, None to re-list.

        The stream is read as the API's JSON lines, not through the client's ``Watch``: that
        would make typed models of every event (the gateway reads the JSON) and learns the
        version to resume from only by making them."""
        try:
            response = self._list_fn(
                **self._kwargs,
                watch=True,
                resource_version=version,
                timeout_seconds=random.randint(WATCH_SECONDS, 2 * WATCH_SECONDS),
                allow_watch_bookmarks=True,
                _preload_content=False,
                _request_timeout=(CONNECT_SECONDS, SILENCE_SECONDS),
            )
        except ApiException as exc:
            if exc.status == 410:  # the version is gone before the watch began
                return None
            raise
        self._response = response
        try:
            if self._stopped.is_set():  # stop() came before the response was there to shut down
                return None
            for line in _lines(response):
                if self._stopped.is_set():
                    return None
                event = json.loads(line)
                kind = event["type"]
                raw = event.get("object") or {}
                if kind == "ERROR":
                    if raw.get("code") == 410:
                        return None
                    raise RuntimeError(f"watch error: {raw.get('message')}")
                version = (raw.get("metadata") or {}).get("resourceVersion") or version
                if kind != "BOOKMARK":
                    self._deliver(self._on_event, kind, raw)
            return version
        except ReadTimeoutError:
            return version  # a silent connection (no bookmark either): resume on a new one
        finally:
            self._response = None
            response.close()
            response.release_conn()


def _lines(response: Any) -> Iterator[bytes]:
    """The non-empty lines of a streamed response, each as soon as its end is in."""
    pending = b""
    for chunk in response.stream(1 << 16):
        *lines, pending = (pending + chunk).split(b"\n")
        yield from (line for line in lines if line.strip())
