"""A Trigger's ``Bound`` condition: its Function exists and can be invoked."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from wisp.api.function import SpecError, parse_function
from wisp.api.trigger import parse_trigger
from wisp.controller.conditions import Condition, ConditionType, merge_conditions, same_conditions
from wisp.controller.kube import KubeApi


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


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
