"""The operator's work queue: what watch events ask for, done by a fixed number of workers.

kopf gives every object its own worker, and a sync handler's call waits in kopf's thread pool
with the whole event around it: the object as the watch sent it (managedFields are half of a
Function, more of a Deployment), kopf's causes, diffs, patches and loggers, about 180 KiB an
object. When events come faster than reconciles finish (one apply of 10,000 Functions on the
real node, the API server on 2 cores far behind), every one of them waits at once: the active
operator peaked at 958 MiB.

So the handlers of Functions and of their Deployments and pods only queue the work, and kopf's
worker is done at once. As client-go's work queue does, a key waits at most once, with only the
latest thing to do for it (a newer event's job replaces one still waiting, and one that comes
while its key is being worked on runs right after), and one key is worked on by one worker at a
time. What waits is a key and a small copy of an object (``slim``), a few KiB.

A job returns the seconds after which to run it again (the API refused a child), or None. A
newer job for the key cancels that retry; a job that raises is retried after ``FAILED_RETRY``.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import logging
from collections.abc import Callable, Hashable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

log = logging.getLogger("wisp.operator")

Job = Callable[[], "float | None"]

FAILED_RETRY = 60.0  # seconds, as kopf retries a handler that raised

# Metadata the jobs never read: every field manager's record of every field, and kopf's and
# kubectl's copies of the spec. Each is as large as the spec itself, or larger.
_DROPPED_META = ("managedFields",)
_DROPPED_ANNOTATION_PREFIXES = ("kopf.zalando.org/", "kubectl.kubernetes.io/last-applied-configuration")
_DROPPED_ANNOTATIONS = ("wisp.dev/last-handled-configuration",)


def slim(body: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``body`` without what no job reads (see ``_DROPPED_META``): what a waiting job
    keeps of the object its event brought."""
    kept = copy.deepcopy({key: value for key, value in body.items() if key != "metadata"})
    meta = copy.deepcopy(
        {key: value for key, value in (body.get("metadata") or {}).items() if key not in _DROPPED_META}
    )
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        meta["annotations"] = {
            key: value
            for key, value in annotations.items()
            if key not in _DROPPED_ANNOTATIONS and not key.startswith(_DROPPED_ANNOTATION_PREFIXES)
        }
    kept["metadata"] = meta
    return kept


class WorkQueue:
    """Keys and their latest jobs, worked on by ``workers`` threads; ``start`` in the operator's
    event loop, ``stop`` at its end."""

    def __init__(self, workers: int, name: str = "wisp-reconcile") -> None:
        self.workers = workers
        self._name = name
        self._jobs: dict[Hashable, Job] = {}  # waiting to run (or to run again once its key is free)
        self._ready: collections.deque[Hashable] = collections.deque()  # keys to take, in order
        self._busy: set[Hashable] = set()
        self._retries: dict[Hashable, asyncio.TimerHandle] = {}
        self._idle: collections.deque[asyncio.Future[None]] = collections.deque()  # workers waiting
        self._tasks: list[asyncio.Task[None]] = []
        self._executor: ThreadPoolExecutor | None = None

    def __len__(self) -> int:
        """Keys waiting (not those being worked on)."""
        return len(self._jobs)

    def start(self) -> None:
        self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix=self._name)
        self._tasks = [
            asyncio.create_task(self._work(), name=f"{self._name}-{i}") for i in range(self.workers)
        ]

    async def stop(self) -> None:
        for handle in self._retries.values():
            handle.cancel()
        self._retries.clear()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    def add(self, key: Hashable, job: Job) -> None:
        """Run ``job`` for ``key``: in place of one still waiting, or once the key's running job
        is done. Called from the event loop."""
        retry = self._retries.pop(key, None)
        if retry is not None:
            retry.cancel()  # this job is newer than the one that would have run again
        waiting = key in self._jobs
        self._jobs[key] = job
        if not waiting and key not in self._busy:
            self._ready.append(key)
            self._notify()

    def _notify(self) -> None:
        """Wake one idle worker, if any (they take keys in the order they were readied)."""
        while self._idle:
            waiter = self._idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _take(self) -> Hashable:
        while not self._ready:
            waiter = asyncio.get_running_loop().create_future()
            self._idle.append(waiter)
            await waiter
        return self._ready.popleft()

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            key = await self._take()
            job = self._jobs.pop(key, None)
            if job is None:
                continue
            self._busy.add(key)
            try:
                retry_in = await loop.run_in_executor(self._executor, job)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("work on %s failed; trying again in %.0f s", _label(key), FAILED_RETRY)
                retry_in = FAILED_RETRY
            finally:
                self._busy.discard(key)
            if key in self._jobs:  # a newer job came while this one ran: it runs now
                self._ready.append(key)
                self._notify()
            elif retry_in is not None:
                self._retries[key] = loop.call_later(retry_in, self._retry, key, job)

    def _retry(self, key: Hashable, job: Job) -> None:
        self._retries.pop(key, None)
        if key not in self._jobs and key not in self._busy:
            self.add(key, job)


def _label(key: Hashable) -> str:
    return "/".join(str(part) for part in key) if isinstance(key, tuple) else str(key)
