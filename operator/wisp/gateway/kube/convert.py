"""Functions and FunctionVersions (plain dicts) into the gateway's terms: ``FunctionInfo``.

Pure. A Function's status decides whether a call can wait for it: ``Deployed`` False, or
``Ready`` False with a reason that scaling cannot fix (an image that cannot be pulled, a
handler that does not load, a spec the operator rejected), make the gateway answer 503 with
that reason instead of holding the call.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from wisp.api.function import SpecError, parse_function
from wisp.api.version import as_function, version_ref
from wisp.gateway.backend import FunctionInfo

log = logging.getLogger("wisp.gateway.kube")

# Ready=False reasons that more replicas or more waiting will not fix.
TERMINAL_REASONS = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "ErrImageNeverPull",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
        "InvalidSpec",
        "ProgressDeadlineExceeded",
    }
)
# Deployed=False reasons that are only a moment in a Function's life.
TRANSIENT_DEPLOY_REASONS = frozenset({"Pending"})


def _conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    status = obj.get("status") or {}
    return {c.get("type", ""): c for c in status.get("conditions") or [] if isinstance(c, dict)}


def function_info(obj: dict[str, Any]) -> FunctionInfo | None:
    """The FunctionInfo of a Function object; None (logged) if its spec cannot be parsed."""
    try:
        fn = parse_function(obj)
    except SpecError as exc:
        meta = obj.get("metadata") or {}
        log.warning("ignoring Function %s/%s: %s", meta.get("namespace"), meta.get("name"), exc)
        return None
    conditions = _conditions(obj)
    deployed = conditions.get("Deployed")
    if (
        deployed is not None
        and deployed.get("status") == "False"
        and deployed.get("reason") not in TRANSIENT_DEPLOY_REASONS
    ):
        reason = deployed.get("reason") or "NotDeployed"
        return FunctionInfo(
            fn, False, reason, deployed.get("message") or "", _oom_kills(obj), desired_replicas=_desired(obj)
        )
    ready = conditions.get("Ready")
    if ready is not None and ready.get("status") == "False":
        reason = ready.get("reason") or ""
        if reason in TERMINAL_REASONS:
            return FunctionInfo(
                fn, False, reason, ready.get("message") or "", _oom_kills(obj), desired_replicas=_desired(obj)
            )
    return FunctionInfo(fn, oom_kills=_oom_kills(obj), desired_replicas=_desired(obj))


def version_info(obj: dict[str, Any]) -> FunctionInfo | None:
    """A FunctionVersion as an upstream of its own (key ``NAME-vN.namespace``, its children's)."""
    ref = version_ref(obj)
    if ref is None:
        return None
    info = function_info(as_function(obj))
    return None if info is None else replace(info, version=ref.label)


def _desired(obj: dict[str, Any]) -> int | None:
    value = (obj.get("status") or {}).get("desiredReplicas")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _oom_kills(obj: dict[str, Any]) -> int:
    oom = (obj.get("status") or {}).get("outOfMemory") or {}
    try:
        return int(oom.get("kills") or 0)
    except (TypeError, ValueError):
        return 0
