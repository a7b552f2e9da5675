"""A bounded pool of threads for synchronous handlers, which survives handlers that never return.

CPython cannot stop a thread from outside. When a call times out while its thread still runs
the handler, the caller abandons the job and the thread becomes a *runaway*: it no longer counts
as pool capacity, and a fresh thread replaces it so other calls keep being served. A runaway that
eventually returns rejoins the pool if the pool is short of threads, and exits otherwise. Past
``max_runaways`` stuck threads the pool stops replacing them and reports itself ``exhausted``,
which ``/livez`` turns into a failing liveness probe so the pod is restarted.

Threads start on demand (as ``ThreadPoolExecutor`` does), so an idle runtime starts fast.

Each thread has its own asyncio event loop, set as the thread's current loop before every job:
Lambda code written for a main thread (``asyncio.get_event_loop().run_until_complete(...)``,
Mangum's ASGI adapter) then runs unchanged in a ``def`` handler. It is created with the thread,
not per call, and put back when a handler closed or replaced it (``asyncio.run()`` does).
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import queue
import threading
from collections.abc import Callable
from typing import Any

Done = Callable[[bool, Any], None]


class JobState(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    FINISHED = "finished"
    CANCELLED = "cancelled"  # abandoned before a thread picked it up
    ABANDONED = "abandoned"  # abandoned while its thread runs it: that thread is a runaway


class Job:
    __slots__ = ("_args", "_context", "_done", "_func", "state")

    def __init__(
        self,
        func: Callable[..., Any],
        args: tuple[Any, ...],
        context: contextvars.Context,
        done: Done,
    ) -> None:
        self._func = func
        self._args = args
        self._context = context
        self._done = done
        self.state = JobState.QUEUED

    def run(self) -> None:
        try:
            result = self._context.run(self._func, *self._args)
        except BaseException as exc:
            self._done(False, exc)
        else:
            self._done(True, result)


class WorkerPool:
    def __init__(self, size: int, max_runaways: int, name: str = "wisp-handler") -> None:
        self._size = size
        self._max_runaways = max_runaways
        self._name = name
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._workers = 0  # threads serving the queue (runaways excluded)
        self._idle = 0
        self._runaways = 0
        self._serial = 0
        self._closed = False

    @property
    def runaways(self) -> int:
        return self._runaways

    @property
    def exhausted(self) -> bool:
        """True once stuck threads use up the capacity the pool may replace."""
        return self._runaways >= self._max_runaways

    def submit(self, func: Callable[..., Any], *args: Any, done: Done) -> Job:
        """Runs ``func(*args)`` in the caller's context on a pool thread; ``done`` gets the
        outcome (on that thread) unless the job was abandoned first."""
        job = Job(func, args, contextvars.copy_context(), done)
        with self._lock:
            if self._closed:
                raise RuntimeError("the worker pool is shut down")
            if self._idle == 0 and self._workers < self._size:
                self._start_worker()
            else:
                self._idle -= 1 if self._idle else 0
        self._jobs.put(job)
        return job

    def abandon(self, job: Job) -> None:
        """The caller stopped waiting for ``job`` (timeout); account for its thread."""
        with self._lock:
            if job.state is JobState.QUEUED:
                job.state = JobState.CANCELLED
            elif job.state is JobState.RUNNING:
                job.state = JobState.ABANDONED
                self._runaways += 1
                self._workers -= 1
                if self._runaways <= self._max_runaways and not self._closed:
                    self._start_worker(idle=True)

    def shutdown(self) -> None:
        """Lets idle threads exit; runaways are daemon threads and die with the process."""
        with self._lock:
            self._closed = True
            count = self._workers
        for _ in range(count):
            self._jobs.put(None)

    def _start_worker(self, *, idle: bool = False) -> None:
        self._workers += 1
        if idle:
            self._idle += 1
        self._serial += 1
        thread = threading.Thread(target=self._serve, name=f"{self._name}-{self._serial}", daemon=True)
        thread.start()

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        try:
            self._serve_jobs(loop)
        finally:
            asyncio.set_event_loop(None)
            if not loop.is_running():
                loop.close()

    def _serve_jobs(self, loop: asyncio.AbstractEventLoop) -> None:
        set_event_loop = asyncio.set_event_loop
        while True:
            job = self._jobs.get()
            if job is None:
                return
            with self._lock:
                if job.state is JobState.CANCELLED:
                    self._idle += 1
                    continue
                job.state = JobState.RUNNING
            if loop.is_closed():
                loop = asyncio.new_event_loop()
            set_event_loop(loop)
            job.run()
            with self._lock:
                if job.state is JobState.ABANDONED:
                    self._runaways -= 1
                    if self._workers >= self._size or self._closed:
                        return  # a replacement took this thread's place
                    self._workers += 1
                else:
                    job.state = JobState.FINISHED
                self._idle += 1
