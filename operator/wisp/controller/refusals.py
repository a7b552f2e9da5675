"""When the API refuses a child: the status reason, and how long to wait before trying again.

A refusal (a full ResourceQuota, an exhausted Service IP range, an admission denial) will not
go away in the next millisecond, so it is retried with exponential backoff per Function and
logged once per change of reason, not per attempt. Pure bookkeeping: no clock, no I/O.

One refusal is not a denial at all: a create in a namespace being deleted (``namespace_terminating``).
The Function goes with its namespace, so it is neither reported nor retried.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.rest import ApiException

log = logging.getLogger("wisp.operator")

FIRST_DELAY = 2.0
MAX_DELAY = 300.0

# HTTP status -> the Deployed condition's reason.
REASONS = {
    400: "BadRequest",
    403: "Forbidden",  # RBAC, a ResourceQuota, an admission policy
    404: "NotFound",  # the namespace went away
    409: "Conflict",
    410: "Gone",
    422: "Invalid",  # validation: a full Service IP range, a field the API rejects
    429: "TooManyRequests",
}


def refusal_reason(status: int | None) -> str:
    if status in REASONS:
        return REASONS[status]
    if status is not None and status >= 500:
        return "ServerError"
    return "ApiRefused"


def refusal_message(exc: ApiException) -> str:
    """The API's own words (``Status.message``), else the HTTP reason phrase."""
    message = _status(exc).get("message")
    return str(message or exc.reason or f"HTTP {exc.status}")


def namespace_terminating(exc: ApiException) -> bool:
    """Whether the API refused because the namespace is being deleted, or is gone already.

    The NamespaceLifecycle admission plugin refuses every create in a Terminating namespace with
    a 403 whose Status has the cause ``NamespaceTerminating`` (``configmaps "x" is forbidden:
    unable to create new content in namespace N because it is being terminated``); once the
    namespace is gone, a create gets a 404 whose Status names the namespace. Neither is a denial
    to report or retry: the Function is deleted with its namespace.
    """
    status = _status(exc)
    details: dict[str, Any] = status["details"] if isinstance(status.get("details"), dict) else {}
    if exc.status == 403:
        causes: list[Any] = details["causes"] if isinstance(details.get("causes"), list) else []
        reasons = {cause.get("reason") for cause in causes if isinstance(cause, dict)}
        message = str(status.get("message") or "")
        return "NamespaceTerminating" in reasons or "because it is being terminated" in message
    return exc.status == 404 and details.get("kind") == "namespaces"


def _status(exc: ApiException) -> dict[str, Any]:
    """The Status object the API answered with; empty when the body is not one."""
    try:
        status = json.loads(exc.body or "{}")
    except (ValueError, TypeError):
        return {}
    return status if isinstance(status, dict) else {}


def backoff_delay(attempt: int) -> float:
    """Seconds to wait after the ``attempt``-th refusal in a row (1-based): 2, 4, 8 … 300."""
    return min(MAX_DELAY, FIRST_DELAY * float(2 ** max(0, min(attempt - 1, 16))))


@dataclass(frozen=True)
class Refusal:
    reason: str
    message: str
    attempts: int

    @property
    def delay(self) -> float:
        return backoff_delay(self.attempts)


@dataclass
class Refusals:
    """Refusals in a row, per Function (namespace, name); cleared by a reconcile that succeeds."""

    current: dict[tuple[str, str], Refusal] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def refused(self, key: tuple[str, str], exc: ApiException) -> Refusal:
        reason, message = refusal_reason(exc.status), refusal_message(exc)
        with self.lock:
            before = self.current.get(key)
            refusal = Refusal(reason, message, 1 if before is None else before.attempts + 1)
            self.current[key] = refusal
        if before is None or before.reason != reason:
            log.warning(
                "Function %s/%s: the API refused a child (%s): %s; retrying with backoff",
                key[0],
                key[1],
                reason,
                message,
            )
        return refusal

    def succeeded(self, key: tuple[str, str]) -> None:
        with self.lock:
            before = self.current.pop(key, None)
        if before is not None:
            log.info("Function %s/%s: reconciled after %d refusals", key[0], key[1], before.attempts)

    def pending(self, key: tuple[str, str]) -> bool:
        with self.lock:
            return key in self.current
