"""What the console needs from where functions live: the ``ConsoleSource`` protocol.

Two implementations: ``wisp.console.cluster.ClusterSource`` (Functions through the Kubernetes
API, so the operator does the rest and RBAC governs it; test events in a ConfigMap per function;
logs from the pods) and ``wisp.console.dev.DevSource`` (``wisp dev``: Function files in the
served folder, test events in a file beside them, logs from the local processes). Both get the
live picture (functions, stats, calls) from the gateway they are mounted in, through
``wisp.console.live.GatewayView``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from wisp.console.live import GatewayView


class Mode(enum.Enum):
    DEV = "dev"
    CLUSTER = "cluster"


@dataclass(frozen=True)
class FieldError:
    """A validation error about one field (``spec.memory``), as the API server names it."""

    field: str
    message: str


class ValidationFailed(Exception):
    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


class NotFound(Exception):
    pass


class SourceError(Exception):
    """The source could not do what was asked (API unreachable, forbidden, ...)."""

    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class LogLine:
    """One line of a function's output; ``request_id`` is empty for lines outside a call."""

    time: str
    pod: str
    level: str
    request_id: str
    message: str

    def as_json(self) -> dict[str, str]:
        return {
            "time": self.time,
            "pod": self.pod,
            "level": self.level,
            "requestId": self.request_id,
            "message": self.message,
        }


@dataclass(frozen=True)
class Manifest:
    """A Function as the editor shows it: the API object without status or server fields."""

    body: Mapping[str, Any]
    file: str = ""  # dev: the file it lives in, relative to the served folder
    status: Mapping[str, Any] = field(default_factory=dict)


class ConsoleSource(Protocol):
    mode: Mode
    live: GatewayView

    async def get_function(self, namespace: str, name: str) -> Manifest:
        """The Function's manifest; raises ``NotFound``."""

    async def apply_function(self, body: Mapping[str, Any]) -> Manifest:
        """Create or update; raises ``ValidationFailed`` with field-named errors."""

    async def delete_function(self, namespace: str, name: str) -> None:
        """Delete; raises ``NotFound``."""

    async def logs(self, namespace: str, name: str, request_id: str, tail: int) -> list[LogLine]:
        """The last ``tail`` lines of all the function's pods, merged by time; filtered to one call
        when ``request_id`` is set."""

    async def test_events(self, namespace: str, name: str) -> dict[str, Any]:
        """Saved test events by name."""

    async def save_test_event(self, namespace: str, name: str, event_name: str, event: Any) -> None: ...

    async def delete_test_event(self, namespace: str, name: str, event_name: str) -> None: ...

    async def versions(self, namespace: str, name: str) -> dict[str, Any]:
        """The Function's versions and aliases (``wisp.console.releases.versions_document``), or
        ``{"supported": False, "reason": ...}`` where there are none to have."""

    async def set_alias(self, namespace: str, name: str, alias: str, body: Mapping[str, Any] | None) -> None:
        """Write ``spec.aliases.<alias>`` (None deletes it); ``ValidationFailed`` names the field."""

    def namespaces(self) -> list[str]:
        """Namespaces a new function may go to (the first is the default)."""
