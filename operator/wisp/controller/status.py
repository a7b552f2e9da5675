"""A Function's status from its Deployment (and its pods' troubles): pure.

Ready means the function can serve a call now or after a scale-up: its children are in place,
the Deployment has caught up with the spec, and no pod is stuck on something that will not heal
by waiting (a bad image, a crash loop, a handler that fails to load). Containers killed for
running out of memory are counted in ``status.outOfMemory`` and reported by the ``OutOfMemory``
condition (``wisp.controller.memory``).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wisp.api.defaults import FUNCTION_DEFAULTS
from wisp.api.names import FUNCTION_LABEL
from wisp.api.runtimes import Phase, Runtime, lifecycle_phase, warning_message
from wisp.controller.conditions import Condition, ConditionType, merge_conditions
from wisp.controller.memory import OomKill, count_kills, oom_condition
from wisp.resources.deployment import FETCH_CONTAINER

# Container waiting reasons that mean "this will not become ready by itself".
STUCK_REASONS = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)


@dataclass(frozen=True)
class PodTrouble:
    reason: str
    message: str


@dataclass(frozen=True)
class Observed:
    """What the operator saw of a Function's world when computing its status."""

    generation: int
    deployment: Mapping[str, Any] | None
    spec_error: str | None = None  # the spec cannot run (reason: InvalidSpec)
    deploy_error: tuple[str, str] | None = None  # (reason, message) from the last reconcile
    pod_trouble: PodTrouble | None = None
    code_hash: str | None = None
    oom_kills: tuple[OomKill, ...] = ()  # OOM kills the pods' statuses show now
    memory: str = FUNCTION_DEFAULTS.memory  # the function's spec.memory
    runtime: str = ""  # the function's spec.runtime


def pod_trouble(pod: Mapping[str, Any]) -> PodTrouble | None:
    """Why a pod will not become ready by waiting, if so."""
    status = pod.get("status") or {}
    for cs in status.get("initContainerStatuses") or ():
        refused = package_refused(cs)
        if refused is not None:
            return refused
    for cs in [*(status.get("initContainerStatuses") or ()), *(status.get("containerStatuses") or ())]:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in STUCK_REASONS:
            ended = (cs.get("lastState") or {}).get("terminated")
            if waiting["reason"] == "CrashLoopBackOff" and ended:
                return PodTrouble(waiting["reason"], last_exit(cs.get("name", ""), ended))
            return PodTrouble(waiting["reason"], waiting.get("message") or waiting["reason"])
    return None


def package_refused(cs: Mapping[str, Any]) -> PodTrouble | None:
    """The package init step's failure (``wisp fetch-code`` writes ``Reason: message`` as its
    termination message): from its first exit, not only once the kubelet backs off."""
    if cs.get("name") != FETCH_CONTAINER:
        return None
    state = cs.get("state") or {}
    ended = state.get("terminated") or (cs.get("lastState") or {}).get("terminated") or {}
    if "running" in state or not ended or ended.get("exitCode") in (0, None):
        return None
    reason, sep, message = str(ended.get("message") or "").strip().partition(": ")
    if sep and reason.startswith("Package") and reason.isalnum():
        return PodTrouble(reason, message)
    return PodTrouble("PackageFetchFailed", last_exit(FETCH_CONTAINER, ended))


def last_exit(container: str, terminated: Mapping[str, Any]) -> str:
    """How a crash-looping container last ended, in words: its own last words (the runtime's
    termination message: why the handler did not load; else the log's last lines) first, the
    kubelet's backoff message says nothing a user can act on."""
    code = terminated.get("exitCode")
    how = f"container {container!r} exited with code {code}"
    if terminated.get("reason") == "OOMKilled":
        how = f"container {container!r} ran out of memory (OOMKilled, exit code {code})"
    words = str(terminated.get("message") or "").strip()
    return f"{words} ({how})" if words else how


def runtime_condition(runtime_text: str, today: datetime.date) -> Condition | None:
    """``RuntimeDeprecated`` True from ``WARNING_WINDOW`` before the runtime's deprecation date
    (by today's date, so it shows even when the chart's admission lists are older)."""
    try:
        runtime = Runtime(runtime_text)
    except ValueError:
        return None
    phase = lifecycle_phase(runtime, today)
    if phase is Phase.SUPPORTED:
        return None
    return Condition(ConditionType.RUNTIME_DEPRECATED, True, phase.value, warning_message(runtime))


def function_status(
    name: str,
    namespace: str,
    observed: Observed,
    url: str,
    previous: Mapping[str, Any] | None,
    now: datetime.datetime,
) -> dict[str, Any]:
    previous = previous or {}
    deployment = observed.deployment or {}
    dep_spec = deployment.get("spec") or {}
    dep_status = deployment.get("status") or {}
    desired = int(dep_spec.get("replicas", 0) or 0)
    replicas = int(dep_status.get("replicas", 0) or 0)
    ready = int(dep_status.get("readyReplicas", 0) or 0)
    caught_up = int(dep_status.get("observedGeneration", 0) or 0) >= int(
        (deployment.get("metadata") or {}).get("generation", 0) or 0
    )

    if observed.spec_error is not None:
        deployed = Condition(ConditionType.DEPLOYED, False, "InvalidSpec", observed.spec_error)
    elif observed.deploy_error is not None:
        deployed = Condition(ConditionType.DEPLOYED, False, *observed.deploy_error)
    elif not deployment:
        deployed = Condition(ConditionType.DEPLOYED, False, "Pending", "creating the Deployment")
    elif _progress_failed(dep_status):
        deployed = Condition(ConditionType.DEPLOYED, False, "ProgressDeadlineExceeded", "the rollout stalled")
    else:
        deployed = Condition(
            ConditionType.DEPLOYED, True, "Deployed", "ConfigMap, Deployment and Service are in place"
        )

    if not deployed.status:
        ready_cond = Condition(ConditionType.READY, False, deployed.reason, deployed.message)
    elif observed.pod_trouble is not None and ready == 0:
        ready_cond = Condition(
            ConditionType.READY, False, observed.pod_trouble.reason, observed.pod_trouble.message
        )
    elif ready > 0:
        ready_cond = Condition(ConditionType.READY, True, "Ready", f"{ready} of {desired} replicas ready")
    elif desired == 0:
        ready_cond = Condition(
            ConditionType.READY, True, "ScaledToZero", "scaled to zero; the next call starts a replica"
        )
    elif not caught_up:
        ready_cond = Condition(ConditionType.READY, False, "Rolling", "the Deployment is rolling out")
    else:
        ready_cond = Condition(ConditionType.READY, False, "Starting", f"0 of {desired} replicas ready")

    zero = Condition(
        ConditionType.SCALED_TO_ZERO,
        desired == 0 and replicas == 0,
        "NoReplicas" if desired == 0 and replicas == 0 else "Running",
        "no pod is running" if desired == 0 and replicas == 0 else f"{replicas} replicas",
    )
    conditions = [ready_cond, deployed, zero]
    oom = count_kills(previous.get("outOfMemory"), observed.oom_kills, observed.memory)
    if oom is not None:  # no condition at all for a function that never ran out of memory
        conditions.append(oom_condition(oom, observed.memory))
    deprecated = runtime_condition(observed.runtime, now.date())
    if deprecated is not None:  # none for a runtime with no date near
        conditions.append(deprecated)
    status: dict[str, Any] = {
        "observedGeneration": observed.generation,
        "replicas": replicas,
        "readyReplicas": ready,
        "selector": f"{FUNCTION_LABEL}={name}",
        "url": url,
        "conditions": merge_conditions(previous.get("conditions"), conditions, now, observed.generation),
    }
    if oom is not None:
        status["outOfMemory"] = oom
    if observed.code_hash:
        status["codeHash"] = observed.code_hash
    return status


def _progress_failed(dep_status: Mapping[str, Any]) -> bool:
    for cond in dep_status.get("conditions") or ():
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return True
    return False


def status_changed(previous: Mapping[str, Any] | None, new: Mapping[str, Any]) -> bool:
    from wisp.controller.conditions import same_conditions

    previous = previous or {}
    for key, value in new.items():
        if key == "conditions":
            if not same_conditions(previous.get("conditions"), value):
                return True
        elif previous.get(key) != value:
            return True
    return False
