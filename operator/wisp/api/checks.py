"""What every spec parser in ``wisp.api`` shares: ``SpecError`` and readers that check a value's
type and range and name the offending field, as the API server's schema validation does."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wisp.api.quantities import parse_duration


class SpecError(ValueError):
    """A Function or Trigger spec that cannot run; ``field`` names the offending path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _require(obj: Mapping[str, Any], key: str, path: str) -> Any:
    if key not in obj or obj[key] is None:
        raise SpecError(f"{path}.{key}", "Required value")
    return obj[key]


def _typed(value: Any, kind: type | tuple[type, ...], path: str, what: str) -> Any:
    if isinstance(value, bool) and kind is int:
        raise SpecError(path, f"must be {what}")
    if not isinstance(value, kind):
        raise SpecError(path, f"must be {what}")
    return value


def _int_in(value: Any, path: str, lo: int, hi: int) -> int:
    _typed(value, int, path, "an integer")
    if not lo <= value <= hi:
        raise SpecError(path, f"must be between {lo} and {hi}, got {value}")
    return int(value)


def _duration_in(value: Any, path: str, lo: float, hi: float, lo_text: str, hi_text: str) -> float:
    _typed(value, str, path, "a duration such as 30s")
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise SpecError(path, str(exc)) from None
    if not lo <= seconds <= hi:
        raise SpecError(path, f"must be between {lo_text} and {hi_text}, got {value}")
    return seconds
