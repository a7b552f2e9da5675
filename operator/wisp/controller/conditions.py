"""Status conditions of Functions and Triggers: typed helpers, pure.

Status changes only through these helpers, so every condition has a reason and a message and
``lastTransitionTime`` moves only when the status does.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


class ConditionType(enum.Enum):
    READY = "Ready"
    DEPLOYED = "Deployed"
    SCALED_TO_ZERO = "ScaledToZero"
    OUT_OF_MEMORY = "OutOfMemory"
    RUNTIME_DEPRECATED = "RuntimeDeprecated"
    BOUND = "Bound"


@dataclass(frozen=True)
class Condition:
    type: ConditionType
    status: bool
    reason: str
    message: str = ""

    def as_dict(
        self, previous: Mapping[str, Any] | None, now: datetime.datetime, generation: int
    ) -> dict[str, Any]:
        status = "True" if self.status else "False"
        if previous is None or previous.get("status") != status:
            when = now
        else:
            when = _parse_time(previous.get("lastTransitionTime"), now)
        return {
            "type": self.type.value,
            "status": status,
            "reason": self.reason,
            "message": self.message,
            "lastTransitionTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "observedGeneration": generation,
        }


def _parse_time(text: Any, default: datetime.datetime) -> datetime.datetime:
    if not isinstance(text, str):
        return default
    try:
        return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    except ValueError:
        return default


def merge_conditions(
    previous: Iterable[Mapping[str, Any]] | None,
    conditions: Iterable[Condition],
    now: datetime.datetime,
    generation: int,
) -> list[dict[str, Any]]:
    """New condition dicts, keeping transition times of conditions whose status held."""
    by_type = {c.get("type"): c for c in previous or ()}
    return [c.as_dict(by_type.get(c.type.value), now, generation) for c in conditions]


def condition_of(status: Mapping[str, Any] | None, kind: ConditionType) -> Mapping[str, Any] | None:
    for cond in (status or {}).get("conditions") or ():
        if cond.get("type") == kind.value:
            return cond  # type: ignore[no-any-return]
    return None


def same_conditions(a: Iterable[Mapping[str, Any]] | None, b: Iterable[Mapping[str, Any]] | None) -> bool:
    """Equal ignoring transition times (which only move with status)."""

    def essence(conds: Iterable[Mapping[str, Any]] | None) -> list[tuple[Any, ...]]:
        return sorted(
            (c.get("type"), c.get("status"), c.get("reason"), c.get("message"), c.get("observedGeneration"))
            for c in conds or ()
        )

    return essence(a) == essence(b)
