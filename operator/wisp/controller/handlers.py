"""kopf handlers: they turn watch events into calls of ``sync`` functions and nothing else.

Functions are reconciled on create/update/resume and on a timer (drift and healing); their
Deployments' and pods' events refresh status (and re-apply when someone changed the
Deployment's spec). Triggers are bound on their own events and whenever their Function changes.
"""

from __future__ import annotations

import copy
import logging
import os
from typing import Any

import kopf

from wisp.api import names
from wisp.api.names import FUNCTION_LABEL, GROUP, VERSION
from wisp.controller import binding
from wisp.controller.sync import FunctionSync

FUNCTIONS = (GROUP, VERSION, names.FUNCTIONS)
TRIGGERS = (GROUP, VERSION, names.TRIGGERS)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, memo: Any, **_: Any) -> None:
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    settings.posting.level = logging.WARNING  # our own Events say what was done
    settings.execution.max_workers = 8
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    # A replica that stops renewing its peering record hands over after this long.
    settings.peering.lifetime = int(os.environ.get("WISP_PEERING_LIFETIME", "30"))
    settings.peering.mandatory = memo.settings.peering is not None
    memo.sync = FunctionSync(memo.api, memo.settings)


@kopf.index(*FUNCTIONS)
def function_bodies(
    namespace: str | None, name: str, body: kopf.Body, **_: Any
) -> dict[tuple[str, str], dict[str, Any]]:
    return {(namespace or "", name): copy.deepcopy(dict(body))}


@kopf.index(*TRIGGERS)
def triggers_by_function(
    namespace: str | None, name: str, spec: kopf.Spec, **_: Any
) -> dict[tuple[str, str], str]:
    return {(namespace or "", str(spec.get("function"))): name}


@kopf.on.resume(*FUNCTIONS)
@kopf.on.create(*FUNCTIONS)
@kopf.on.update(*FUNCTIONS)
def function_changed(body: kopf.Body, memo: Any, **kwargs: Any) -> None:
    function = copy.deepcopy(dict(body))
    memo.sync.sync_function(function)
    binding.bind_triggers_of(memo.api, function, _trigger_names(kwargs["triggers_by_function"], body))


@kopf.timer(*FUNCTIONS, interval=60, initial_delay=60, idle=0)
def function_resync(body: kopf.Body, memo: Any, **_: Any) -> None:
    memo.sync.sync_function(copy.deepcopy(dict(body)))


@kopf.on.delete(*FUNCTIONS, optional=True)
def function_deleted(body: kopf.Body, memo: Any, **kwargs: Any) -> None:
    memo.sync.state.forget(body.metadata.namespace or "", body.metadata.name or "")
    names = _trigger_names(kwargs["triggers_by_function"], body)
    binding.bind_triggers_of(memo.api, None, names, deleted=dict(body))


@kopf.on.event("apps", "v1", "deployments", labels={FUNCTION_LABEL: kopf.PRESENT})
def deployment_event(event: kopf.RawEvent, body: kopf.Body, memo: Any, **kwargs: Any) -> None:
    function = _owner(kwargs["function_bodies"], body)
    if function is not None:
        deleted = event.get("type") == "DELETED"
        memo.sync.on_deployment(function, dict(body), deleted=deleted)


@kopf.on.event("", "v1", "pods", labels={FUNCTION_LABEL: kopf.PRESENT})
def pod_event(event: kopf.RawEvent, body: kopf.Body, memo: Any, **kwargs: Any) -> None:
    function = _owner(kwargs["function_bodies"], body)
    if function is not None:
        deleted = event.get("type") == "DELETED"
        memo.sync.on_pod(function, dict(body), deleted=deleted)


@kopf.on.resume(*TRIGGERS)
@kopf.on.create(*TRIGGERS)
@kopf.on.update(*TRIGGERS)
def trigger_changed(body: kopf.Body, memo: Any, **kwargs: Any) -> None:
    key = (body.metadata.namespace, str(body.spec.get("function")))
    functions = list(kwargs["function_bodies"].get(key, ()))
    binding.bind_trigger(memo.api, copy.deepcopy(dict(body)), functions[0] if functions else None)


def _owner(function_bodies: kopf.Index[Any, dict[str, Any]], body: kopf.Body) -> dict[str, Any] | None:
    key = (body.metadata.namespace, body.metadata.labels.get(FUNCTION_LABEL))
    functions = list(function_bodies.get(key, ()))
    return functions[0] if functions else None


def _trigger_names(index: kopf.Index[Any, str], body: kopf.Body) -> list[str]:
    return sorted(set(index.get((body.metadata.namespace, body.metadata.name), ())))
