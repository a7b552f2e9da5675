"""The warm pool on Kubernetes: claiming a generic runtime pod for a function at zero, handing
it the function, routing to it until the function's own pods are ready, then retiring it.

Fed by the ``KubernetesBackend``: the pool pods' watch (``pod_event``, label ``wisp.dev/pool``
in the pool's namespace) and the function Deployments' watch (``deployment_event``). The
activator calls ``warm_start`` for the first held call of a burst, beside the Deployment's
scale-up. ``endpoints`` is asked by the backend whenever it tells the gateway a function's
endpoint set: a specialised pod is one of them while the function has none of its own. A sweep
deletes pods that served their purpose (``poolplan.retire_reason``). Every gateway replica
routes to every specialised pod (they learn them from the watch); deletions are idempotent.
The decisions are ``poolplan``'s; this module does the I/O. docs/warm-pool.md.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
from kubernetes import client
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from wisp.api import contract
from wisp.api.function import Function
from wisp.api.names import function_key
from wisp.gateway.backend import Endpoint
from wisp.gateway.kube.poolplan import (
    PoolPlan,
    PoolPod,
    PoolSkip,
    PoolState,
    TemplateFacts,
    choose_free,
    claim_patch,
    pool_plan,
    pool_pod,
    retire_reason,
    specialised_patch,
    template_facts,
)

log = logging.getLogger("wisp.gateway.pool")

SPECIALISE_PATH = "/_wisp/specialise"
SPECIALISE_TIMEOUT = 10.0  # Lambda's limit on a function's init phase
CLAIM_ATTEMPTS = 3
SWEEP_INTERVAL = 1.0
MERGE_PATCH = "application/merge-patch+json"

Obj = dict[str, Any]


class WarmPool:
    def __init__(
        self,
        core: client.CoreV1Api,
        namespace: str,
        token: str,
        on_change: Callable[[str], None],
        replicas: Callable[[str], int | None],
    ) -> None:
        self.core = core
        self.namespace = namespace
        self._token = token
        self._on_change = on_change
        self._replicas = replicas
        self.pods: dict[str, PoolPod] = {}  # by uid
        self.templates: dict[str, TemplateFacts] = {}  # by function key
        # uid -> (function name, claimed at): pods this gateway specialised, which it routes to
        # before its watch says so (and whatever an older event in flight says)
        self._mine: dict[str, tuple[str, float]] = {}
        self._own_since: dict[str, float] = {}  # function key -> since when it has its own pods
        self._deleting: set[str] = set()
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
        else:
            pod = pool_pod(obj)
            if pod is None:
                return
            scope.add(uid)
            self.pods[uid] = pod
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
        taken = self._taken_for(fn.key)
        if taken is not None:  # another gateway replica claimed one for the same burst
            log.info("%s: pool pod %s is %s for it already", fn.key, taken.name, taken.state.value)
            return
        plan = pool_plan(fn, self.templates.get(fn.key))
        if isinstance(plan, PoolSkip):
            self.results[pool, "skipped"] += 1
            log.info("%s: not started from the warm pool: %s", fn.key, plan.reason)
            return
        asked = time.monotonic()
        claimed = await self._claim(fn, plan)
        if claimed is None:
            self.results[pool, "miss"] += 1
            log.info("%s: no free pool pod of %s with %d MiB", fn.key, plan.image, plan.memory_mib)
            return
        pod, claimed_at = claimed
        pool = pod.pool
        started = time.monotonic()
        error = await self._specialise(pod, plan)
        if error is not None:
            self.results[pool, "failed"] += 1
            log.warning("%s: pool pod %s did not specialise (%s); discarding it", fn.key, pod.name, error)
            self._delete(pod, "it failed to specialise")
            return
        self._mine[pod.uid] = (fn.name, claimed_at)
        self.results[pool, "hit"] += 1
        self._on_change(fn.key)
        log.info(
            "%s: pool pod %s claimed in %.0f ms, specialised in %.0f ms; routing to it",
            fn.key,
            pod.name,
            (started - asked) * 1000,
            (time.monotonic() - started) * 1000,
        )
        try:
            await asyncio.to_thread(
                _unread,
                self.core.patch_namespaced_pod,
                pod.name,
                pod.namespace,
                specialised_patch(),
                _content_type=MERGE_PATCH,
            )
        except client.ApiException as exc:
            log.warning("%s: marking pool pod %s specialised failed: %s", fn.key, pod.name, exc.status)

    def _taken_for(self, key: str) -> PoolPod | None:
        for pod in map(self._view, self.pods.values()):
            if pod.function_key == key and not pod.gone and pod.uid not in self._deleting:
                return pod
        return None

    async def _claim(self, fn: Function, plan: PoolPlan) -> tuple[PoolPod, float] | None:
        tried: set[str] = set()
        for _ in range(CLAIM_ATTEMPTS):
            pod = choose_free(self.pods.values(), plan, frozenset(tried))
            if pod is None:
                return None
            tried.add(pod.uid)
            now = time.time()
            try:
                await asyncio.to_thread(
                    _unread,
                    self.core.patch_namespaced_pod,
                    pod.name,
                    pod.namespace,
                    claim_patch(pod, fn.name, now),
                    _content_type=MERGE_PATCH,
                )
            except client.ApiException as exc:
                if exc.status in (404, 409):  # another gateway took it, or it went away
                    continue
                log.warning(
                    "%s: claiming pool pod %s failed: %s %s", fn.key, pod.name, exc.status, exc.reason
                )
                return None
            return pod, now
        return None

    async def _specialise(self, pod: PoolPod, plan: PoolPlan) -> str | None:
        """None once the pod runs the function; else what went wrong."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=SPECIALISE_TIMEOUT))
        url = f"http://{pod.ip}:{contract.PORT}{SPECIALISE_PATH}"
        body = {"env": plan.env, "files": plan.files}
        try:
            async with self._session.post(
                url, json=body, headers={"Authorization": f"Bearer {self._token}"}
            ) as response:
                if response.status == 200:
                    return None
                return f"{response.status}: {(await response.text())[:300]}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"{type(exc).__name__}: {exc}"

    # -- retirement --------------------------------------------------------------------------------

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL)
            self.sweep(time.time())

    def sweep(self, now: float) -> None:
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

    def _delete(self, pod: PoolPod, reason: str) -> None:
        self._deleting.add(pod.uid)
        if pod.function:
            self._on_change(pod.function_key)
        task = asyncio.get_running_loop().create_task(self._delete_pod(pod, reason))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _delete_pod(self, pod: PoolPod, reason: str) -> None:
        try:
            await asyncio.to_thread(_unread, self.core.delete_namespaced_pod, pod.name, pod.namespace)
            log.info("pool pod %s (%s) retired: %s", pod.name, pod.function or "free", reason)
        except client.ApiException as exc:
            if exc.status != 404:
                log.warning("deleting pool pod %s failed: %s %s", pod.name, exc.status, exc.reason)
                self._deleting.discard(pod.uid)

    # -- metrics -----------------------------------------------------------------------------------

    def counts(self) -> dict[tuple[str, str], int]:
        """Pool pods by (pool, state), as this gateway's watch sees them."""
        out: collections.Counter[tuple[str, str]] = collections.Counter()
        for pod in self.pods.values():
            if not pod.gone:
                out[pod.pool, pod.state.value] += 1
        return dict(out)


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
