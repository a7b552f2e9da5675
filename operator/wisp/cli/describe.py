"""``wisp describe NAME``: a Function's spec, status conditions, triggers, the warm pool pod
serving it (if one does), and recent events."""

from __future__ import annotations

import argparse
import datetime
from typing import Any

from wisp.api import names
from wisp.api.defaults import FUNCTION_DEFAULTS as DEFAULTS
from wisp.api.runtimes import deprecation_warning
from wisp.cli import console_api, kube
from wisp.cli.output import emit, table

RECENT_EVENTS = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the function")
    kube.add_arguments(parser, output=True)
    console_api.add_arguments(parser)


def code_summary(code: dict[str, Any]) -> str:
    if "inline" in code:
        return f"inline ({len(str(code['inline']).splitlines())} lines)"
    if "files" in code:
        return "files: " + ", ".join(sorted(code["files"]))
    if "configMapRef" in code:
        return f"ConfigMap {code['configMapRef'].get('name')}"
    if "archive" in code:
        archive = code["archive"] or {}
        where = archive.get("url") or archive.get("repository") or "the installation's package store"
        return f"package {archive.get('digest')} from {where}"
    return f"image {code.get('image')}"


def out_of_memory(oom: dict[str, Any], memory: str) -> str:
    """``status.outOfMemory`` in a line: how often the function ran out of memory, and where last."""
    kills = int(oom.get("kills", 0) or 0)
    times = "once" if kills == 1 else f"{kills} times"
    line = f"OOMKilled {times}, last at {oom.get('lastKill')} in pod {oom.get('pod')}"
    line += f" with {oom.get('memory')}"
    if oom.get("memory") == memory:
        return line + " (raise spec.memory)"
    return line + f" (memory is now {memory})"


def pool_pod_summary(pod: Any) -> dict[str, str]:
    """A warm pool pod claimed for the function: its name and state (docs/warm-pool.md)."""
    labels = pod.metadata.labels or {}
    return {"name": pod.metadata.name, "state": labels.get(names.POOL_STATE_LABEL, "")}


def _event_time(event: Any) -> str:
    stamp = event.last_timestamp or event.event_time or event.first_timestamp
    return stamp.strftime("%Y-%m-%d %H:%M:%S") if stamp is not None else ""


def run(args: argparse.Namespace) -> int:
    base = console_api.console_url(args)
    if base is not None:
        return through_console(base, args)
    cluster = kube.connect(args)
    obj = cluster.get(names.FUNCTIONS, args.name)
    triggers = [
        t for t in cluster.list_all(names.TRIGGERS) if (t.get("spec") or {}).get("function") == args.name
    ]
    events = sorted(cluster.events("Function", args.name), key=_event_time)[-RECENT_EVENTS:]
    pool = [pool_pod_summary(p) for p in cluster.pool_pods(args.name)]
    if args.output:
        emit(
            {
                "function": obj,
                "triggers": triggers,
                "poolPods": pool,
                "events": [
                    {"time": _event_time(e), "type": e.type, "reason": e.reason, "message": e.message}
                    for e in events
                ],
            },
            args.output,
        )
        return 0
    lines = summary(obj, pool)
    lines += ["", "Triggers:"]
    lines.append(
        _indent(table(["NAME", "KIND", "ROUTE"], [[t["metadata"]["name"], *_route(t)] for t in triggers]))
        if triggers
        else "  (none)"
    )
    lines += ["", "Events:"]
    lines.append(
        _indent(
            table(
                ["TIME", "TYPE", "REASON", "MESSAGE"],
                [[_event_time(e), e.type, e.reason, e.message] for e in events],
            )
        )
        if events
        else "  (none)"
    )
    print("\n".join(lines))
    return 0


def through_console(base: str, args: argparse.Namespace) -> int:
    """The Function as the gateway's console shows it to ``--token``: spec and conditions (its
    Triggers and events are the Kubernetes API's, not the console's)."""
    bearer = console_api.token(args)
    namespace = console_api.namespace_for(base, bearer, args.namespace)
    answer = console_api.get(base, console_api.function_path(namespace, args.name), bearer)
    manifest = answer.get("manifest") or {}
    obj = {**manifest, "status": answer.get("status") or {}}
    listing = console_api.get(base, "functions", bearer)
    live = next(
        (f for f in listing.get("functions") or [] if (f["namespace"], f["name"]) == (namespace, args.name)),
        None,
    )
    if args.output:
        emit({"function": obj, "live": live, "pool": listing.get("pool") or {}}, args.output)
        return 0
    lines = summary(obj, [])
    if live is not None:  # what the gateway saw of it since it started
        lines.insert(lines.index("") if "" in lines else len(lines), cold_starts(live))
    print("\n".join(lines))
    return 0


def cold_starts(live: dict[str, Any]) -> str:
    """The line for a function's cold starts as the console's gateway counted them."""
    total, pooled = int(live.get("coldStarts") or 0), int(live.get("poolStarts") or 0)
    if not total:
        return "Cold starts:  none since the gateway started"
    return f"Cold starts:  {total} ({pooled} from the warm pool, {total - pooled} on its own pods)"


def summary(obj: dict[str, Any], pool: list[dict[str, str]]) -> list[str]:
    """The Function's spec, status and conditions, as lines."""
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    scale = spec.get("scale") or {}
    lines = [
        f"Name:         {meta['name']}",
        f"Namespace:    {meta.get('namespace')}",
        f"Runtime:      {spec.get('runtime')}",
        f"Handler:      {spec.get('handler', '')}",
        f"Code:         {code_summary(spec.get('code') or {})}",
        f"Memory:       {spec.get('memory', DEFAULTS.memory)}   "
        f"Timeout: {spec.get('timeout', DEFAULTS.timeout)}   "
        f"Concurrency: {spec.get('concurrency', DEFAULTS.concurrency)}",
        f"Scale:        min {scale.get('min', DEFAULTS.scale_min)}, "
        f"max {scale.get('max', DEFAULTS.scale_max)}, "
        f"{scale.get('metric', DEFAULTS.scale_metric)} target {scale.get('target', DEFAULTS.scale_target)}, "
        f"idle {scale.get('idleTimeout', DEFAULTS.scale_idle_timeout)}",
        f"URL:          {status.get('url', '')}",
        f"Replicas:     {status.get('readyReplicas', 0)} ready / {status.get('replicas', 0)}",
    ]
    warning = deprecation_warning(str(spec.get("runtime")), datetime.date.today())
    if warning:
        lines.insert(3, f"Warning:      {warning}")
    for entry in pool:
        lines.append(
            f"Warm pool:    pod {entry['name']} ({entry['state']}) serves it until its own pods are ready"
        )
    oom = status.get("outOfMemory")
    if oom:
        lines.append(f"Memory kills: {out_of_memory(oom, str(spec.get('memory', DEFAULTS.memory)))}")
    lines += [
        "",
        "Conditions:",
    ]
    conditions = list(kube.conditions(obj))
    if conditions:
        lines.append(
            _indent(
                table(
                    ["TYPE", "STATUS", "REASON", "MESSAGE"],
                    [
                        [c.get("type"), c.get("status"), c.get("reason", ""), c.get("message", "")]
                        for c in conditions
                    ],
                )
            )
        )
    else:
        lines.append("  (none yet: is the wisp operator running?)")
    return lines


def _route(trigger: dict[str, Any]) -> list[str]:
    spec = trigger.get("spec") or {}
    if "http" in spec:
        return ["http", spec["http"].get("path", "")]
    if "queue" in spec:
        return ["queue", spec["queue"].get("stream", "")]
    if "schedule" in spec:
        return ["schedule", spec["schedule"].get("cron", "")]
    return ["?", ""]


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())
