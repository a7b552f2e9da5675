"""What ``wisp dev`` prints: the start banner and how a runtime's JSON log line is shown.

Pure text functions; the supervisor prints them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from wisp.api.names import function_key
from wisp.api.trigger import Trigger
from wisp.source import FunctionSource


@dataclass(frozen=True)
class BannerFacts:
    url: str  # the gateway's base URL
    admin_url: str
    directory: str
    events: str  # one line on queue/schedule support
    functions: Sequence[FunctionSource]
    unavailable: Sequence[tuple[str, str]]  # (function name, why it cannot run here)
    triggers: Sequence[Trigger]
    errors: Sequence[str]
    default_namespace: str = "default"


def function_path(name: str, namespace: str, default_namespace: str) -> str:
    return (
        f"/function/{name}"
        if namespace == default_namespace
        else f"/function/{function_key(name, namespace)}"
    )


def trigger_route(trigger: Trigger) -> str:
    if trigger.http is not None:
        methods = ",".join(trigger.http.methods) or "any method"
        host = f" (host {trigger.http.host})" if trigger.http.host else ""
        return f"{trigger.http.path} [{methods}]{host}"
    if trigger.queue is not None:
        return f"queue stream {trigger.queue.stream}"
    assert trigger.schedule is not None
    return f"schedule {trigger.schedule.cron} ({trigger.schedule.timezone})"


def banner(facts: BannerFacts) -> str:
    lines = [
        f"wisp dev: gateway on {facts.url}   console {facts.url}/ui/   metrics {facts.admin_url}/metrics",
        f"  events: {facts.events}",
        f"  functions from {facts.directory}:",
    ]
    unavailable = dict(facts.unavailable)
    width = max((len(s.function.name) for s in facts.functions), default=8) + 2
    for source in sorted(facts.functions, key=lambda s: s.key):
        fn = source.function
        routes = [function_path(fn.name, fn.namespace, facts.default_namespace)]
        routes += [trigger_route(t) for t in facts.triggers if t.function_key == fn.key]
        note = f"   (not started: {unavailable[fn.name]})" if fn.name in unavailable else ""
        lines.append(f"    {fn.name:<{width}}{fn.spec.runtime.value:<12}{', '.join(routes)}{note}")
    if not facts.functions:
        lines.append("    (none yet: add a Function YAML there)")
    for error in facts.errors:
        lines.append(f"  skipped {error}")
    callable_ = [s for s in facts.functions if s.function.name not in unavailable]
    if callable_:
        first = sorted(callable_, key=lambda s: (s.function.name != "hello", s.key))[0].function
        path = function_path(first.name, first.namespace, facts.default_namespace)
        lines.append(f'  try:  curl -s -d \'{{"name": "wisp"}}\' {facts.url}{path}')
    lines.append(f"  watching {facts.directory} for changes; Ctrl-C stops everything")
    lines.append("wisp dev: ready")
    return "\n".join(lines)


def log_line(replica: str, line: str) -> str | None:
    """A runtime's log line for the terminal: ``replica | LEVEL message``; None to hide it."""
    try:
        record = json.loads(line)
    except ValueError:
        return f"{replica:>14} | {line}"
    if not isinstance(record, dict):
        return f"{replica:>14} | {line}"
    if record.get("event") == "wisp.runtime.listening":
        return None
    level = str(record.get("level", "INFO"))
    message = str(record.get("message", line))
    request = str(record.get("requestId") or "")[:8]
    prefix = f"{level} [{request}] " if request else f"{level} "
    return f"{replica:>14} | {prefix}{message}"
