"""``wisp list``: the namespace's Functions as a table (or ``-o json|yaml``); ``-A`` lists those of
every namespace the caller's credential may list, with their namespace (a tenant's credential
sees its own namespaces only).

Runtime, Ready, replicas (ready/desired) and URL come from each Function's status; the
invocation count comes from the gateway's ``/system/stats`` when ``--admin-url`` (or
``WISP_GATEWAY_ADMIN_URL``) answers, and is ``-`` otherwise.

With ``--console`` (or ``WISP_CONSOLE_URL``) the list comes from the gateway's console API
instead, with the gateway's own numbers, and holds what ``--token`` may see
(``wisp.cli.console_api``).
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.request
from typing import Any

from wisp.api import names
from wisp.cli import console_api, kube
from wisp.cli.output import emit, table

DEFAULT_ADMIN = "http://127.0.0.1:9090"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    kube.add_arguments(parser, output=True)
    parser.add_argument(
        "-A",
        "--all-namespaces",
        action="store_true",
        help="every namespace your credential may list Functions in",
    )
    parser.add_argument(
        "--admin-url",
        default=None,
        help=f"the gateway's admin URL for invocation counts (WISP_GATEWAY_ADMIN_URL; {DEFAULT_ADMIN})",
    )
    console_api.add_arguments(parser)


def invocations(admin_url: str) -> dict[tuple[str, str], int]:
    """(function, namespace) -> invocations, from the gateway's stats API; empty if it is away."""
    try:
        with urllib.request.urlopen(f"{admin_url.rstrip('/')}/system/stats", timeout=1.0) as resp:  # noqa: S310
            stats = json.loads(resp.read())
    except (OSError, ValueError):
        return {}
    return {
        (row["function"], row["namespace"]): int(row.get("invocations") or 0)
        for row in stats.get("functions") or ()
        if isinstance(row, dict)
    }


def row(obj: dict[str, Any], counts: dict[tuple[str, str], int]) -> dict[str, Any]:
    meta, spec, status = obj["metadata"], obj.get("spec") or {}, obj.get("status") or {}
    ready = kube.condition(obj, "Ready")
    return {
        "name": meta["name"],
        "namespace": meta.get("namespace"),
        "runtime": spec.get("runtime"),
        "ready": (ready or {}).get("status", "Unknown"),
        "reason": (ready or {}).get("reason", ""),
        "replicas": status.get("replicas", 0),
        "readyReplicas": status.get("readyReplicas", 0),
        "url": status.get("url", ""),
        "invocations": counts.get((meta["name"], meta.get("namespace", ""))),
    }


def console_row(item: dict[str, Any]) -> dict[str, Any]:
    """A row of the console's functions list in ``row``'s shape."""
    replicas = item.get("replicas") or {}
    ready = item.get("ready")
    return {
        "name": item["name"],
        "namespace": item["namespace"],
        "runtime": item.get("runtime"),
        "ready": "Unknown" if ready is None else str(bool(ready)),
        "reason": item.get("reason") or "",
        "replicas": replicas.get("desired") or 0,
        "readyReplicas": replicas.get("ready") or 0,
        "url": "",
        "invocations": item.get("invocations"),
    }


def through_console(base: str, args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[str] | None]:
    bearer = console_api.token(args)
    listed = [console_row(item) for item in console_api.get(base, "functions", bearer)["functions"]]
    if args.all_namespaces:
        return listed, None
    namespace = console_api.namespace_for(base, bearer, args.namespace)
    return [r for r in listed if r["namespace"] == namespace], [namespace]


def through_kubernetes(args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[str] | None]:
    cluster = kube.connect(args)
    counts = invocations(args.admin_url or os.environ.get("WISP_GATEWAY_ADMIN_URL") or DEFAULT_ADMIN)
    if args.all_namespaces:
        found, namespaces = cluster.list_visible(names.FUNCTIONS)
    else:
        found, namespaces = cluster.list_all(names.FUNCTIONS), [cluster.namespace]
    return [row(obj, counts) for obj in found], namespaces


def run(args: argparse.Namespace) -> int:
    base = console_api.console_url(args)
    found, namespaces = through_console(base, args) if base else through_kubernetes(args)
    rows = sorted(found, key=lambda r: (str(r["namespace"]), str(r["name"])))
    if args.output:
        emit(rows, args.output)
        return 0
    if not rows:
        where = "any namespace you may list" if namespaces is None else "namespace " + ", ".join(namespaces)
        print(f"no functions in {where} (create one: wisp init NAME; wisp deploy NAME)")
        return 0
    columns = ["NAME", "RUNTIME", "READY", "REPLICAS", "URL", "INVOCATIONS"]
    lines = [
        [
            r["name"],
            r["runtime"],
            r["ready"],
            f"{r['readyReplicas']}/{r['replicas']}",
            r["url"],
            "-" if r["invocations"] is None else r["invocations"],
        ]
        for r in rows
    ]
    if args.all_namespaces:
        columns.insert(0, "NAMESPACE")
        lines = [[r["namespace"], *line] for r, line in zip(rows, lines, strict=True)]
    print(table(columns, lines))
    return 0
