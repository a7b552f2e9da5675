"""The warm pool on Kubernetes: claiming a generic runtime pod for a function at zero, handing
it the function, routing to it until the function's own pods are ready, then retiring it.

Fed by the ``KubernetesBackend``: the pool pods' watch (``pod_event``, label ``wisp.dev/pool``
in the pool's namespace) and the function Deployments' watch (``deployment_event``). The
activator calls ``warm_start`` for the first held call of a burst, beside the Deployment's
scale-up. ``endpoints`` is asked by the backend whenever it tells the gateway a function's
endpoint set: a specialised pod is one of them while the function has none of its own. A sweep
deletes pods that served their purpose (``poolplan.retire_reason``), and every few seconds sets
each pool Deployment's size from the claims of the last minute (``poolplan.pool_size``). Every gateway replica
routes to every specialised pod (they learn them from the watch); deletions are idempotent.
The decisions are ``poolplan``'s; this module does the I/O. docs/warm-pool.md.

The cold call's path is the claim (an API write) and the specialisation (a POST to the pod),
sent at once rather than one after the other, the POST on a connection opened ahead: the sweep
keeps one idle keep-alive connection to each free pool pod (a ``GET /healthz`` now and then).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from typing import Any

import aiohttp
from kubernetes import client
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from wisp.api import contract
from wisp.api.function import Function
from wisp.api.names import POOL_LABEL, POOL_MAX_SIZE_ANNOTATION, POOL_MIN_SIZE_ANNOTATION, function_key
from wisp.gateway.backend import Endpoint
from wisp.gateway.kube.poolplan import (
    SIZE_WINDOW,
    PoolPlan,
    PoolPod,
    PoolSkip,
    PoolState,
    TemplateFacts,
    choose_free,
    claim_patch,
    pod_token,
    pool_plan,
    pool_pod,
    pool_size,
    retire_reason,
    specialised_patch,
    template_facts,
)

log = logging.getLogger("wisp.gateway.pool")

SPECIALISE_PATH = "/_wisp/specialise"
SPECIALISE_TIMEOUT = 10.0  # Lambda's limit on a function's init phase
CLAIM_ATTEMPTS = 3
SWEEP_INTERVAL = 1.0
# An idle connection to each free pool pod is kept open, renewed this often, and closed by the
# gateway after KEEP_ALIVE idle seconds: below the runtimes' own idle limit (the Python
# runtime's is 75 s), so the gateway never sends on a connection the pod is closing.
KEEP_OPEN_EVERY = 30.0
KEEP_ALIVE = 60.0
RESIZE_EVERY = 5.0
MERGE_PATCH = "application/merge-patch+json"

Obj = dict[str, Any]


class WarmPool:
    def __init__(
        self,
        core: client.CoreV1Api,
        apps: client.AppsV1Api,
        namespace: str,
        key: str,
        on_change: Callable[[str], None],
        replicas: Callable[[str], int | None],
    ) -> None:
        self.core = core
        self.apps = apps
        self.namespace = namespace
        self._key = key
        self._on_change = on_change
        self._replicas = replicas
        self.pods: dict[str, PoolPod] = {}  # by uid
        self.templates: dict[str, TemplateFacts] = {}  # by function key
        # uid -> (function name, claimed at): pods this gateway specialised, which it routes to
        # before its watch says so (and whatever an older event in flight says)
        self._mine: dict[str, tuple[str, float]] = {}
        self._own_since: dict[str, float] = {}  # function key -> since when it has its own pods
        self._deleting: set[str] = set()
        self._taking: set[str] = set()  # uids this gateway is claiming and specialising now
        self._opened: dict[str, float] = {}  # uid -> when its connection was last used (monotonic)
        # uid -> (pool, claimed at) of every claim the watch showed, for the last SIZE_WINDOW s
        self._claims: dict[str, tuple[str, float]] = {}
        self._resized_at = 0.0
        self._watching_since: float | None = None  # the pool pod watch's first list (wall clock)
        self.results: collections.Counter[tuple[str, str]] = collections.Counter()  # (pool, result)
        self._session: aiohttp.ClientSession | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever(), name="wisp-pool-sweep")

    async def stop(self) -> None:
        tasks = [*self._tasks, *([self._sweeper] if self._sweeper else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    # -- watches -----------------------------------------------------------------------------------

    def pod_snapshot(self, scope: set[str], items: list[Obj]) -> None:
        if self._watching_since is None:
            self._watching_since = time.time()
        seen = set()
        for obj in items:
            seen.add(str((obj.get("metadata") or {}).get("uid")))
            self.pod_event(scope, "ADDED", obj)
        for uid in scope - seen:
            self.pod_event(scope, "DELETED", {"metadata": {"uid": uid}})

    def pod_event(self, scope: set[str], kind: str, obj: Obj) -> None:
        uid = str((obj.get("metadata") or {}).get("uid") or "")
        before = self.pods.get(uid)
        if kind == "DELETED":
            scope.discard(uid)
            self.pods.pop(uid, None)
            self._mine.pop(uid, None)
            self._deleting.discard(uid)
            self._opened.pop(uid, None)
        else:
            pod = pool_pod(obj)
            if pod is None:
                return
            scope.add(uid)
            self.pods[uid] = pod
            if pod.claimed_at is not None:
                self._claims[uid] = (pod.pool, pod.claimed_at)
        after = self.pods.get(uid)
        for pod in (before, after):
            if pod is not None and self._view(pod).function:
                self._on_change(self._view(pod).function_key)

    def deployment_event(self, kind: str, obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        key = function_key(str(meta.get("name")), str(meta.get("namespace") or "default"))
        facts = None if kind == "DELETED" else template_facts(obj)
        if facts is None:
            self.templates.pop(key, None)
        else:
            self.templates[key] = facts

    # -- routing -----------------------------------------------------------------------------------

    def endpoints(self, key: str, *, own: bool) -> tuple[Endpoint, ...]:
        """The specialised pods of ``key`` to route to: none once it has endpoints of its own."""
        if own:
            self._own_since.setdefault(key, time.time())
            return ()
        self._own_since.pop(key, None)
        return tuple(
            Endpoint(pod.ip, contract.PORT, pod.name, pool=True)
            for pod in map(self._view, self.pods.values())
            if pod.state is PoolState.SPECIALISED
            and pod.function_key == key
            and pod.ip
            and not pod.gone
            and pod.uid not in self._deleting
        )

    def _view(self, pod: PoolPod) -> PoolPod:
        """The pod as the watch says, or as this gateway made it when it specialised it."""
        mine = self._mine.get(pod.uid)
        if mine is None:
            return pod
        return dataclasses.replace(pod, state=PoolState.SPECIALISED, function=mine[0], claimed_at=mine[1])

    # -- specialisation ----------------------------------------------------------------------------

    async def warm_start(self, fn: Function) -> None:
        """Give ``fn`` a pool pod if it may have one and one is free; never raises."""
        try:
            await self._warm_start(fn)
        except Exception:
            log.exception("%s: starting in a pool pod failed", fn.key)

    async def _warm_start(self, fn: Function) -> None:
        pool = fn.spec.runtime.language
        already = self._taken_for(fn.key)
        if already is not None:  # another gateway replica claimed one for the same burst
            log.info("%s: pool pod %s is %s for it already", fn.key, already.name, already.state.value)
            return
        plan = pool_plan(fn, self.templates.get(fn.key))
        if isinstance(plan, PoolSkip):
            self.results[pool, "skipped"] += 1
            log.info("%s: not started from the warm pool: %s", fn.key, plan.reason)
            return
        taken = await self._take(fn, plan)
        if taken is None:
            return
        pod, routed_ms, claim_ms, specialise_ms = taken
        self.results[pod.pool, "hit"] += 1
        log.info(
            "%s: pool pod %s routed to %.0f ms after the call came (specialisation %.0f ms; "
            "claim %.0f ms, sent at once)",
            fn.key,
            pod.name,
            routed_ms,
            specialise_ms,
            claim_ms,
        )
        error = await self._patch(pod, specialised_patch())
        if error is not None:
            log.warning("%s: marking pool pod %s specialised failed: %s", fn.key, pod.name, error)

    async def _take(self, fn: Function, plan: PoolPlan) -> tuple[PoolPod, float, float, float] | None:
        """A pool pod specialised for ``fn``, routed to and claimed: (pod, ms from the call to the
        routing, ms the claim took, ms the specialisation took), or None (counted as a miss or
        a failure). The claim and the specialisation are sent at once, so two gateways taking one
        pod for two functions may each win half: the claim for one, the specialisation for the
        other. The pod runs the function whose specialisation it took (it refuses any other from
        then on), so that function's gateway routes to it at once and claims it again for it
        (the other claim is the only change since); the gateway whose specialisation was refused
        leaves the pod alone and tries the next free one."""
        pool = fn.spec.runtime.language
        tried: set[str] = set()
        asked = time.monotonic()
        for _ in range(CLAIM_ATTEMPTS):
            # Not a pod this gateway is taking for another function at this moment.
            pod = choose_free(self.pods.values(), plan, fn.key, frozenset(tried | self._taking))
            if pod is None:
                break
            tried.add(pod.uid)
            self._taking.add(pod.uid)
            try:
                taken = await self._take_one(fn, plan, pod, asked)
            finally:
                self._taking.discard(pod.uid)
            if taken is None:
                continue
            if isinstance(taken, tuple):
                return taken
            if taken == "failed":
                return None
            log.warning("%s: claiming pool pod %s failed: %s", fn.key, pod.name, taken)
            break
        self.results[pool, "miss"] += 1
        log.info("%s: no free pool pod of %s with %d MiB", fn.key, plan.image, plan.memory_mib)
        return None

    async def _take_one(
        self, fn: Function, plan: PoolPlan, pod: PoolPod, asked: float
    ) -> tuple[PoolPod, float, float, float] | str | None:
        """``pod`` specialised for ``fn``, routed to and claimed (as ``_take`` returns it); None
        to try the next free pod; "failed" once the pod was ours and did not take the function
        (it is discarded); else what went wrong with the claim."""
        now = time.time()
        claiming = asyncio.ensure_future(_timed(self._claim(fn, pod, now)))
        error, specialise_ms = await _timed(self._specialise(pod, plan))
        if error is None:
            # It runs fn and refuses any other function from now on: the held calls go to it
            # while the claim (a write to the API server, the slower half) finishes.
            self._mine[pod.uid] = (fn.name, now)
            self._on_change(fn.key)
            routed_ms = (time.monotonic() - asked) * 1000
            claim_error, claim_ms = await claiming
            if claim_error == "taken":  # claimed for another function, whose pod this is not
                claim_error = await self._claim_again(fn, pod, now)
            if claim_error is None:
                return pod, routed_ms, claim_ms, specialise_ms
            self._mine.pop(pod.uid, None)
            self._on_change(fn.key)
            self._delete(pod, f"specialised for {fn.name} by this gateway, which could not claim it")
            return claim_error
        claim_error, claim_ms = await claiming
        if claim_error is None and error == "taken":
            log.info("%s: pool pod %s took another function first; its gateway claims it", fn.key, pod.name)
            return None
        if claim_error is None:  # ours, and it did not take the function
            self.results[pod.pool, "failed"] += 1
            log.warning("%s: pool pod %s did not specialise (%s); discarding it", fn.key, pod.name, error)
            self._delete(pod, "it failed to specialise")
            return "failed"
        return None if claim_error == "taken" else claim_error

    async def _claim_again(self, fn: Function, pod: PoolPod, now: float) -> str | None:
        """``_claim`` of ``pod`` as it is now: the pod took ``fn`` from this gateway, and the claim
        it sent lost to another gateway's. If that one claimed it for ``fn`` too (both took the
        function in one burst: the pod took the same specialisation twice) it is claimed as it
        should be; if for another function, whose specialisation the pod refused, it is
        claimed again for ``fn``."""
        for _ in range(CLAIM_ATTEMPTS):
            try:
                response = await asyncio.to_thread(
                    self.core.read_namespaced_pod, pod.name, pod.namespace, _preload_content=False
                )
                fresh = pool_pod(json.loads(response.data))
            except client.ApiException as exc:
                return f"{exc.status} {exc.reason}"
            if fresh is None or fresh.gone or fresh.state is PoolState.FREE:
                return "it is no longer claimed"
            if fresh.function_key == fn.key:
                return None
            if fresh.state is not PoolState.CLAIMED:
                return "it is no longer only claimed"
            error = await self._claim(fn, fresh, now)
            if error != "taken":
                return error
        return "taken"

    def _taken_for(self, key: str) -> PoolPod | None:
        for pod in map(self._view, self.pods.values()):
            if pod.function_key == key and not pod.gone and pod.uid not in self._deleting:
                return pod
        return None

    async def _claim(self, fn: Function, pod: PoolPod, now: float) -> str | None:
        """None once ``pod`` is claimed for ``fn``; "taken" if another gateway was first (409)
        or the pod went away (404); else what went wrong."""
        error = await self._patch(pod, claim_patch(pod, fn.name, now))
        return "taken" if error in ("404", "409") else error

    async def _patch(self, pod: PoolPod, patch: Obj) -> str | None:
        """A merge patch of ``pod``: None once written, else the API's status (and reason)."""
        try:
            await asyncio.to_thread(
                _unread,
                self.core.patch_namespaced_pod,
                pod.name,
                pod.namespace,
                patch,
                _content_type=MERGE_PATCH,
            )
        except client.ApiException as exc:
            return str(exc.status) if exc.status in (404, 409) else f"{exc.status} {exc.reason}"
        return None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(keepalive_timeout=KEEP_ALIVE),
                timeout=aiohttp.ClientTimeout(total=SPECIALISE_TIMEOUT),
            )
        return self._session

    async def _specialise(self, pod: PoolPod, plan: PoolPlan) -> str | None:
        """None once the pod runs the function; "taken" if it took another function first (409);
        else what went wrong."""
        url = f"http://{pod.ip}:{contract.PORT}{SPECIALISE_PATH}"
        body = {"env": plan.env, "files": plan.files}
        self._opened.pop(pod.uid, None)  # its connection is the specialisation's now
        try:
            async with self._http().post(
                url, json=body, headers={"Authorization": f"Bearer {pod_token(self._key, pod.uid)}"}
            ) as response:
                if response.status == 200:
                    return None
                if response.status == 409:  # it took another function first
                    return "taken"
                return f"{response.status}: {(await response.text())[:300]}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"{type(exc).__name__}: {exc}"

    # -- retirement --------------------------------------------------------------------------------

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            self.sweep(time.time())

    def sweep(self, now: float) -> None:
        self._keep_open(time.monotonic())
        if now - self._resized_at >= RESIZE_EVERY:
            self._resized_at = now
            self._spawn(self._resize(now))
        for pod in map(self._view, list(self.pods.values())):
            if pod.uid in self._deleting:
                continue
            key = pod.function_key
            reason = retire_reason(
                pod,
                now,
                function_known=key in self.templates,
                own_since=self._own_since.get(key),
                replicas=self._replicas(key) if key else None,
            )
            if reason is not None:
                self._delete(pod, reason)

    def _keep_open(self, now: float) -> None:
        """Opens (or keeps open) a connection to each free, ready pool pod, for its
        specialisation to go out on without a TCP handshake."""
        for pod in list(self.pods.values()):
            if pod.state is not PoolState.FREE or not pod.ready or pod.gone or not pod.ip:
                continue
            if now - self._opened.get(pod.uid, -KEEP_OPEN_EVERY) < KEEP_OPEN_EVERY:
                continue
            self._opened[pod.uid] = now
            self._spawn(self._open(pod))

    async def _open(self, pod: PoolPod) -> None:
        try:
            async with self._http().get(f"http://{pod.ip}:{contract.PORT}/healthz") as response:
                await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.debug("pool pod %s: no connection kept open: %s", pod.name, exc)

    async def _resize(self, now: float) -> None:
        """Each pool Deployment (label ``wisp.dev/pool``) sized for the claims of the last
        ``SIZE_WINDOW`` seconds, within the bounds its annotations give."""
        for uid, (_, claimed_at) in list(self._claims.items()):
            if claimed_at < now - SIZE_WINDOW:
                del self._claims[uid]
        try:
            found = await asyncio.to_thread(
                self.apps.list_namespaced_deployment, self.namespace, label_selector=POOL_LABEL
            )
        except client.ApiException as exc:
            log.warning("listing the pool Deployments failed: %s %s", exc.status, exc.reason)
            return
        for deployment in found.items:
            meta = deployment.metadata
            annotations = meta.annotations or {}
            try:
                least = int(annotations[POOL_MIN_SIZE_ANNOTATION])
                most = int(annotations[POOL_MAX_SIZE_ANNOTATION])
            except (KeyError, ValueError):
                continue  # a fixed size
            pool = (meta.labels or {}).get(POOL_LABEL, "")
            claims = [at for name, at in self._claims.values() if name == pool]
            size = pool_size(claims, now, least, most)
            if size == deployment.spec.replicas:
                continue
            # Only a gateway that has watched for the whole window knows every claim in it (a
            # claimed pod may be gone before a gateway starts): a newer one may grow the pool,
            # not shrink it, so that gateways started at different times do not undo each other.
            complete = self._watching_since is not None and now - self._watching_since >= SIZE_WINDOW
            if size < (deployment.spec.replicas or 0) and not complete:
                continue
            try:
                await asyncio.to_thread(
                    _unread,
                    self.apps.patch_namespaced_deployment_scale,
                    meta.name,
                    self.namespace,
                    {"spec": {"replicas": size}},
                )
            except client.ApiException as exc:
                log.warning("resizing pool %s failed: %s %s", meta.name, exc.status, exc.reason)
                continue
            log.info(
                "pool %s: %d free pods (was %s): %d claims in the last %g s",
                meta.name,
                size,
                deployment.spec.replicas,
                len(claims),
                SIZE_WINDOW,
            )

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("pool task %s failed", task.get_coro(), exc_info=exc)

    def _delete(self, pod: PoolPod, reason: str) -> None:
        self._deleting.add(pod.uid)
        if pod.function:
            self._on_change(pod.function_key)
        self._spawn(self._delete_pod(pod, reason))

    async def _delete_pod(self, pod: PoolPod, reason: str) -> None:
        try:
            await asyncio.to_thread(_unread, self.core.delete_namespaced_pod, pod.name, pod.namespace)
            log.info("pool pod %s (%s) retired: %s", pod.name, pod.function or "free", reason)
        except client.ApiException as exc:
            if exc.status != 404:
                log.warning("deleting pool pod %s failed: %s %s", pod.name, exc.status, exc.reason)
                self._deleting.discard(pod.uid)

    # -- metrics -----------------------------------------------------------------------------------

    def report(self) -> dict[str, dict[str, int]]:
        """Per pool: its pods by state and the cold starts that asked it by result (what the
        metrics say, for the console)."""
        out: dict[str, dict[str, int]] = {}
        for (pool, key), value in [*self.counts().items(), *self.results.items()]:
            out.setdefault(pool, {})[key] = value
        return out

    def counts(self) -> dict[tuple[str, str], int]:
        """Pool pods by (pool, state), as this gateway's watch sees them."""
        out: collections.Counter[tuple[str, str]] = collections.Counter()
        for pod in self.pods.values():
            if not pod.gone:
                out[pod.pool, pod.state.value] += 1
        return dict(out)


async def _timed(work: Awaitable[str | None]) -> tuple[str | None, float]:
    """``work``'s outcome and how long it took, in milliseconds."""
    started = time.monotonic()
    outcome = await work
    return outcome, (time.monotonic() - started) * 1000


def _unread(call: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """An API write whose answer is not needed: its JSON is read but not turned into models,
    which costs milliseconds of CPU per pod (the claim is on a cold call's path)."""
    response = call(*args, _preload_content=False, **kwargs)
    response.data  # noqa: B018 (read whole: the connection goes back to the pool)


class PoolCollector(Collector):
    """``wisp_pool_pods{pool,state}`` and ``wisp_pool_starts_total{pool,result}``, read when scraped."""

    def __init__(self, pool: WarmPool) -> None:
        self._pool = pool

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        pods = GaugeMetricFamily(
            "wisp_pool_pods",
            "Warm pool pods by state (free, claimed, specialised).",
            labels=("pool", "state"),
        )
        for (pool, state), value in sorted(self._pool.counts().items()):
            pods.add_metric((pool, state), value)
        yield pods
        starts = CounterMetricFamily(
            "wisp_pool_starts",
            "Cold starts that asked the warm pool: hit (specialised a pod), miss (none free), "
            "skipped (the function may not use the pool), failed (the pod did not specialise).",
            labels=("pool", "result"),
        )
        for (pool, result), value in sorted(self._pool.results.items()):
            starts.add_metric((pool, result), value)
        yield starts

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())
