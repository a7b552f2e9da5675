"""kopf handlers: they turn watch events into calls of ``sync`` functions and nothing else.

Functions are reconciled on create/update/resume; their Deployments' and pods' events refresh
status (and re-apply when someone changed the Deployment's spec). Those three handlers queue
the work (``wisp.controller.workqueue``) and return: kopf's worker for the object is done at
once, and a refused reconcile is retried by the queue, not by kopf. No timer per Function: one
resync task walks the Function index for healing (``wisp.controller.resync``).
Triggers are bound on their own events and whenever their Function changes; an HTTP Trigger's
events also re-bind the other Triggers on its route (one may now hold it).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime
import functools
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import kopf

from wisp.api import names
from wisp.api.names import FUNCTION_LABEL, GROUP, VERSION
from wisp.api.version import as_function, version_name, version_ref
from wisp.controller import binding, heap, resync, workqueue
from wisp.controller.releases import Releases
from wisp.controller.sync import FunctionSync

FUNCTIONS = (GROUP, VERSION, names.FUNCTIONS)
TRIGGERS = (GROUP, VERSION, names.TRIGGERS)
FUNCTION_VERSIONS = (GROUP, VERSION, names.FUNCTION_VERSIONS)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING  # our own Events say what was done
    settings.execution.max_workers = memo.settings.reconcile_workers
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    # A replica that stops renewing its peering record hands over after this long.
    settings.peering.lifetime = int(os.environ.get("WISP_PEERING_LIFETIME", "30"))
    settings.peering.mandatory = memo.settings.peering is not None
    memo.sync = FunctionSync(memo.api, memo.settings)
    memo.releases = Releases(memo.api, memo.sync, memo.settings.version_retention)


def cached(body: Mapping[str, Any]) -> dict[str, Any]:
    """The part of an object the operator's indexes keep: what reconciling reads. managedFields
    and annotations (kopf's own copy of the spec among them) are most of a Function's size and
    never read from the cache, so a thousand idle Functions cost a thousand small dicts."""
    kept = workqueue.slim(body)
    kept["metadata"].pop("annotations", None)
    return kept


@kopf.index(*FUNCTIONS)
def function_bodies(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[tuple[str, str], dict[str, Any]]:
    return {(namespace or "", name): cached(body)}


@kopf.index(*TRIGGERS)
def triggers_by_function(
    namespace: str | None, name: str, spec: kopf.Spec, **_: Any
) -> dict[tuple[str, str], str]:
    return {(namespace or "", str(spec.get("function"))): name}


def _has_qualifier(spec: kopf.Spec, **_: Any) -> bool:
    return bool(spec.get("qualifier"))


@kopf.index(*TRIGGERS, when=_has_qualifier)
def trigger_qualifiers(
    namespace: str | None, name: str, spec: kopf.Spec, **_: Any
) -> dict[tuple[str, str], str]:
    """The versions or aliases Triggers call, by Function: what keeps a version referenced."""
    return {(namespace or "", str(spec.get("function"))): str(spec.get("qualifier"))}


@kopf.index(*FUNCTION_VERSIONS)
def version_bodies(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[tuple[str, str], dict[str, Any]]:
    """Versions by their own name, which their children's ``wisp.dev/function`` label carries."""
    return {(namespace or "", name): cached(body)}


def _is_http(spec: kopf.Spec, **_: Any) -> bool:
    return _route_key(spec) is not None


# ``when``: a Trigger that stops being an HTTP one leaves the index (a None result would not).
@kopf.index(*TRIGGERS, when=_is_http)
def http_routes(body: kopf.Body, spec: kopf.Spec, **_: Any) -> dict[tuple[str, str], dict[str, Any]]:
    """HTTP Triggers by route (host, path), across namespaces: the gateway routes them all."""
    key = _route_key(spec)
    assert key is not None
    return {key: copy.deepcopy(dict(body))}


def _route_key(spec: Mapping[str, Any] | None) -> tuple[str, str] | None:
    http = (spec or {}).get("http")
    if not isinstance(http, Mapping):
        return None
    return (str(http.get("host") or "").lower(), str(http.get("path")))


def _holder_of(kwargs: Mapping[str, Any]) -> binding.HolderOf:
    routes: kopf.Index[tuple[str, str], dict[str, Any]] = kwargs["http_routes"]

    def holder_of(trigger: Mapping[str, Any]) -> Any:
        key = _route_key(trigger.get("spec"))
        return None if key is None else binding.route_holder(trigger, routes.get(key, ()))

    return holder_of


def _published_of(kwargs: Mapping[str, Any]) -> binding.PublishedOf:
    """A Function's published versions, as the operator's index of FunctionVersions has them."""
    versions: kopf.Index[tuple[str, str], dict[str, Any]] = kwargs["version_bodies"]
    return lambda namespace, function: PublishedVersions(versions, namespace, function)


@dataclass(frozen=True)
class PublishedVersions:
    """``number in`` this: whether the FunctionVersion ``FUNCTION-vNUMBER`` exists."""

    index: kopf.Index[tuple[str, str], dict[str, Any]]
    namespace: str
    function: str

    def __contains__(self, number: object) -> bool:
        if not isinstance(number, int):
            return False
        return bool(self.index.get((self.namespace, version_name(self.function, number)), ()))


@kopf.on.resume(*FUNCTIONS)
@kopf.on.create(*FUNCTIONS)
@kopf.on.update(*FUNCTIONS)
async def function_changed(body: kopf.Body, memo: Any, **_: Any) -> None:
    """Queued (``wisp.controller.workqueue``): kopf's worker for the Function is done at once."""
    function = workqueue.slim(body)
    memo.queue.add(_key("Function", body), functools.partial(_reconcile_function, memo, function))


def _reconcile_function(memo: Any, function: dict[str, Any]) -> float | None:
    """The queued reconcile of ``function`` (the latest copy its events brought), its Triggers
    and versions; the seconds to retry after when the API refused a child (status says why)."""
    meta = function["metadata"]
    key = (meta.get("namespace") or "", meta.get("name") or "")
    now = next(iter(memo.indexes["function_bodies"].get(key, ())), None)
    now_meta = (now or {}).get("metadata") or {}
    if now is None or now_meta.get("uid") != meta.get("uid") or now_meta.get("deletionTimestamp"):
        return None  # gone, replaced or being deleted since its event: nothing to reconcile
    retry_in: float | None = memo.sync.sync_function(function)
    if memo.sync.state.in_terminating_namespace(function):
        return None  # going with its namespace: no Triggers to bind, no versions to publish
    names = _trigger_names(memo.indexes["triggers_by_function"], key)
    binding.bind_triggers_of(
        memo.api,
        function,
        names,
        holder_of=_holder_of(memo.indexes),
        published=_published_of(memo.indexes),
    )
    _reconcile_versions(memo, memo.indexes, function)
    return retry_in


def _key(kind: str, body: kopf.Body) -> tuple[str, str, str]:
    return (kind, body.metadata.namespace or "", body.metadata.name or "")


INDEXES = ("function_bodies", "triggers_by_function", "trigger_qualifiers", "version_bodies", "http_routes")


@kopf.on.startup()
async def start_queue(memo: Any, **kwargs: Any) -> None:
    """The work queue of Functions' and their children's events (stopped in ``stop_resync``)."""
    memo.indexes = {name: kwargs[name] for name in INDEXES}
    memo.queue = workqueue.WorkQueue(memo.settings.reconcile_workers)
    memo.queue.start()


@kopf.on.startup()
async def start_resync(memo: Any, settings: kopf.OperatorSettings, **kwargs: Any) -> None:
    """The one periodic resync (started here, cancelled and awaited in ``stop_resync``)."""
    function_bodies: kopf.Index[Any, dict[str, Any]] = kwargs["function_bodies"]

    def functions() -> list[dict[str, Any]]:
        return [body for key in list(function_bodies) for body in function_bodies.get(key, ())]

    async def reconcile_one(body: dict[str, Any]) -> None:
        await asyncio.to_thread(memo.sync.resync_function, copy.deepcopy(body))
        if not memo.sync.state.in_terminating_namespace(body):
            await asyncio.to_thread(_reconcile_versions, memo, kwargs, copy.deepcopy(body))

    async def active() -> bool:
        if settings.peering.standalone or memo.settings.peering is None:
            return True
        namespace = None if settings.peering.clusterwide else _peering_namespace(memo.settings.namespaces)
        if not settings.peering.clusterwide and namespace is None:
            return False  # a peering per namespace (or a pattern): the event handlers alone heal
        peering = await asyncio.to_thread(memo.api.get_peering, settings.peering.name, namespace)
        now = datetime.datetime.now(datetime.UTC)
        return peering is not None and resync.peering_allows(
            peering.get("status"), settings.peering.priority, now
        )

    memo.resync = asyncio.create_task(
        resync.resync_forever(
            functions, reconcile_one, memo.settings.resync_seconds, active, rate=memo.settings.resync_rate
        ),
        name="wisp-resync",
    )


@kopf.on.startup()
async def start_trim(memo: Any, **_: Any) -> None:
    """Freed memory back to the system once a period (``wisp.controller.heap``)."""
    trim = heap.trimmer()
    if trim is not None:
        memo.trim = asyncio.create_task(heap.trim_forever(trim), name="wisp-malloc-trim")


@kopf.on.cleanup()
async def stop_resync(memo: Any, **_: Any) -> None:
    queue: workqueue.WorkQueue | None = getattr(memo, "queue", None)
    if queue is not None:
        await queue.stop()
    for name in ("resync", "trim"):
        task: asyncio.Task[None] | None = getattr(memo, name, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _peering_namespace(namespaces: tuple[str, ...]) -> str | None:
    plain = [n for n in namespaces if not any(c in n for c in "*?[!")]
    return plain[0] if len(plain) == 1 == len(namespaces) else None


# Not optional: kopf's finalizer makes sure the deletion is seen (it once came with the timer).
@kopf.on.delete(*FUNCTIONS)
def function_deleted(body: kopf.Body, memo: Any, **kwargs: Any) -> None:
    key = (body.metadata.namespace or "", body.metadata.name or "")
    memo.sync.state.forget(*key)
    names = _trigger_names(kwargs["triggers_by_function"], key)
    binding.bind_triggers_of(
        memo.api,
        None,
        names,
        deleted=dict(body),
        holder_of=_holder_of(kwargs),
        published=_published_of(kwargs),
    )


def _reconcile_versions(memo: Any, kwargs: Mapping[str, Any], function: Mapping[str, Any]) -> None:
    """Publish, mark, render and expire the Function's versions (``wisp.controller.releases``)."""
    meta = function.get("metadata") or {}
    index: kopf.Index[tuple[str, str], str] = kwargs["trigger_qualifiers"]
    qualifiers = list(index.get((meta.get("namespace") or "", meta.get("name") or ""), ()))
    memo.releases.reconcile(function, qualifiers, datetime.datetime.now(datetime.UTC))


@kopf.on.resume(*FUNCTION_VERSIONS)
@kopf.on.create(*FUNCTION_VERSIONS)
def version_changed(body: kopf.Body, memo: Any, **_: Any) -> None:
    retry_in = memo.releases.render(copy.deepcopy(dict(body)))
    if retry_in is not None:
        raise kopf.TemporaryError("the API refused a child (see status)", delay=retry_in)


# The index has the version by the time this runs (kopf indexes an event before its handlers).
@kopf.on.event(*FUNCTION_VERSIONS)
def version_event(event: kopf.RawEvent, body: kopf.Body, memo: Any, **kwargs: Any) -> None:
    """A version was published or deleted: Triggers naming its number are bound again (Bound
    once it exists, ``QualifierNotFound`` once it is gone)."""
    ref = version_ref(body)
    if ref is None or event.get("type") not in ("ADDED", "DELETED"):
        return
    qualifiers: kopf.Index[tuple[str, str], str] = kwargs["trigger_qualifiers"]
    if ref.label not in list(qualifiers.get((ref.namespace, ref.function), ())):
        return
    function = next(iter(kwargs["function_bodies"].get((ref.namespace, ref.function), ())), None)
    names = _trigger_names(kwargs["triggers_by_function"], (ref.namespace, ref.function))
    binding.bind_triggers_of(
        memo.api,
        function,
        names,
        deleted={"metadata": {"namespace": ref.namespace}},
        holder_of=_holder_of(kwargs),
        published=_published_of(kwargs),
    )


@kopf.on.event("apps", "v1", "deployments", labels={FUNCTION_LABEL: kopf.PRESENT})
async def deployment_event(event: kopf.RawEvent, body: kopf.Body, memo: Any, **_: Any) -> None:
    _queue_child("Deployment", event, body, memo, memo.sync.on_deployment)


@kopf.on.event("", "v1", "pods", labels={FUNCTION_LABEL: kopf.PRESENT})
async def pod_event(event: kopf.RawEvent, body: kopf.Body, memo: Any, **_: Any) -> None:
    _queue_child("Pod", event, body, memo, memo.sync.on_pod)


def _queue_child(
    kind: str, event: kopf.RawEvent, body: kopf.Body, memo: Any, on_child: Callable[..., None]
) -> None:
    """Queue ``on_child`` (``FunctionSync.on_deployment`` or ``on_pod``) for a child's event."""
    child, deleted = workqueue.slim(body), event.get("type") == "DELETED"
    memo.queue.add(_key(kind, body), functools.partial(_child_job, memo, on_child, child, deleted))


def _child_job(memo: Any, on_child: Callable[..., None], child: dict[str, Any], deleted: bool) -> None:
    function = _owner(memo.indexes, child)
    if function is not None:
        on_child(function, child, deleted=deleted)


@kopf.on.resume(*TRIGGERS)
@kopf.on.create(*TRIGGERS)
@kopf.on.update(*TRIGGERS)
def trigger_changed(body: kopf.Body, memo: Any, old: Any = None, **kwargs: Any) -> None:
    trigger = copy.deepcopy(dict(body))
    holder_of = _holder_of(kwargs)
    function = _function_of(kwargs, trigger)
    binding.bind_trigger(memo.api, trigger, function, holder_of(trigger), published=_published_of(kwargs))
    routes = {_route_key(body.spec), _route_key((old or {}).get("spec"))}
    _rebind_route_peers(memo, kwargs, routes, skip=trigger)
    if function is not None and (body.spec.get("qualifier") or (old or {}).get("spec", {}).get("qualifier")):
        _reconcile_versions(memo, kwargs, function)


# A watch event, not ``on.delete``: Triggers carry no finalizer, so a deletion is only seen here.
@kopf.on.event(*TRIGGERS)
def trigger_event(event: kopf.RawEvent, body: kopf.Body, memo: Any, **kwargs: Any) -> None:
    if event.get("type") == "DELETED":
        _rebind_route_peers(memo, kwargs, {_route_key(body.spec)}, skip=dict(body), gone=True)
        function = _function_of(kwargs, dict(body))
        if function is not None and body.spec.get("qualifier"):
            _reconcile_versions(memo, kwargs, function)


def _rebind_route_peers(
    memo: Any,
    kwargs: Mapping[str, Any],
    routes: Iterable[tuple[str, str] | None],
    *,
    skip: Mapping[str, Any],
    gone: bool = False,
) -> None:
    """Re-bind the other Triggers on ``routes``: the changed (or deleted) one may have taken
    or released a route they claim."""
    me = _identity(skip)
    index: kopf.Index[tuple[str, str], dict[str, Any]] = kwargs["http_routes"]
    for route in routes:
        if route is None:
            continue
        peers = [b for b in index.get(route, ()) if _identity(b) != me]
        for peer in peers:
            meta = peer.get("metadata") or {}
            fresh = memo.api.get_trigger(meta.get("namespace", ""), meta.get("name", ""))
            if fresh is None:
                continue
            claimants = peers if gone else [*peers, skip]
            holder = binding.route_holder(fresh, claimants)
            function = _function_of(kwargs, fresh)
            binding.bind_trigger(memo.api, fresh, function, holder, published=_published_of(kwargs))


def _identity(body: Mapping[str, Any]) -> tuple[str, str]:
    meta = body.get("metadata") or {}
    return (str(meta.get("namespace") or ""), str(meta.get("name") or ""))


def _function_of(kwargs: Mapping[str, Any], trigger: Mapping[str, Any]) -> dict[str, Any] | None:
    key = (_identity(trigger)[0], str((trigger.get("spec") or {}).get("function")))
    functions = list(kwargs["function_bodies"].get(key, ()))
    return functions[0] if functions else None


def _owner(indexes: Mapping[str, Any], child: Mapping[str, Any]) -> dict[str, Any] | None:
    """The Function (or the version, rendered as one) whose child ``child`` is."""
    meta = child.get("metadata") or {}
    key = (meta.get("namespace") or "", (meta.get("labels") or {}).get(FUNCTION_LABEL))
    functions = list(indexes["function_bodies"].get(key, ()))
    if functions:
        return functions[0]  # type: ignore[no-any-return]
    versions = list(indexes["version_bodies"].get(key, ()))
    return as_function(versions[0]) if versions else None


def _trigger_names(index: kopf.Index[Any, str], function: tuple[str, str]) -> list[str]:
    """The Triggers naming ``function`` (namespace, name)."""
    return sorted(set(index.get(function, ())))
