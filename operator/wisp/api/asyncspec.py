"""A Function's asynchronous-invocation controls (``spec.async``), parsed and checked.

Lambda's ``PutFunctionEventInvokeConfig`` made declarative: how many retries a failed async event
gets, how old an event may grow before it is dropped instead of run late, and where outcomes go
(``onSuccess`` / ``onFailure``: another function, a stream, or a URL). Unset fields follow the
gateway's defaults (2 retries, 6 hours), so the CRD carries no defaults for them. The queue
(``wisp.queue``) reads ``AsyncConfig`` to configure a function's async consumer; queue Triggers
carry the same ``maxEventAge`` and ``onFailure`` of their own (``wisp.api.trigger``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from wisp.api.checks import SpecError, _duration_in, _int_in, _typed

MAX_RETRIES = 100
MIN_EVENT_AGE = 60.0  # Lambda's bounds: 60 s to 6 h
MAX_EVENT_AGE = 6 * 3600.0
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_STREAM = re.compile(r"^[A-Za-z0-9_.:{}-]+$")


class DestinationKind(enum.Enum):
    FUNCTION = "function"  # an async invocation of a Function in the same namespace
    STREAM = "stream"  # a message (``data``: the record) appended to a Redis stream
    URL = "url"  # POSTed through the callbacks consumer (SSRF guard, retries, dead letters)


@dataclass(frozen=True)
class Destination:
    kind: DestinationKind
    target: str


@dataclass(frozen=True)
class AsyncConfig:
    """``None`` fields mean: the gateway's default."""

    max_retries: int | None = None
    max_event_age: float | None = None
    on_success: Destination | None = None
    on_failure: Destination | None = None


def parse_destination(value: Any, path: str) -> Destination:
    """``{function: name}``, ``{stream: name}`` or ``{url: https://...}``: exactly one."""
    _typed(value, Mapping, path, "an object with one of function, stream, url")
    present = [kind for kind in DestinationKind if value.get(kind.value) is not None]
    if len(present) != 1:
        raise SpecError(path, "must set exactly one of function, stream, url")
    kind = present[0]
    field = f"{path}.{kind.value}"
    target = _typed(value[kind.value], str, field, "a string")
    if kind is DestinationKind.FUNCTION and (not _NAME.match(target) or len(target) > 63):
        raise SpecError(field, f"{target!r} is not a valid Function name")
    if kind is DestinationKind.STREAM and (not _STREAM.match(target) or len(target) > 256):
        raise SpecError(field, f"{target!r} is not a valid stream name")
    if kind is DestinationKind.URL:
        parts = urlsplit(target)
        if parts.scheme not in ("http", "https") or not parts.netloc or len(target) > 2048:
            raise SpecError(field, "must be an http(s) URL")
    return Destination(kind, target)


def parse_async_config(value: Any, path: str = "spec.async") -> AsyncConfig:
    if value is None:
        return AsyncConfig()
    _typed(value, Mapping, path, "an object")
    retries = value.get("maxRetries")
    age = value.get("maxEventAge")
    success = value.get("onSuccess")
    failure = value.get("onFailure")
    return AsyncConfig(
        max_retries=None if retries is None else _int_in(retries, f"{path}.maxRetries", 0, MAX_RETRIES),
        max_event_age=(
            None
            if age is None
            else _duration_in(age, f"{path}.maxEventAge", MIN_EVENT_AGE, MAX_EVENT_AGE, "60s", "6h")
        ),
        on_success=None if success is None else parse_destination(success, f"{path}.onSuccess"),
        on_failure=None if failure is None else parse_destination(failure, f"{path}.onFailure"),
    )
