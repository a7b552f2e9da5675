"""The Trigger resource, parsed and checked (same defaults and rules as the CRD), and who holds an
HTTP route that several Triggers claim (``route_holders``: the oldest one, as Kubernetes does for
conflicting Ingress and Gateway routes; the operator reports the others, the gateway routes only
to the holder, ``wisp dev`` refuses the later one)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from wisp.api import names
from wisp.api.asyncspec import MAX_EVENT_AGE, MIN_EVENT_AGE, Destination, parse_destination
from wisp.api.checks import SpecError, _duration_in, _int_in, _require, _typed
from wisp.api.function import NAME_RE

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# API Gateway's proxy event shapes a Trigger can send: 1.0 (REST APIs), 2.0 (HTTP APIs, function
# URLs); docs/runtime-contract.md.
PAYLOAD_FORMATS = ("1.0", "2.0")
# Paths the gateway serves itself (the function form, async invocations and their records, the
# admin API, the console, Lambda's Invoke API) and its probes: a Trigger there would never be
# reached. The CRD's CEL rule on spec.http.path spells out the same lists (a test compares them).
RESERVED_PREFIXES = (
    "/function/",
    "/async-function/",
    "/invocations/",
    "/system/",
    "/ui/",
    "/2015-03-31/",
)
RESERVED_PATHS = (*(prefix.rstrip("/") for prefix in RESERVED_PREFIXES), "/healthz", "/readyz", "/metrics")
_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/{}-]*$")
# A path template's variable segment: {name} takes one segment, a last {name+} the rest of the
# path (API Gateway's greedy variable).
_VARIABLE = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)(\+?)\}$")
_HOST = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:\d{1,5})?$")
_STREAM = re.compile(r"^[A-Za-z0-9_.:{}-]+$")


@dataclass(frozen=True)
class HttpTrigger:
    path: str
    methods: tuple[str, ...] = ()
    host: str | None = None
    payload_format: str = "1.0"


@dataclass(frozen=True)
class QueueTrigger:
    stream: str
    group: str
    batch_size: int = 10
    max_retries: int = 3
    max_in_flight: int | None = None
    backoff_initial: float = 1.0
    backoff_max: float = 300.0
    backoff_multiplier: float = 2.0
    dead_letter: str = ""
    # Lambda's event source mapping controls: messages older than this are dropped (to the
    # dead-letter stream and ``on_failure``), never run late; ``on_failure`` gets a record of
    # every message that is given up on.
    max_event_age: float | None = None
    on_failure: Destination | None = None
    # Batches: with a window, the function gets up to ``batch_size`` messages per call
    # (``{"Records": [...]}``), waiting at most this long to fill one, and may answer Lambda's
    # ``batchItemFailures``. None: one message per call.
    batch_window: float | None = None


@dataclass(frozen=True)
class ScheduleTrigger:
    cron: str
    timezone: str = "UTC"
    payload: Any = None


@dataclass(frozen=True)
class Trigger:
    name: str
    namespace: str
    function: str
    http: HttpTrigger | None = None
    queue: QueueTrigger | None = None
    schedule: ScheduleTrigger | None = None
    generation: int = 0
    created: str = ""  # metadata.creationTimestamp (RFC 3339, UTC): who holds a contested route
    qualifier: str = ""  # spec.qualifier: a version number or alias; "" is $LATEST

    @property
    def key(self) -> str:
        return names.function_key(self.name, self.namespace)

    @property
    def function_key(self) -> str:
        return names.function_key(self.function, self.namespace)


RESERVED_MESSAGE = (
    "is served by the gateway itself, so a Trigger there would never be called (reserved: "
    + ", ".join(RESERVED_PATHS[: len(RESERVED_PREFIXES)])
    + " and every path under them, "
    + ", ".join(RESERVED_PATHS[len(RESERVED_PREFIXES) :])
    + ")"
)


@lru_cache(maxsize=4096)
def path_template(path: str) -> re.Pattern[str] | None:
    """The pattern a templated Trigger path (``/orders/{id}``, ``/files/{path+}``) matches a
    whole decoded request path with, its variables as named groups; None for a plain path (a
    prefix). Raises ``ValueError`` for a malformed template."""
    if "{" not in path and "}" not in path:
        return None
    parts: list[str] = []
    names: set[str] = set()
    segments = path.split("/")
    for i, segment in enumerate(segments):
        if "{" not in segment and "}" not in segment:
            parts.append(re.escape(segment))
            continue
        match = _VARIABLE.match(segment)
        if match is None:
            raise ValueError(f"segment {segment!r} must be a whole {{name}} or {{name+}}")
        name, greedy = match.groups()
        if name in names:
            raise ValueError(f"variable {name!r} appears twice")
        if greedy and i != len(segments) - 1:
            raise ValueError(f"the greedy {{{name}+}} must be the last segment")
        names.add(name)
        parts.append(f"(?P<{name}>.+)" if greedy else f"(?P<{name}>[^/]+)")
    return re.compile("/".join(parts))


def is_reserved_path(path: str) -> bool:
    """True for a path the gateway answers itself (``/ui``, ``/ui/...``, ``/healthz``, ...)."""
    return path.startswith(RESERVED_PREFIXES) or path in RESERVED_PATHS


def parse_trigger(obj: Mapping[str, Any]) -> Trigger:
    meta = obj.get("metadata") or {}
    name = meta.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise SpecError("metadata.name", "must be a DNS label (lowercase letters, digits, '-')")
    namespace = str(meta.get("namespace") or "default")
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        raise SpecError("spec", "Required value")
    function = _typed(_require(spec, "function", "spec"), str, "spec.function", "a Function name")
    if not NAME_RE.match(function) or len(function) > 63:
        raise SpecError("spec.function", f"{function!r} is not a valid Function name")
    kinds = [k for k in ("http", "queue", "schedule") if spec.get(k) is not None]
    if len(kinds) != 1:
        raise SpecError("spec", "a Trigger sets exactly one of spec.http, spec.queue, spec.schedule")
    http = _parse_http(spec["http"]) if "http" in kinds else None
    queue = _parse_queue(spec["queue"], namespace, name) if "queue" in kinds else None
    schedule = _parse_schedule(spec["schedule"]) if "schedule" in kinds else None
    return Trigger(
        name=name,
        namespace=namespace,
        function=function,
        http=http,
        queue=queue,
        schedule=schedule,
        generation=int(meta.get("generation") or 0),
        created=str(meta.get("creationTimestamp") or ""),
        qualifier=_parse_qualifier(spec.get("qualifier")),
    )


_QUALIFIER = re.compile(r"^(\$LATEST|[1-9][0-9]{0,8}|[A-Za-z][A-Za-z0-9_-]{0,63})$")


def _parse_qualifier(value: Any) -> str:
    if value is None:
        return ""
    text = _typed(value, str, "spec.qualifier", "a version number or alias name")
    if not _QUALIFIER.match(text):
        raise SpecError("spec.qualifier", f"{text!r} is not $LATEST, a version number or an alias name")
    return "" if text == "$LATEST" else text


def routes_overlap(a: HttpTrigger, b: HttpTrigger) -> bool:
    """Whether some request could match both: the same path and host, and a method both take
    (no methods means all)."""
    if a.path != b.path or (a.host or "").lower() != (b.host or "").lower():
        return False
    return not a.methods or not b.methods or bool(set(a.methods) & set(b.methods))


def seniority(trigger: Trigger) -> tuple[str, str, str]:
    """Older first: creation time, then name, then namespace (a total order every replica shares)."""
    return (trigger.created, trigger.name, trigger.namespace)


def route_holders(triggers: Iterable[Trigger]) -> dict[str, Trigger]:
    """For each HTTP Trigger that claims a route an older Trigger already holds, that holder
    (keyed by the loser's ``key``). Triggers not in the result hold their routes."""
    held: dict[tuple[str, str], list[Trigger]] = {}
    losers: dict[str, Trigger] = {}
    for trigger in sorted((t for t in triggers if t.http is not None), key=seniority):
        http = trigger.http
        assert http is not None
        group = held.setdefault(((http.host or "").lower(), http.path), [])
        holder = next((h for h in group if h.http is not None and routes_overlap(h.http, http)), None)
        if holder is None:
            group.append(trigger)
        else:
            losers[trigger.key] = holder
    return losers


def describe_route(http: HttpTrigger) -> str:
    """``GET,POST example.com/orders`` as a message shows it."""
    methods = ",".join(http.methods) if http.methods else "any method"
    return f"{methods} {http.host or '*'}{http.path}"


def _parse_http(http: Any) -> HttpTrigger:
    _typed(http, Mapping, "spec.http", "an object")
    path = _typed(_require(http, "path", "spec.http"), str, "spec.http.path", "a path")
    if not _PATH.match(path):
        raise SpecError("spec.http.path", f"{path!r} must start with / and hold URL path characters")
    if is_reserved_path(path):
        raise SpecError("spec.http.path", f"{path!r} {RESERVED_MESSAGE}")
    try:
        path_template(path)
    except ValueError as exc:
        raise SpecError("spec.http.path", f"{path!r}: {exc}") from None
    methods = tuple(http.get("methods") or ())
    for i, method in enumerate(methods):
        if method not in HTTP_METHODS:
            raise SpecError(f"spec.http.methods[{i}]", f"Unsupported value {method!r}")
    host = http.get("host")
    if host is not None and not _HOST.match(_typed(host, str, "spec.http.host", "a host name")):
        raise SpecError("spec.http.host", f"{host!r} is not a host name")
    payload_format = http.get("payloadFormat", "1.0")
    if payload_format not in PAYLOAD_FORMATS:
        raise SpecError("spec.http.payloadFormat", f"Unsupported value {payload_format!r}: one of 1.0, 2.0")
    return HttpTrigger(path=path, methods=methods, host=host, payload_format=payload_format)


def _parse_queue(queue: Any, namespace: str, trigger: str) -> QueueTrigger:
    _typed(queue, Mapping, "spec.queue", "an object")
    stream = _typed(_require(queue, "stream", "spec.queue"), str, "spec.queue.stream", "a stream name")
    if not _STREAM.match(stream):
        raise SpecError("spec.queue.stream", f"{stream!r} is not a valid stream name")
    backoff = queue.get("backoff") or {}
    initial = _duration_in(
        backoff.get("initial", "1s"), "spec.queue.backoff.initial", 0.001, 86400, "1ms", "24h"
    )
    maximum = _duration_in(backoff.get("max", "5m"), "spec.queue.backoff.max", 0.001, 86400, "1ms", "24h")
    multiplier = backoff.get("multiplier", 2)
    _typed(multiplier, (int, float), "spec.queue.backoff.multiplier", "a number")
    max_in_flight = queue.get("maxInFlight")
    age = queue.get("maxEventAge")
    failure = queue.get("onFailure")
    window = queue.get("batchWindow")
    return QueueTrigger(
        stream=stream,
        group=str(queue.get("group") or f"wisp.{namespace}.{trigger}"),
        batch_size=_int_in(queue.get("batchSize", 10), "spec.queue.batchSize", 1, 1000),
        max_retries=_int_in(queue.get("maxRetries", 3), "spec.queue.maxRetries", 0, 100),
        max_in_flight=(
            None if max_in_flight is None else _int_in(max_in_flight, "spec.queue.maxInFlight", 1, 10000)
        ),
        backoff_initial=initial,
        backoff_max=maximum,
        backoff_multiplier=float(multiplier),
        dead_letter=str(queue.get("deadLetter") or f"{stream}.dead"),
        max_event_age=(
            None
            if age is None
            else _duration_in(age, "spec.queue.maxEventAge", MIN_EVENT_AGE, MAX_EVENT_AGE, "60s", "6h")
        ),
        on_failure=None if failure is None else parse_destination(failure, "spec.queue.onFailure"),
        batch_window=(
            None if window is None else _duration_in(window, "spec.queue.batchWindow", 0, 300, "0s", "5m")
        ),
    )


def _parse_schedule(schedule: Any) -> ScheduleTrigger:
    _typed(schedule, Mapping, "spec.schedule", "an object")
    cron = _typed(_require(schedule, "cron", "spec.schedule"), str, "spec.schedule.cron", "a cron expression")
    if len(cron.split()) != 5:
        raise SpecError("spec.schedule.cron", f"{cron!r} must have 5 fields (minute hour day month weekday)")
    timezone = str(schedule.get("timezone") or "UTC")
    return ScheduleTrigger(cron=cron.strip(), timezone=timezone, payload=schedule.get("payload"))
