"""``LocalBackend``: the gateway's ``Backend`` with functions as local runtime processes.

What a Deployment and its pods are in a cluster, this is for ``wisp dev``:
``scale(key, n)`` starts or stops runtime processes (through ``wisp.launcher``, the same code the
tests' node agent uses) until ``n`` are wanted; each one that reports ready becomes an
``Endpoint``, each one that goes away stops being one. The gateway's activator and autoscaler
drive ``scale`` exactly as they drive a Deployment's scale subresource.

A replica that exits by itself is restarted with backoff (restartPolicy Always), and so is one
whose ``/livez`` fails ``liveness_failures`` times in a row (the Deployment's liveness probe);
as the kubelet does, the backoff starts over once a replica has run for ``backoff_reset``
seconds. A handler
that cannot load, or dependencies that cannot install, mark the function not ready with the
reason, so calls get a 503 that says why instead of waiting; the next edit tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp

from wisp.api.contract import LIVENESS_PATH
from wisp.api.trigger import Trigger
from wisp.autoscaler.port import StatusUpdate
from wisp.dev import awssdk
from wisp.dev.prewarm import ForkedRuntime, ForkServer
from wisp.dev.workspace import PreparedCode, Workspace
from wisp.gateway.backend import OUT_OF_MEMORY, BackendEvents, Endpoint, FunctionInfo
from wisp.launcher import (
    LaunchError,
    LaunchSpec,
    RuntimeProcess,
    install_dependencies,
    python_for,
    start_runtime,
)
from wisp.source import FunctionSource

log = logging.getLogger("wisp.dev")

_FAILURE_EVIDENCE_WAIT = 5.0  # how long the gateway may wait to learn why a replica dropped a call

LineSink = Callable[[str, str], None]  # (replica name, line the runtime wrote)


@dataclass(frozen=True)
class LocalSettings:
    start_timeout: float = 60.0
    stop_grace: float = 5.0
    restart_backoff: float = 0.5
    restart_backoff_max: float = 10.0
    backoff_reset: float = 600.0  # a run this long starts the backoff over (the kubelet's 10 min)
    # The Deployment's livenessProbe (wisp.resources.deployment): GET /livez.
    liveness_period: float = 10.0
    liveness_timeout: float = 2.0
    liveness_failures: int = 3


def restart_delay(previous: float | None, ran_for: float, settings: LocalSettings) -> float:
    """How long to wait before restarting a replica whose process ran ``ran_for`` seconds and
    whose last restart waited ``previous`` (None: never restarted)."""
    if previous is None or ran_for >= settings.backoff_reset:
        return settings.restart_backoff
    return min(previous * 2, settings.restart_backoff_max)


@dataclass(eq=False)
class Replica:
    name: str
    process: RuntimeProcess | ForkedRuntime | None = None
    endpoint: Endpoint | None = None
    stopping: bool = False
    task: asyncio.Task[None] | None = None
    restarts: int = 0
    backoff: float | None = None  # the last restart's delay
    oom_killed_at: float = 0.0  # epoch seconds its last process was killed for memory (0: never)


@dataclass(eq=False)
class Served:
    """One function as ``wisp dev`` runs it."""

    source: FunctionSource
    code: PreparedCode
    info: FunctionInfo
    desired: int = 0
    replicas: list[Replica] = field(default_factory=list)
    numbers: int = 0
    dependencies: asyncio.Task[None] | None = None

    @property
    def key(self) -> str:
        return self.info.key

    @property
    def live(self) -> list[Replica]:
        return [r for r in self.replicas if not r.stopping]


class LocalBackend:
    def __init__(self, settings: LocalSettings | None = None, on_line: LineSink | None = None) -> None:
        self.settings = settings or LocalSettings()
        self.functions: dict[str, Served] = {}
        self.triggers: dict[str, Trigger] = {}
        self.statuses: dict[str, StatusUpdate] = {}
        self._on_line = on_line
        self.fork_server: ForkServer | None = None  # set: Python runtimes are forked, pre-warmed
        self._events: BackendEvents | None = None
        self._stopping: set[asyncio.Task[None]] = set()
        # Where the AWS SDK is installed for functions that import it (wisp.dev.awssdk).
        self.sdk_cache = Workspace.default(Path()).cache_dir

    # -- the Backend protocol ------------------------------------------------------------------

    async def start(self, events: BackendEvents) -> None:
        self._events = events
        for served in self.functions.values():
            events.function_upserted(served.info)
            # Replicas of ``scale.min`` functions start while the folder is read, before the
            # gateway attaches: the first picture must carry the endpoints they already have.
            events.endpoints_changed(served.key, _endpoints(served))
        for trigger in self.triggers.values():
            events.trigger_upserted(trigger)
        events.synced()

    async def stop(self) -> None:
        self._events = None
        await asyncio.gather(*(self._retire(s) for s in self.functions.values()), *self._stopping)

    async def scale(self, function_key: str, replicas: int) -> None:
        served = self.functions.get(function_key)
        if served is None:
            raise LookupError(f"function {function_key} is not served")
        if not served.info.ready and replicas > 0:
            return  # it cannot start until its file changes
        served.desired = replicas
        self._reconcile(served)

    async def get_replicas(self, function_key: str) -> int:
        served = self.functions.get(function_key)
        return served.desired if served is not None else 0

    async def publish_status(self, function_key: str, update: StatusUpdate) -> None:
        self.statuses[function_key] = update

    # -- what wisp dev serves --------------------------------------------------------------------

    def upsert_function(self, source: FunctionSource, code: PreparedCode) -> None:
        """Serve ``source`` (new or changed); a changed function's processes are replaced."""
        previous = self.functions.get(source.key)
        info = FunctionInfo(source.function)
        if code.unsupported:
            info = FunctionInfo(source.function, False, "CannotRunLocally", code.unsupported)
        served = Served(source, code, info, desired=previous.desired if previous else 0)
        if served.desired == 0 and source.function.spec.scale.min > 0:
            served.desired = source.function.spec.scale.min
        if source.function.spec.replicas is not None:
            served.desired = source.function.spec.replicas
        self.functions[source.key] = served
        if previous is not None:
            self._later(self._retire(previous))
        if code.unsupported:
            served.desired = 0
        elif code.has_dependencies or code.build is not None or self._needs_sdk(served):
            served.dependencies = asyncio.create_task(self._install(served))
        if self._events is not None:
            self._events.function_upserted(served.info)
            self._events.endpoints_changed(source.key, ())
        self._reconcile(served)

    def delete_function(self, key: str) -> None:
        served = self.functions.pop(key, None)
        if served is None:
            return
        self._later(self._retire(served))
        if self._events is not None:
            self._events.function_deleted(key)

    def upsert_trigger(self, trigger: Trigger) -> None:
        self.triggers[trigger.key] = trigger
        if self._events is not None:
            self._events.trigger_upserted(trigger)

    def delete_trigger(self, key: str) -> None:
        if self.triggers.pop(key, None) is not None and self._events is not None:
            self._events.trigger_deleted(key)

    def pids(self) -> list[int]:
        """Every runtime process running now (tests and the shutdown report)."""
        return [
            r.process.pid
            for s in self.functions.values()
            for r in s.replicas
            if r.process is not None and r.process.returncode is None
        ]

    # -- replicas --------------------------------------------------------------------------------

    def _reconcile(self, served: Served) -> None:
        live = served.live
        while len(live) < served.desired:
            served.numbers += 1
            replica = Replica(f"{served.source.function.name}-{served.numbers}")
            served.replicas.append(replica)
            replica.task = asyncio.create_task(self._run(served, replica), name=replica.name)
            live.append(replica)
        for replica in reversed(live[served.desired :]):
            self._later(self._stop_replica(served, replica))

    async def _run(self, served: Served, replica: Replica) -> None:
        loop = asyncio.get_running_loop()
        try:
            if served.dependencies is not None:
                await served.dependencies
            while not replica.stopping and served.info.ready:
                started = loop.time()
                if not await self._run_once(served, replica):
                    return
                if replica.stopping:
                    return
                replica.backoff = restart_delay(replica.backoff, loop.time() - started, self.settings)
                replica.restarts += 1
                log.warning("%s exited; restarting in %.1fs", replica.name, replica.backoff)
                await asyncio.sleep(replica.backoff)
        finally:
            if replica in served.replicas and not replica.stopping:
                served.replicas.remove(replica)

    async def _run_once(self, served: Served, replica: Replica) -> bool:
        """One process of ``replica``, from start to exit; False when it must not be restarted."""
        fn = served.source.function
        assert served.code.code_dir is not None
        sink = self._on_line
        spec = LaunchSpec(
            runtime=fn.spec.runtime,
            code_dir=served.code.code_dir,
            env=served.code.environment(fn),
            log_sink=(lambda line: sink(replica.name, line)) if sink is not None else None,
        )
        try:
            replica.process = process = await self._start(spec)
            ready = await process.wait_ready(self.settings.start_timeout)
        except LaunchError as exc:
            self._not_ready(served, "RuntimeFailed", str(exc).splitlines()[0])
            return False
        if not ready.handler_loaded:
            message = await _health_error(ready.url) or "the handler did not load"
            self._not_ready(served, "HandlerLoadFailed", message)
            await process.stop(self.settings.stop_grace)
            return False
        if replica.stopping:
            return False
        replica.endpoint = Endpoint(ready.host, ready.port, replica.name)
        self._publish_endpoints(served)
        exited = asyncio.ensure_future(process.wait())
        liveness = asyncio.create_task(self._probe_liveness(replica, ready.url))
        try:
            await asyncio.wait((exited, liveness), return_when=asyncio.FIRST_COMPLETED)
            if not exited.done():  # it failed its liveness probe: no more calls, then restart
                replica.endpoint = None
                self._publish_endpoints(served)
                await process.stop(self.settings.stop_grace)
        finally:
            for task in (exited, liveness):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        replica.endpoint = None
        self._publish_endpoints(served)
        if process.out_of_memory:
            replica.oom_killed_at = time.time()
            self._oom_killed(served, replica)
        return True

    def _oom_killed(self, served: Served, replica: Replica) -> None:
        memory = served.source.function.spec.memory
        log.error("%s ran out of memory (more than %s) and was killed", replica.name, memory)
        if self.functions.get(served.key) is not served:
            return
        served.info = replace(served.info, oom_kills=served.info.oom_kills + 1)
        if self._events is not None:
            self._events.function_upserted(served.info)

    async def failure_cause(self, function_key: str, endpoint: Endpoint, since: float) -> str | None:
        """``OUT_OF_MEMORY`` when the replica behind ``endpoint`` was killed for memory since
        ``since``: the gateway then tells the caller so, naming the limit."""
        served = self.functions.get(function_key)
        replica = next((r for r in served.replicas if r.name == endpoint.name), None) if served else None
        if replica is None:
            return None
        process = replica.process
        if process is not None and process.returncode is None:  # the kill may be under way
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(process.wait()), _FAILURE_EVIDENCE_WAIT)
        killed = (process is not None and process.out_of_memory) or replica.oom_killed_at >= since
        return OUT_OF_MEMORY if killed else None

    async def _probe_liveness(self, replica: Replica, url: str) -> None:
        """The kubelet's liveness probe: returns once ``/livez`` failed ``liveness_failures``
        times in a row (the replica is then restarted)."""
        s = self.settings
        failures = 0
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=s.liveness_timeout)) as session:
            while failures < s.liveness_failures:
                await asyncio.sleep(s.liveness_period)
                problem = await _liveness_problem(session, f"{url}{LIVENESS_PATH}")
                failures = failures + 1 if problem else 0
                if problem:
                    log.warning("%s: liveness probe failed: %s", replica.name, problem)
        log.error("%s failed %d liveness probes in a row; restarting it", replica.name, failures)

    async def _start(self, spec: LaunchSpec) -> RuntimeProcess | ForkedRuntime:
        # The fork server is this interpreter: it serves the Python runtimes of its own version.
        forkable = spec.runtime.language == "python" and python_for(spec.runtime.version) == sys.executable
        if self.fork_server is not None and forkable:
            try:
                return await self.fork_server.launch(spec)
            except (LaunchError, OSError) as exc:
                log.warning("the fork server failed (%s); starting a fresh interpreter", exc)
                self.fork_server = None
        return await start_runtime(spec)

    async def _stop_replica(self, served: Served, replica: Replica) -> None:
        replica.stopping = True
        if replica.endpoint is not None:
            replica.endpoint = None
            self._publish_endpoints(served)
        if replica.process is not None:
            await replica.process.stop(self.settings.stop_grace)
        if replica.task is not None:
            replica.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await replica.task
        if replica.process is not None:
            await replica.process.stop(self.settings.stop_grace)  # started while cancelling
        if replica in served.replicas:
            served.replicas.remove(replica)

    async def _retire(self, served: Served) -> None:
        served.desired = 0
        if served.dependencies is not None:
            served.dependencies.cancel()
        await asyncio.gather(*(self._stop_replica(served, r) for r in list(served.replicas)))

    def _needs_sdk(self, served: Served) -> bool:
        code_dir = served.code.code_dir
        language = served.source.function.spec.runtime.language
        return code_dir is not None and awssdk.enabled() and awssdk.uses_sdk(language, code_dir)

    async def _install(self, served: Served) -> None:
        fn = served.source.function
        code = served.code
        code_dir = code.code_dir
        assert code_dir is not None
        sink = self._on_line
        name = f"{fn.name}-deps"
        if self._needs_sdk(served):
            try:
                sdk = await awssdk.ensure(
                    fn.spec.runtime.language,
                    fn.spec.runtime.version,
                    self.sdk_cache,
                    (lambda line: sink(name, line)) if sink is not None else None,
                )
            except LaunchError as exc:
                self._not_ready(served, "DependenciesFailed", str(exc).splitlines()[0])
                return
            code = served.code = replace(code, aws_sdk_dir=sdk)
            if not code.has_dependencies and code.build is None:
                return
        if code.build is not None:  # a Java folder's jar (wisp.dev.javabuild)
            try:
                await code.build.run((lambda line: sink(f"{fn.name}-build", line)) if sink else None)
            except LaunchError as exc:
                self._not_ready(served, "BuildFailed", str(exc).splitlines()[0])
            return
        try:
            await install_dependencies(
                fn.spec.runtime,
                code_dir,
                code.deps_dir,
                env=code.environment(fn),
                log_sink=(lambda line: sink(name, line)) if sink is not None else None,
            )
        except LaunchError as exc:
            self._not_ready(served, "DependenciesFailed", str(exc).splitlines()[0])

    def _not_ready(self, served: Served, reason: str, message: str) -> None:
        if self.functions.get(served.key) is not served:
            return  # replaced meanwhile
        log.error("%s: %s: %s", served.source.function.name, reason, message)
        served.info = FunctionInfo(served.source.function, False, reason, message)
        served.desired = 0
        if self._events is not None:
            self._events.function_upserted(served.info)

    def _publish_endpoints(self, served: Served) -> None:
        if self._events is None or self.functions.get(served.key) is not served:
            return
        self._events.endpoints_changed(served.key, _endpoints(served))

    def _later(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)


def _endpoints(served: Served) -> tuple[Endpoint, ...]:
    return tuple(r.endpoint for r in served.replicas if r.endpoint is not None)


async def _liveness_problem(session: aiohttp.ClientSession, url: str) -> str:
    """What is wrong with ``GET /livez`` (empty: it answered 200)."""
    try:
        async with session.get(url) as response:
            if response.status == 200:
                return ""
            return f"{response.status}: {(await response.text())[:200]}"
    except (aiohttp.ClientError, OSError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def _health_error(url: str) -> str:
    """The load error the runtime's ``/healthz`` reports (``errorType: errorMessage``)."""
    try:
        async with aiohttp.ClientSession() as session, session.get(f"{url}/healthz") as response:
            body = json.loads(await response.read())
    except (aiohttp.ClientError, OSError, ValueError):
        return ""
    if not isinstance(body, dict):
        return ""
    return f"{body.get('errorType', 'Error')}: {body.get('errorMessage', '')}".strip(": ")
