"""What the operator does for each event: reconcile, compute status, bind triggers.

Called by the kopf handlers with plain dicts; talks to the API only through a ``KubePort``.
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from kubernetes.client.rest import ApiException

from wisp.api.defaults import FUNCTION_DEFAULTS
from wisp.api.function import SpecError, parse_function
from wisp.api.names import FUNCTION_LABEL, FUNCTION_VERSIONS, FUNCTIONS, VERSION_LABEL, VERSION_OF_LABEL
from wisp.api.version import KIND as VERSION_KIND
from wisp.api.version import as_function
from wisp.controller.conditions import (
    ConditionType,
    condition_of,
)
from wisp.controller.kube import KubePort
from wisp.controller.memory import OomKill, count_kills, oom_kills
from wisp.controller.reconcile import ReconcileError, Reconciliation, SeenRecently, reconcile
from wisp.controller.refusals import Refusals, namespace_terminating
from wisp.controller.settings import OperatorSettings
from wisp.controller.status import Observed, PodTrouble, function_status, pod_trouble, status_changed
from wisp.resources.names import Names

log = logging.getLogger("wisp.operator")


@dataclass
class OperatorState:
    """What the operator remembers between events (rebuilt from watches after a restart)."""

    applied_generation: dict[str, int] = field(default_factory=dict)  # Deployment uid -> generation
    troubles: dict[tuple[str, str], dict[str, PodTrouble]] = field(default_factory=dict)
    refusals: Refusals = field(default_factory=Refusals)
    accounts: SeenRecently = field(default_factory=lambda: SeenRecently(ttl=60.0))
    # What the status last written (or found current) for each Function says, as one number: a
    # Deployment event that would write the same again is dropped without a read.
    published: dict[tuple[str, str], int] = field(default_factory=dict)
    # Functions reconciled since the resync last visited them: its next visit is skipped.
    reconciled: set[tuple[str, str]] = field(default_factory=set)
    reconciling: dict[tuple[str, str], threading.Lock] = field(default_factory=dict)
    # Functions whose namespace the API said is being deleted, (namespace, name) -> uid: they go
    # with it, so nothing of theirs is created, written or retried again.
    terminating: dict[tuple[str, str], str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def guard(self, namespace: str, name: str) -> threading.Lock:
        """One reconcile of a Function at a time: a Function's event and its Deployment's may
        arrive together, and two reconciles would both replace a Service they both read."""
        with self.lock:
            return self.reconciling.setdefault((namespace, name), threading.Lock())

    def trouble(self, namespace: str, name: str) -> PodTrouble | None:
        with self.lock:
            pods = self.troubles.get((namespace, name)) or {}
            return next(iter(sorted(pods.items())), (None, None))[1]

    def in_terminating_namespace(self, body: Mapping[str, Any]) -> bool:
        """Whether a refusal said ``body``'s namespace is being deleted (this very Function, by uid)."""
        meta = body.get("metadata") or {}
        with self.lock:
            uid = self.terminating.get((meta.get("namespace", ""), meta.get("name", "")))
        return uid is not None and uid == meta.get("uid")

    def forget(self, namespace: str, name: str) -> None:
        with self.lock:
            self.terminating.pop((namespace, name), None)
            self.troubles.pop((namespace, name), None)
            self.reconciling.pop((namespace, name), None)
            self.published.pop((namespace, name), None)
            self.reconciled.discard((namespace, name))
        self.refusals.succeeded((namespace, name))


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass
class FunctionSync:
    """Reconciles Functions and publishes their status; one per operator process."""

    api: KubePort
    settings: OperatorSettings
    state: OperatorState = field(default_factory=OperatorState)
    # The time status is stamped with and the runtime lifecycle's dates are checked against.
    clock: Callable[[], datetime.datetime] = _now

    def __post_init__(self) -> None:
        self.state.accounts.ttl = self.settings.resync_seconds  # re-read once a resync period

    def sync_function(self, body: dict[str, Any], *, refresh: bool = False) -> float | None:
        """Reconcile the children of one Function and publish its status.

        ``refresh``: read the Function from the API first, once this Function's turn has come.
        Callers holding a copy from the operator's cache (the resync, child events) pass it: the
        cache may lag a status another path just wrote (an OOM kill counted), and a status
        built on the older copy would take that back.

        Returns the seconds to wait before trying again when the API refused a child (the
        refusal is in status), None when there is nothing to retry.
        """
        meta = body.get("metadata") or {}
        with self.state.guard(meta.get("namespace", ""), meta.get("name", "")):
            return self._sync_function(self._fresh(body) if refresh else body)

    def resync_function(self, body: dict[str, Any]) -> bool:
        """The resync's visit: reconcile the Function from a fresh read, unless something else
        reconciled it since the last visit (during a bulk apply, every one of them: the resync
        then adds no calls to the API's busiest minutes). Whether it reconciled."""
        meta = body.get("metadata") or {}
        key = (meta.get("namespace", ""), meta.get("name", ""))
        with self.state.lock:
            if key in self.state.reconciled:
                self.state.reconciled.discard(key)
                return False
        self.sync_function(body, refresh=True)
        with self.state.lock:
            self.state.reconciled.discard(key)
        return True

    def _sync_function(self, body: dict[str, Any]) -> float | None:
        meta = body.get("metadata") or {}
        if meta.get("deletionTimestamp") or self.state.in_terminating_namespace(body):
            # Being deleted (or its namespace is): the garbage collector takes its children.
            # Creating one again (a Deployment event as the collector deletes it) would only keep
            # the deletion waiting, and in a namespace being deleted the API refuses it.
            return None
        name, namespace = meta.get("name", ""), meta.get("namespace", "")
        if _kind(body) == "Function":  # the resync visits Functions (versions heal with theirs)
            with self.state.lock:
                self.state.reconciled.add((namespace, name))
        generation = int(meta.get("generation") or 0)
        previous = body.get("status") or {}
        try:
            fn = parse_function(body)
        except SpecError as exc:
            self._publish(body, Observed(generation, None, spec_error=str(exc)), previous)
            return None
        observed: Observed
        retry_in: float | None = None
        done: list[str] = []  # what a successful reconcile did, for its Event
        r = Reconciliation(
            fn=fn,
            api=self.api,
            settings=self.settings,
            first="observedGeneration" not in previous,
            accounts=self.state.accounts,
        )
        try:
            reconcile(r)
        except SpecError as exc:  # code too large for a ConfigMap
            observed = Observed(generation, None, spec_error=str(exc))
        except ReconcileError as exc:
            self._remember_applied(r.deployment)  # a late phase (a missing Secret) may have applied it
            observed = Observed(
                generation,
                r.live("Deployment", Names.of(fn).deployment),
                deploy_error=(exc.reason, exc.message),
            )
        except ApiException as exc:  # the API refused a child: say why, in status; back off
            if namespace_terminating(exc):
                self._namespace_terminating(body)
                return None
            refusal = self.state.refusals.refused((namespace, name), exc)
            retry_in = refusal.delay
            self._remember_applied(r.deployment)
            observed = Observed(generation, r.deployment, deploy_error=(refusal.reason, refusal.message))
        else:
            self.state.refusals.succeeded((namespace, name))
            done = r.actions
            self._remember_applied(r.deployment)
            # A Deployment created just now has no pods yet: nothing to list.
            kills = () if "Deployment" in r.created else self._refresh_troubles(namespace, name)
            observed = Observed(
                generation,
                r.deployment,
                pod_trouble=self.state.trouble(namespace, name),
                code_hash=r.code_hash,
                oom_kills=kills,
            )
        told = self._publish(body, observed, previous, done=done)
        if done and not told:  # one Event per reconcile, naming all it did
            self.api.post_event(body, _kind(body), "Reconciled", "; ".join(done))
        return retry_in

    def _namespace_terminating(self, body: Mapping[str, Any]) -> None:
        """A child's create (or the apply of one deleted meanwhile) was refused because the
        namespace is being deleted: the Function goes with it. No status (it would only be
        deleted), no retry, and later events of this Function reconcile nothing
        (``in_terminating_namespace``)."""
        meta = body.get("metadata") or {}
        key = (meta.get("namespace", ""), meta.get("name", ""))
        with self.state.lock:
            self.state.terminating[key] = str(meta.get("uid", ""))
        log.debug("%s %s/%s: not reconciled, its namespace is being deleted", _kind(body), *key)

    def _remember_applied(self, deployment: Mapping[str, Any] | None) -> None:
        """The generation we wrote, so our own write echoed back by the watch is not drift."""
        if deployment is not None:
            meta = deployment.get("metadata") or {}
            self.state.applied_generation[meta.get("uid", "")] = int(meta.get("generation") or 0)

    def on_deployment(self, function: dict[str, Any], deployment: dict[str, Any], *, deleted: bool) -> None:
        """A Deployment changed: re-apply if its spec moved (drift, deletion), else refresh status."""
        meta = deployment.get("metadata") or {}
        fn_meta = function.get("metadata") or {}
        if self.state.refusals.pending((fn_meta.get("namespace", ""), fn_meta.get("name", ""))):
            return  # backing off: the retry (or the resync) reconciles, not every Deployment event
        if self.state.in_terminating_namespace(function):
            return
        # Under the guard: a Deployment this process is creating right now is known as its own
        # once that reconcile is done, and its first events then only refresh status.
        with self.state.guard(fn_meta.get("namespace", ""), fn_meta.get("name", "")):
            ours = self.state.applied_generation.get(meta.get("uid", ""))
            if deleted or ours is None or ours != int(meta.get("generation") or 0):
                if (current := self._current(function)) is not None:  # not when the Function is gone
                    self._sync_function(current)
                return
            # The cached Function: a status built on a copy older than the API's is refused
            # (resourceVersion) and built again on a fresh read, so no read is needed first.
            self._status_only(function, deployment, cached=True)

    def on_pod(self, function: dict[str, Any], pod: dict[str, Any], *, deleted: bool) -> None:
        """A pod changed: refresh status when it got stuck or recovered, or a container of it was
        killed for running out of memory."""
        if self.state.in_terminating_namespace(function):
            return  # its status would only be deleted with it
        meta = pod.get("metadata") or {}
        key = (meta.get("namespace", ""), (meta.get("labels") or {}).get(FUNCTION_LABEL, ""))
        trouble = None if deleted else pod_trouble(pod)
        with self.state.lock:
            pods = self.state.troubles.setdefault(key, {})
            before = pods.get(meta.get("name", ""))
            if trouble is None:
                pods.pop(meta.get("name", ""), None)
            else:
                pods[meta.get("name", "")] = trouble
        kills = () if deleted else tuple(oom_kills(pod))
        if before == trouble and not kills:
            return
        with self.state.guard(*key):  # status writes of one Function, one at a time
            fresh = self._fresh(function)
            if before != trouble or _new_kills(fresh, kills):
                deployment = self.api.read("Deployment", key[0], key[1])
                if deployment is not None:
                    self._status_only(fresh, deployment, kills)

    def _status_only(
        self,
        function: dict[str, Any],
        deployment: dict[str, Any],
        kills: tuple[OomKill, ...] = (),
        *,
        cached: bool = False,
    ) -> None:
        meta = function.get("metadata") or {}
        previous = function.get("status") or {}
        observed = Observed(
            int(meta.get("generation") or 0),
            deployment,
            pod_trouble=self.state.trouble(meta.get("namespace", ""), meta.get("name", "")),
            code_hash=previous.get("codeHash"),
            oom_kills=kills,
        )
        self._publish(function, observed, previous, cached=cached, keeps_reconcile_error=True)

    def _current(self, function: Mapping[str, Any]) -> dict[str, Any] | None:
        """The Function as the API has it now; None if it is gone."""
        meta = function.get("metadata") or {}
        if _kind(function) == VERSION_KIND:
            version = self.api.read(VERSION_KIND, meta.get("namespace", ""), meta.get("name", ""))
            return as_function(version) if version is not None else None
        return self.api.get_function(meta.get("namespace", ""), meta.get("name", ""))

    def _fresh(self, function: Mapping[str, Any]) -> dict[str, Any]:
        """The Function as the API has it now (the index may lag our own status writes)."""
        current = self._current(function)
        return current if current is not None else dict(function)

    def _refresh_troubles(self, namespace: str, name: str) -> tuple[OomKill, ...]:
        """Re-read the pods' troubles; the OOM kills their statuses show."""
        pods = self.api.list_pods(namespace, f"{FUNCTION_LABEL}={name}")
        found = {p["metadata"]["name"]: t for p in pods if (t := pod_trouble(p)) is not None}
        with self.state.lock:
            self.state.troubles[(namespace, name)] = found
        return tuple(kill for p in pods for kill in oom_kills(p))

    def _publish(
        self,
        body: Mapping[str, Any],
        observed: Observed,
        previous: Mapping[str, Any],
        *,
        cached: bool = False,
        keeps_reconcile_error: bool = False,
        done: Sequence[str] = (),
    ) -> bool:
        """Write the status ``observed`` gives, built on the status the Function has.

        ``done``: what the reconcile did. When the write makes the Function Deployed, its Event
        says it too (a new Function's first reconcile: one Event, not two); whether it did.

        ``keeps_reconcile_error``: a status refresh (no reconcile ran): what the last reconcile
        refused (a missing Secret, a refusal of the API) stands, read from the status each
        attempt is built on, so a stale copy never clears it.

        The write names the version of the Function it was built on: if the Function changed
        since (another status write, an edit), it is re-read and the status built again, so what
        an older copy said (an OOM kill not yet counted) never overwrites what a newer one says.
        ``cached``: ``body`` is the operator's cached copy, which may not show the status this
        process wrote a moment ago; a status that says what that one said is not written again.
        """
        for _ in range(_PUBLISH_ATTEMPTS):
            meta = body.get("metadata") or {}
            name, namespace = meta.get("name", ""), meta.get("namespace", "")
            runtime = str((body.get("spec") or {}).get("runtime") or "")
            observed = replace(observed, memory=_memory(body), runtime=runtime)
            if keeps_reconcile_error:
                observed = replace(observed, deploy_error=_reconcile_error(previous))
            url = _url(self.settings, body)
            status = function_status(name, namespace, observed, url, previous, self.clock())
            digest = status_digest(status)
            if cached and self.state.published.get((namespace, name)) == digest:
                return False
            if not status_changed(previous, status):
                self.state.published[(namespace, name)] = digest
                return False
            plural = FUNCTION_VERSIONS if _kind(body) == VERSION_KIND else FUNCTIONS
            if self.api.patch_status(plural, namespace, name, status, meta.get("resourceVersion")):
                self.state.published[(namespace, name)] = digest
                return self._announce(body, previous, status, done)
            body, cached = self._fresh(body), False
            previous = body.get("status") or {}
        log.warning(
            "%s %s/%s kept changing; its status is written on its next event", _kind(body), namespace, name
        )
        return False

    def _announce(
        self,
        body: Mapping[str, Any],
        previous: Mapping[str, Any],
        status: Mapping[str, Any],
        done: Sequence[str] = (),
    ) -> bool:
        """An Event when Ready or Deployed changes: once per transition, not per retry. Whether
        the Deployed one said ``done``.

        Ready often repeats Deployed's reason (it cannot be ready if not deployed): one Event then.
        """
        told = False
        posted: set[str] = set()
        for kind in (ConditionType.DEPLOYED, ConditionType.READY):
            before, after = condition_of(previous, kind), condition_of(status, kind)
            if after is None or str(after.get("reason")) in posted:
                continue
            if before is not None and (before.get("status"), before.get("reason")) == (
                after.get("status"),
                after.get("reason"),
            ):
                continue
            warning = after.get("status") == "False" and after.get("reason") not in _TRANSIENT
            if warning or kind is ConditionType.DEPLOYED:
                reason, message = str(after.get("reason")), str(after.get("message", ""))
                if kind is ConditionType.DEPLOYED and after.get("status") == "True" and done:
                    message, told = f"{message}: {'; '.join(done)}", True
                self.api.post_event(body, _kind(body), reason, message, warning=warning)
                posted.add(reason)
        before, after = (
            condition_of(previous, ConditionType.RUNTIME_DEPRECATED),
            condition_of(status, ConditionType.RUNTIME_DEPRECATED),
        )
        if after is not None and (before or {}).get("reason") != after.get("reason"):
            # Once per phase (scheduled, deprecated, updates blocked): where `kubectl get events`
            # and alerting on Warning Events see it, not only in the Function's conditions.
            self.api.post_event(
                body, _kind(body), "RuntimeDeprecated", str(after.get("message", "")), warning=True
            )
        killed = int((status.get("outOfMemory") or {}).get("kills", 0))
        if killed > int((previous.get("outOfMemory") or {}).get("kills", 0)):
            oom = condition_of(status, ConditionType.OUT_OF_MEMORY) or {}
            self.api.post_event(body, _kind(body), "OOMKilled", str(oom.get("message", "")), warning=True)
        return told


_TRANSIENT = ("Pending", "Starting", "Rolling")
_PUBLISH_ATTEMPTS = 5


def status_digest(status: Mapping[str, Any]) -> int:
    """What a status says, as one number: its fields, and its conditions without their
    transition times (as ``status_changed`` compares them). Not the code hash, which a status
    built on a cached copy carries over from that copy (and a merge patch leaves alone)."""
    conditions = sorted(
        json.dumps(
            [c.get("type"), c.get("status"), c.get("reason"), c.get("message"), c.get("observedGeneration")]
        )
        for c in status.get("conditions") or ()
    )
    fields = {key: value for key, value in status.items() if key not in ("conditions", "codeHash")}
    return hash(json.dumps([fields, conditions], sort_keys=True, default=str))


def _kind(body: Mapping[str, Any]) -> str:
    """Function, or FunctionVersion for a version rendered as a function (``as_function``)."""
    return VERSION_KIND if body.get("kind") == VERSION_KIND else "Function"


def _url(settings: OperatorSettings, body: Mapping[str, Any]) -> str:
    """Where callers reach it: the Function's URL, or ``.../function/NAME.NAMESPACE:N`` for a version."""
    meta = body.get("metadata") or {}
    labels = meta.get("labels") or {}
    namespace = str(meta.get("namespace", ""))
    if _kind(body) == VERSION_KIND and VERSION_OF_LABEL in labels:
        return f"{settings.function_url(labels[VERSION_OF_LABEL], namespace)}:{labels.get(VERSION_LABEL, '')}"
    return settings.function_url(str(meta.get("name", "")), namespace)


def _memory(function: Mapping[str, Any]) -> str:
    return str((function.get("spec") or {}).get("memory") or FUNCTION_DEFAULTS.memory)


def _new_kills(function: Mapping[str, Any], kills: tuple[OomKill, ...]) -> bool:
    """Whether ``kills`` holds one the Function's status has not counted yet."""
    if not kills:
        return False
    recorded = (function.get("status") or {}).get("outOfMemory")
    return count_kills(recorded, kills, _memory(function)) != recorded


def _reconcile_error(status: Mapping[str, Any]) -> tuple[str, str] | None:
    """The refusal the last reconcile wrote in ``status`` (Deployed False, not a passing state)."""
    deployed = condition_of(status, ConditionType.DEPLOYED)
    if deployed is None or deployed.get("status") != "False":
        return None
    if deployed.get("reason") in ("Pending", "ProgressDeadlineExceeded"):
        return None
    return str(deployed.get("reason")), str(deployed.get("message", ""))
