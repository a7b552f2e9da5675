"""What the operator does for each event: reconcile, compute status, bind triggers.

Called by the kopf handlers with plain dicts; talks to the API only through ``KubeApi``.
"""

from __future__ import annotations

import datetime
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.rest import ApiException

from wisp.api.function import SpecError, parse_function
from wisp.api.trigger import parse_trigger
from wisp.controller.conditions import (
    Condition,
    ConditionType,
    condition_of,
    merge_conditions,
    same_conditions,
)
from wisp.controller.kube import KubeApi
from wisp.controller.reconcile import ReconcileError, reconcile
from wisp.controller.settings import OperatorSettings
from wisp.controller.status import Observed, PodTrouble, function_status, pod_trouble, status_changed
from wisp.resources.names import FUNCTION_LABEL

log = logging.getLogger("wisp.operator")


@dataclass
class OperatorState:
    """What the operator remembers between events (rebuilt from watches after a restart)."""

    applied_generation: dict[str, int] = field(default_factory=dict)  # Deployment uid -> generation
    troubles: dict[tuple[str, str], dict[str, PodTrouble]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def trouble(self, namespace: str, name: str) -> PodTrouble | None:
        with self.lock:
            pods = self.troubles.get((namespace, name)) or {}
            return next(iter(sorted(pods.items())), (None, None))[1]

    def forget(self, namespace: str, name: str) -> None:
        with self.lock:
            self.troubles.pop((namespace, name), None)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def sync_function(
    api: KubeApi, settings: OperatorSettings, state: OperatorState, body: dict[str, Any]
) -> None:
    """Reconcile the children of one Function and publish its status."""
    meta = body.get("metadata") or {}
    name, namespace = meta.get("name", ""), meta.get("namespace", "")
    generation = int(meta.get("generation") or 0)
    previous = body.get("status") or {}
    try:
        fn = parse_function(body)
    except SpecError as exc:
        _publish(api, settings, body, Observed(generation, None, spec_error=str(exc)), previous)
        return
    fn = type(fn)(
        name=fn.name,
        namespace=fn.namespace,
        spec=fn.spec,
        generation=fn.generation,
        uid=str(meta.get("uid", "")),
    )
    observed: Observed
    try:
        r = reconcile(fn, api, settings)
    except SpecError as exc:  # code too large for a ConfigMap
        observed = Observed(generation, None, spec_error=str(exc))
    except ReconcileError as exc:
        observed = Observed(
            generation, api.read("Deployment", namespace, name), deploy_error=(exc.reason, exc.message)
        )
    except ApiException as exc:
        if exc.status == 422:  # the API refused a child: say why, in status
            observed = Observed(generation, None, deploy_error=("Invalid", _api_message(exc)))
        else:
            raise
    else:
        for action in r.actions:
            api.post_event(body, "Function", "Reconciled", action)
        if r.deployment is not None:
            uid = (r.deployment.get("metadata") or {}).get("uid", "")
            state.applied_generation[uid] = int((r.deployment.get("metadata") or {}).get("generation") or 0)
        _refresh_troubles(api, state, namespace, name)
        observed = Observed(
            generation, r.deployment, pod_trouble=state.trouble(namespace, name), code_hash=r.code_hash
        )
    _publish(api, settings, body, observed, previous)


def on_deployment(
    api: KubeApi,
    settings: OperatorSettings,
    state: OperatorState,
    function: dict[str, Any],
    deployment: dict[str, Any],
    *,
    deleted: bool,
) -> None:
    """A Deployment changed: re-apply if its spec moved (drift, deletion), else refresh status."""
    meta = deployment.get("metadata") or {}
    ours = state.applied_generation.get(meta.get("uid", ""))
    if deleted or ours is None or ours != int(meta.get("generation") or 0):
        sync_function(api, settings, state, _fresh(api, function))
        return
    _status_only(api, settings, state, function, deployment)


def on_pod(
    api: KubeApi,
    settings: OperatorSettings,
    state: OperatorState,
    function: dict[str, Any],
    pod: dict[str, Any],
    *,
    deleted: bool,
) -> None:
    meta = pod.get("metadata") or {}
    key = (meta.get("namespace", ""), (meta.get("labels") or {}).get(FUNCTION_LABEL, ""))
    trouble = None if deleted else pod_trouble(pod)
    with state.lock:
        pods = state.troubles.setdefault(key, {})
        before = pods.get(meta.get("name", ""))
        if trouble is None:
            pods.pop(meta.get("name", ""), None)
        else:
            pods[meta.get("name", "")] = trouble
    if before != trouble:
        fresh = _fresh(api, function)
        deployment = api.read("Deployment", key[0], key[1])
        if deployment is not None:
            _status_only(api, settings, state, fresh, deployment)


def _status_only(
    api: KubeApi,
    settings: OperatorSettings,
    state: OperatorState,
    function: dict[str, Any],
    deployment: dict[str, Any],
) -> None:
    meta = function.get("metadata") or {}
    previous = function.get("status") or {}
    deployed = condition_of(previous, ConditionType.DEPLOYED)
    deploy_error = None
    if (
        deployed is not None
        and deployed.get("status") == "False"
        and deployed.get("reason") not in ("Pending", "ProgressDeadlineExceeded")
    ):
        deploy_error = (str(deployed.get("reason")), str(deployed.get("message", "")))
    observed = Observed(
        int(meta.get("generation") or 0),
        deployment,
        deploy_error=deploy_error,
        pod_trouble=state.trouble(meta.get("namespace", ""), meta.get("name", "")),
        code_hash=previous.get("codeHash"),
    )
    _publish(api, settings, function, observed, previous)


def _fresh(api: KubeApi, function: Mapping[str, Any]) -> dict[str, Any]:
    """The Function as the API has it now (the index may lag our own status writes)."""
    meta = function.get("metadata") or {}
    current = api.get_function(meta.get("namespace", ""), meta.get("name", ""))
    return current if current is not None else dict(function)


def _refresh_troubles(api: KubeApi, state: OperatorState, namespace: str, name: str) -> None:
    pods = api.list_pods(namespace, f"{FUNCTION_LABEL}={name}")
    found = {p["metadata"]["name"]: t for p in pods if (t := pod_trouble(p)) is not None}
    with state.lock:
        state.troubles[(namespace, name)] = found


def _publish(
    api: KubeApi,
    settings: OperatorSettings,
    body: Mapping[str, Any],
    observed: Observed,
    previous: Mapping[str, Any],
) -> None:
    meta = body.get("metadata") or {}
    name, namespace = meta.get("name", ""), meta.get("namespace", "")
    status = function_status(
        name, namespace, observed, settings.function_url(name, namespace), previous, _now()
    )
    if not status_changed(previous, status):
        return
    api.patch_status("functions", namespace, name, status)
    _announce(api, body, previous, status)


def _announce(
    api: KubeApi, body: Mapping[str, Any], previous: Mapping[str, Any], status: Mapping[str, Any]
) -> None:
    """An Event when Ready or Deployed changes: once per transition, not per retry.

    Ready often repeats Deployed's reason (it cannot be ready if not deployed): one Event then.
    """
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
            reason = str(after.get("reason"))
            api.post_event(body, "Function", reason, str(after.get("message", "")), warning=warning)
            posted.add(reason)


_TRANSIENT = ("Pending", "Starting", "Rolling")


def bind_trigger(api: KubeApi, trigger: dict[str, Any], function: Mapping[str, Any] | None) -> None:
    """Set a Trigger's Bound condition: its Function exists and can be invoked."""
    meta = trigger.get("metadata") or {}
    try:
        parsed = parse_trigger(trigger)
    except SpecError as exc:
        cond = Condition(ConditionType.BOUND, False, "InvalidSpec", str(exc))
    else:
        if function is None:
            cond = Condition(
                ConditionType.BOUND,
                False,
                "FunctionNotFound",
                f"Function {parsed.function} not found in namespace {parsed.namespace}",
            )
        else:
            try:
                parse_function(function)
            except SpecError as exc:
                cond = Condition(
                    ConditionType.BOUND, False, "FunctionInvalid", f"Function {parsed.function}: {exc}"
                )
            else:
                cond = Condition(ConditionType.BOUND, True, "Bound", f"routes to Function {parsed.function}")
    previous = trigger.get("status") or {}
    generation = int(meta.get("generation") or 0)
    conditions = merge_conditions(previous.get("conditions"), [cond], _now(), generation)
    if (
        same_conditions(previous.get("conditions"), conditions)
        and previous.get("observedGeneration") == generation
    ):
        return
    api.patch_status(
        "triggers",
        meta.get("namespace", ""),
        meta.get("name", ""),
        {"observedGeneration": generation, "conditions": conditions},
    )
    if not cond.status:
        api.post_event(trigger, "Trigger", cond.reason, cond.message, warning=True)


def bind_triggers_of(
    api: KubeApi,
    function: Mapping[str, Any] | None,
    trigger_names: Iterable[str],
    deleted: Mapping[str, Any] | None = None,
) -> None:
    source = function or deleted or {}
    namespace = (source.get("metadata") or {}).get("namespace", "")
    for trigger_name in trigger_names:
        trigger = api.get_trigger(namespace, trigger_name)
        if trigger is not None:
            bind_trigger(api, trigger, function)


def _api_message(exc: ApiException) -> str:
    import json

    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except ValueError:
        return str(exc.reason)
