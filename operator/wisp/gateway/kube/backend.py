"""``KubernetesBackend``: the gateway's view of a cluster, from watches only (never polling).

Five watches per namespace scope (one cluster-wide scope when ``WISP_NAMESPACES`` is empty):
Functions, FunctionVersions (each an upstream of its own, as ``wisp.api.version`` renders it),
Triggers, the Deployments labelled ``wisp.dev/function``, whose ``spec.replicas`` the
``ReplicaCache`` keeps for ``get_replicas`` (the autoscaler's leader reads it every tick), and the
function pods (same label), which are a function's endpoints: a pod the kubelet calls Ready, with
an address and not terminating, is routed to (what the EndpointSlice controller would list), and
a pod that is starting is probed by the gateway itself and routed to at its first healthy answer,
before the kubelet says it is ready (``probe.py``); a pod started with boosted CPU is resized down
in place once Ready (``podview.py``). With a warm pool, its pods (``warmpool.py``). The pods are
read from the watch rather than from EndpointSlices so that a Function's Service needs no
selector: kube-controller-manager's two endpoint controllers match every selector of a
namespace's Services against each pod change, which with a Service per Function made every cold
start pay for every idle Function beside it (``docs/scale.md``). Each watch runs in a
``WatchThread`` and reaches the gateway's ``BackendEvents`` on the event loop. Writes: replicas
through the Deployment's ``scale`` subresource (Deployment name = Function name), and
``status.desiredReplicas``/``status.lastInvocation`` by merge patch of the Function's status
subresource (the operator owns the conditions and replica counts).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from kubernetes import client
from prometheus_client.registry import Collector

from wisp.api.function import Function, SpecError
from wisp.api.names import (
    FUNCTION_VERSIONS,
    FUNCTIONS,
    GROUP,
    POOL_LABEL,
    TRIGGERS,
    VERSION,
    function_key,
    split_key,
)
from wisp.api.trigger import Trigger, parse_trigger
from wisp.autoscaler.port import StatusUpdate
from wisp.gateway.backend import OUT_OF_MEMORY, BackendError, BackendEvents, Endpoint
from wisp.gateway.config import GatewayConfig
from wisp.gateway.kube.convert import function_info, version_info
from wisp.gateway.kube.pods import wait_for_oom_kill
from wisp.gateway.kube.podview import PodView, pod_view, resize_body
from wisp.gateway.kube.probe import PodProber
from wisp.gateway.kube.replicas import ReplicaCache
from wisp.gateway.kube.warmpool import PoolCollector, WarmPool
from wisp.gateway.kube.watch import Obj, WatchThread

T = TypeVar("T")
log = logging.getLogger("wisp.gateway.kube")

# How long a failed call waits for the kubelet to record why its pod's container ended.
FAILURE_EVIDENCE_SECONDS = 5.0


def _stub(key: str) -> Obj:
    name, namespace = split_key(key)
    return {"metadata": {"name": name, "namespace": namespace}}


def _uid_key(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    return function_key(str(meta.get("name")), meta.get("namespace") or "default")


class _Scope:
    """What one watch has delivered, so a re-list can tell what disappeared."""

    def __init__(self) -> None:
        self.known: set[str] = set()
        self.synced = False


class KubernetesBackend:
    def __init__(self, api_client: client.ApiClient, cfg: GatewayConfig) -> None:
        self.api_client = api_client
        self.config = cfg
        self.custom = client.CustomObjectsApi(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self._threads: list[WatchThread] = []
        self._scopes: list[_Scope] = []
        self._events: BackendEvents | None = None
        # function key -> pod uid -> its endpoint: the pods the kubelet calls Ready (``_pod_event``)
        self._ready: dict[str, dict[str, Endpoint]] = {}
        self._synced_sent = False
        self.replicas = ReplicaCache()
        self._pods: dict[str, PodView] = {}  # by uid, from the pod watch
        self.prober = PodProber(self._emit_endpoints) if cfg.probe_pods else None
        self._resized: dict[str, str] = {}  # pod uid -> the CPU limit asked for
        self._tasks: set[asyncio.Task[None]] = set()
        self.warm = (
            WarmPool(
                self.core,
                self.apps,
                cfg.pool_namespace,
                cfg.pool_key,
                self._emit_endpoints,
                self.replicas.get,
            )
            if cfg.pool_namespace and cfg.pool_key
            else None
        )
        self._versions: set[str] = set()  # keys of the upstreams that are FunctionVersions

    # -- watches -----------------------------------------------------------------------------------

    async def start(self, events: BackendEvents) -> None:
        self._events = events
        loop = asyncio.get_running_loop()
        namespaces: list[str | None] = list(self.config.namespaces) or [None]
        for namespace in namespaces:
            self._add(
                loop,
                f"functions/{namespace or '*'}",
                *self._custom_lister(FUNCTIONS, namespace),
                self._function_snapshot,
                self._function_event,
            )
            self._add(
                loop,
                f"functionversions/{namespace or '*'}",
                *self._custom_lister(FUNCTION_VERSIONS, namespace),
                self._version_snapshot,
                self._version_event,
            )
            self._add(
                loop,
                f"triggers/{namespace or '*'}",
                *self._custom_lister(TRIGGERS, namespace),
                self._trigger_snapshot,
                self._trigger_event,
            )
            selector = {"label_selector": self.config.endpoint_selector}
            if namespace is None:
                deploy_list: Callable[..., Any] = self.apps.list_deployment_for_all_namespaces
                deploy_kwargs: dict[str, Any] = selector
            else:
                deploy_list = self.apps.list_namespaced_deployment
                deploy_kwargs = {"namespace": namespace, **selector}
            self._add(
                loop,
                f"deployments/{namespace or '*'}",
                deploy_list,
                deploy_kwargs,
                self._deployment_snapshot,
                self._deployment_event,
            )
            if namespace is None:
                pod_list: Callable[..., Any] = self.core.list_pod_for_all_namespaces
                pod_kwargs: dict[str, Any] = selector
            else:
                pod_list = self.core.list_namespaced_pod
                pod_kwargs = {"namespace": namespace, **selector}
            self._add(
                loop,
                f"pods/{namespace or '*'}",
                pod_list,
                pod_kwargs,
                self._pod_snapshot,
                self._pod_event,
            )
        if self.warm is not None:
            warm = self.warm
            pool_scope: set[str] = set()
            self._add(
                loop,
                f"pool-pods/{warm.namespace}",
                self.core.list_namespaced_pod,
                {"namespace": warm.namespace, "label_selector": POOL_LABEL},
                lambda scope, items: warm.pod_snapshot(pool_scope, items),
                lambda scope, kind, obj: warm.pod_event(pool_scope, kind, obj),
                picture=False,
            )
            warm.start()
        for thread in self._threads:
            thread.start()

    def _deployment_snapshot(self, scope: _Scope, items: list[Obj]) -> None:
        self.replicas.snapshot(scope.known, items)
        if self.warm is not None:
            for obj in items:
                self.warm.deployment_event("ADDED", obj)

    def _deployment_event(self, scope: _Scope, kind: str, obj: Obj) -> None:
        self.replicas.event(scope.known, kind, obj)
        if self.warm is not None:
            self.warm.deployment_event(kind, obj)

    def _custom_lister(self, plural: str, namespace: str | None) -> tuple[Callable[..., Any], dict[str, Any]]:
        if namespace is None:
            kwargs = {"group": GROUP, "version": VERSION, "plural": plural}
            return self.custom.list_cluster_custom_object, kwargs
        return self.custom.list_namespaced_custom_object, {
            "group": GROUP,
            "version": VERSION,
            "namespace": namespace,
            "plural": plural,
        }

    def _add(
        self,
        loop: asyncio.AbstractEventLoop,
        name: str,
        list_fn: Callable[..., Any],
        kwargs: dict[str, Any],
        on_snapshot: Callable[[_Scope, list[Obj]], None],
        on_event: Callable[[_Scope, str, Obj], None],
        *,
        picture: bool = True,
    ) -> None:
        scope = _Scope()
        if picture:
            self._scopes.append(scope)
        self._threads.append(
            WatchThread(
                name,
                list_fn,
                kwargs,
                loop,
                lambda items: self._snapshot(scope, items, on_snapshot),
                lambda kind, obj: on_event(scope, kind, obj),
            )
        )

    def _snapshot(
        self, scope: _Scope, items: list[Obj], handler: Callable[[_Scope, list[Obj]], None]
    ) -> None:
        handler(scope, items)
        scope.synced = True
        if not self._synced_sent and all(s.synced for s in self._scopes) and self._events is not None:
            self._synced_sent = True
            self._events.synced()

    async def stop(self) -> None:
        for thread in self._threads:
            thread.stop()
        self._events = None
        self._threads.clear()
        if self.prober is not None:
            await self.prober.close()
        if self.warm is not None:
            await self.warm.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- Functions ---------------------------------------------------------------------------------

    def _function_snapshot(self, scope: _Scope, items: list[Obj]) -> None:
        self._listing(scope, items, self._function_event)

    def _function_event(self, scope: _Scope, kind: str, obj: Obj) -> None:
        if self._events is not None:
            events = self._events
            _catalog_event(scope, kind, obj, function_info, events.function_upserted, events.function_deleted)

    def _version_snapshot(self, scope: _Scope, items: list[Obj]) -> None:
        self._listing(scope, items, self._version_event)

    def _version_event(self, scope: _Scope, kind: str, obj: Obj) -> None:
        key = _uid_key(obj)
        if kind == "DELETED":
            self._versions.discard(key)
        else:
            self._versions.add(key)
        if self._events is not None:
            events = self._events
            _catalog_event(scope, kind, obj, version_info, events.function_upserted, events.function_deleted)

    # -- Triggers ----------------------------------------------------------------------------------

    def _trigger_snapshot(self, scope: _Scope, items: list[Obj]) -> None:
        self._listing(scope, items, self._trigger_event)

    def _trigger_event(self, scope: _Scope, kind: str, obj: Obj) -> None:
        if self._events is not None:
            events = self._events
            _catalog_event(scope, kind, obj, _parsed_trigger, events.trigger_upserted, events.trigger_deleted)

    @staticmethod
    def _listing(scope: _Scope, items: list[Obj], on_event: Callable[[_Scope, str, Obj], None]) -> None:
        """A full listing: every object as ADDED, and what is gone since as DELETED."""
        seen = set()
        for obj in items:
            seen.add(_uid_key(obj))
            on_event(scope, "ADDED", obj)
        for key in scope.known - seen:
            on_event(scope, "DELETED", _stub(key))

    # -- endpoints ---------------------------------------------------------------------------------

    def _emit_endpoints(self, function_key: str) -> None:
        if self._events is None:
            return
        union = {e.address: e for e in self._ready.get(function_key, {}).values()}
        if self.prober is not None:
            self.prober.settle(function_key, union)
            for endpoint in self.prober.ready_endpoints(function_key):
                union.setdefault(endpoint.address, endpoint)
        if self.warm is not None:
            for endpoint in self.warm.endpoints(function_key, own=bool(union)):
                union.setdefault(endpoint.address, endpoint)
        self._events.endpoints_changed(function_key, tuple(union[a] for a in sorted(union)))

    def _route(self, uid: str, pod: PodView | None) -> None:
        """Keep the pod's place among its function's endpoints as its latest event (None: deleted)
        says, and tell the gateway when that changed a function's endpoints."""
        previous = self._pods.pop(uid, None)
        if pod is not None:
            self._pods[uid] = pod
        was, now = _routed(previous), _routed(pod)
        if was == now:
            return
        if was is not None:
            routed = self._ready[was[0]]
            del routed[uid]
            if not routed:
                del self._ready[was[0]]
        if now is not None:
            self._ready.setdefault(now[0], {})[uid] = now[1]
        for key in sorted({r[0] for r in (was, now) if r is not None}):
            self._emit_endpoints(key)

    # -- pods --------------------------------------------------------------------------------------

    def _pod_snapshot(self, scope: _Scope, items: list[Obj]) -> None:
        seen = set()
        for obj in items:
            seen.add(str((obj.get("metadata") or {}).get("uid")))
            self._pod_event(scope, "ADDED", obj)
        for uid in scope.known - seen:
            self._pod_event(scope, "DELETED", {"metadata": {"uid": uid}})

    def _pod_event(self, scope: _Scope, kind: str, obj: Obj) -> None:
        uid = str((obj.get("metadata") or {}).get("uid") or "")
        if kind == "DELETED":
            scope.known.discard(uid)
            self._resized.pop(uid, None)
            if self.prober is not None:
                self.prober.forget(uid, deleted=True)
            self._route(uid, None)
            return
        pod = pod_view(obj)
        if pod is None or not pod.uid:
            return
        scope.known.add(pod.uid)
        if self.prober is not None and self._events is not None:
            self.prober.observe(pod)
        self._route(pod.uid, pod)
        target = pod.resize_to
        if target is not None and self._resized.get(pod.uid) != target:
            self._resized[pod.uid] = target
            task = asyncio.get_running_loop().create_task(self._resize(pod, target))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _resize(self, pod: PodView, cpu_limit: str) -> None:
        """Take a boosted pod's CPU limit down in place (``pods/resize``) now that it is Ready.
        Every gateway replica may ask; the write is idempotent, and each asks once per pod."""
        try:
            await asyncio.to_thread(
                self.core.patch_namespaced_pod_resize,
                pod.name,
                pod.namespace,
                resize_body(cpu_limit),
                _content_type="application/strategic-merge-patch+json",
            )
            log.info("%s: pod %s started; CPU limit resized to %s", pod.function_key, pod.name, cpu_limit)
        except client.ApiException as exc:
            log.warning(
                "%s: resizing pod %s's CPU to %s failed: %s %s %s",
                pod.function_key,
                pod.name,
                cpu_limit,
                exc.status,
                exc.reason,
                str(exc.body or "")[:500],
            )
            if exc.status in (409, 429) or (exc.status or 0) >= 500:
                self._resized.pop(pod.uid, None)  # worth asking again at the pod's next event

    # -- writes ------------------------------------------------------------------------------------

    async def scale(self, function_key: str, replicas: int) -> None:
        name, namespace = split_key(function_key)
        body = {"spec": {"replicas": replicas}}
        try:
            patch = self.apps.patch_namespaced_deployment_scale
            answer = await asyncio.to_thread(patch, name, namespace, body)
        except client.ApiException as exc:
            raise BackendError(f"scale {function_key} to {replicas}: {exc.status} {exc.reason}") from None
        meta = getattr(answer, "metadata", None)
        self.replicas.wrote(function_key, replicas, getattr(meta, "resource_version", None))

    def on_scaled_up(self, wake: Callable[[str], None]) -> None:
        """The autoscaler's ``ReplicaEvents``: every Deployment count above zero, from the watch."""
        self.replicas.on_scaled_up = wake

    async def get_replicas(self, function_key: str) -> int:
        """From the Deployment watch; a GET only for a Deployment the watch has not shown yet."""
        cached = self.replicas.get(function_key)
        if cached is not None:
            return cached
        name, namespace = split_key(function_key)
        try:
            scale = await asyncio.to_thread(self.apps.read_namespaced_deployment_scale, name, namespace)
        except client.ApiException as exc:
            raise BackendError(f"read scale of {function_key}: {exc.status} {exc.reason}") from None
        return int(scale.spec.replicas or 0)

    def metric_collectors(self) -> list[Collector]:
        return [PoolCollector(self.warm)] if self.warm is not None else []

    def pool_report(self) -> dict[str, dict[str, int]]:
        """The warm pool's pods and cold starts, for the console; {} without a pool."""
        return {} if self.warm is None else self.warm.report()

    async def warm_start(self, function: Function) -> None:
        """A pool pod for ``function`` at zero, when the gateway has a warm pool (``warmpool.py``)."""
        if self.warm is not None:
            await self.warm.warm_start(function)

    async def failure_cause(self, function_key: str, endpoint: Endpoint, since: float) -> str | None:
        """Whether the endpoint's pod was OOM-killed since ``since``: from its status (``pods.py``)."""
        _, namespace = split_key(function_key)
        killed = await asyncio.to_thread(
            wait_for_oom_kill, self.core, namespace, endpoint.name, since, FAILURE_EVIDENCE_SECONDS
        )
        return OUT_OF_MEMORY if killed else None

    async def publish_status(self, function_key: str, update: StatusUpdate) -> None:
        status: dict[str, Any] = {}
        if update.desired_replicas is not None:
            status["desiredReplicas"] = update.desired_replicas
        if update.last_invocation is not None:
            moment = datetime.datetime.fromtimestamp(update.last_invocation, datetime.UTC)
            status["lastInvocation"] = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        if not status:
            return
        name, namespace = split_key(function_key)
        try:
            await asyncio.to_thread(
                self.custom.patch_namespaced_custom_object_status,
                GROUP,
                VERSION,
                namespace,
                FUNCTION_VERSIONS if function_key in self._versions else FUNCTIONS,
                name,
                {"status": status},
                _content_type="application/merge-patch+json",
            )
        except client.ApiException as exc:
            raise BackendError(f"status of {function_key}: {exc.status} {exc.reason}") from None


def _routed(pod: PodView | None) -> tuple[str, Endpoint] | None:
    """The function and endpoint a pod is while it is routed to, else None."""
    endpoint = None if pod is None else pod.endpoint
    return None if endpoint is None or pod is None else (pod.function_key, endpoint)


def _parsed_trigger(obj: Obj) -> Trigger | None:
    try:
        return parse_trigger(obj)
    except SpecError:
        return None


def _catalog_event(
    scope: _Scope,
    kind: str,
    obj: Obj,
    parse: Callable[[Obj], T | None],
    upserted: Callable[[T], None],
    deleted: Callable[[str], None],
) -> None:
    """One Function or Trigger event: an object that no longer parses counts as deleted."""
    key = _uid_key(obj)
    value = None if kind == "DELETED" else parse(obj)
    if value is None:
        if kind == "DELETED" or key in scope.known:
            scope.known.discard(key)
            deleted(key)
        return
    scope.known.add(key)
    upserted(value)
