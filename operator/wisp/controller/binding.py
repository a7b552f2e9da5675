"""A Trigger's ``Bound`` condition: its Function exists and can be invoked, and, for an HTTP
Trigger, no older Trigger holds its route.

Two HTTP Triggers on one route (path, host and a common method) are not refused at apply time:
CEL sees one object, and a validating webhook would be one more component on the apply path.
As Kubernetes does for conflicting Ingress and Gateway routes, the oldest one keeps the route
(``wisp.api.trigger.route_holders``, which the gateway uses too) and the others are reported
``Bound=False``, reason ``PathConflict``, naming the holder, with a Warning Event.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Container, Iterable, Mapping
from typing import Any

from wisp.api.function import SpecError, parse_function
from wisp.api.trigger import Trigger, describe_route, parse_trigger, route_holders
from wisp.api.version import missing_qualifier
from wisp.controller.conditions import Condition, ConditionType, merge_conditions, same_conditions
from wisp.controller.kube import KubeApi


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


HolderOf = Callable[[Mapping[str, Any]], Trigger | None]
# The numbers of a Function's published versions (the FunctionVersions that exist), by namespace
# and Function name: what a Trigger's numeric ``spec.qualifier`` must be among.
PublishedOf = Callable[[str, str], Container[int]]


def bind_trigger(
    api: KubeApi,
    trigger: dict[str, Any],
    function: Mapping[str, Any] | None,
    holder: Trigger | None = None,
    *,
    published: PublishedOf,
) -> None:
    """Set a Trigger's Bound condition: no older Trigger holds its route (``holder``), its
    Function exists and can be invoked, and its qualifier names an alias of it or a version of
    it that is ``published``."""
    meta = trigger.get("metadata") or {}
    try:
        parsed = parse_trigger(trigger)
    except SpecError as exc:
        cond = Condition(ConditionType.BOUND, False, "InvalidSpec", str(exc))
    else:
        if holder is not None and parsed.http is not None:
            cond = Condition(
                ConditionType.BOUND,
                False,
                "PathConflict",
                f"{describe_route(parsed.http)} is held by Trigger {holder.namespace}/{holder.name}, "
                "which is older; the gateway routes it there. Change spec.http (path, host or "
                "methods) or delete one of the two",
            )
        elif function is None:
            cond = Condition(
                ConditionType.BOUND,
                False,
                "FunctionNotFound",
                f"Function {parsed.function} not found in namespace {parsed.namespace}",
            )
        else:
            try:
                parsed_function = parse_function(function)
            except SpecError as exc:
                cond = Condition(
                    ConditionType.BOUND, False, "FunctionInvalid", f"Function {parsed.function}: {exc}"
                )
            else:
                versions = published(parsed.namespace, parsed.function)
                missing = missing_qualifier(parsed_function.spec.aliases, parsed.qualifier, versions)
                if missing is not None:
                    cond = Condition(
                        ConditionType.BOUND,
                        False,
                        "QualifierNotFound",
                        f"spec.qualifier: {missing}; calls through this Trigger fail until it exists",
                    )
                else:
                    target = parsed.function + (f":{parsed.qualifier}" if parsed.qualifier else "")
                    cond = Condition(ConditionType.BOUND, True, "Bound", f"routes to Function {target}")
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
    holder_of: HolderOf = lambda _: None,
    *,
    published: PublishedOf,
) -> None:
    source = function or deleted or {}
    namespace = (source.get("metadata") or {}).get("namespace", "")
    for trigger_name in trigger_names:
        trigger = api.get_trigger(namespace, trigger_name)
        if trigger is not None:
            bind_trigger(api, trigger, function, holder_of(trigger), published=published)


def route_holder(trigger: Mapping[str, Any], claimants: Iterable[Mapping[str, Any]]) -> Trigger | None:
    """The older Trigger among ``claimants`` (bodies of the HTTP Triggers on the same path and
    host, ``trigger`` itself possibly among them) that holds ``trigger``'s route, if any."""
    try:
        own = parse_trigger(trigger)
    except SpecError:
        return None
    parsed = {own.key: own}
    for body in claimants:
        try:
            other = parse_trigger(body)
        except SpecError:
            continue
        parsed.setdefault(other.key, other)
    return route_holders(parsed.values()).get(own.key)
