"""``wisp list``: the namespace's Functions as a table (or ``-o json|yaml``).

Runtime, Ready, replicas (ready/desired) and URL come from each Function's status; the
invocation count comes from the gateway's ``/system/stats`` when ``--admin-url`` (or
``WISP_GATEWAY_ADMIN_URL``) answers, and is ``-`` otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.request
from typing import Any

from wisp.api import names
from wisp.cli import kube
from wisp.cli.output import emit, table

DEFAULT_ADMIN = "http://127.0.0.1:9090"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    kube.add_arguments(parser, output=True)
    parser.add_argument(
        "--admin-url",
        default=None,
        help=f"the gateway's admin URL for invocation counts (WISP_GATEWAY_ADMIN_URL; {DEFAULT_ADMIN})",
    )


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


def run(args: argparse.Namespace) -> int:
    cluster = kube.connect(args)
    counts = invocations(args.admin_url or os.environ.get("WISP_GATEWAY_ADMIN_URL") or DEFAULT_ADMIN)
    functions = sorted(cluster.list_all(names.FUNCTIONS), key=lambda o: str(o["metadata"]["name"]))
    rows = [row(obj, counts) for obj in functions]
    if args.output:
        emit(rows, args.output)
        return 0
    if not rows:
        print(f"no functions in namespace {cluster.namespace} (create one: wisp init NAME; wisp deploy NAME)")
        return 0
    print(
        table(
            ["NAME", "RUNTIME", "READY", "REPLICAS", "URL", "INVOCATIONS"],
            [
                [
                    r["name"],
                    r["runtime"],
                    r["ready"],
                    f"{r['readyReplicas']}/{r['replicas']}",
                    r["url"],
                    "-" if r["invocations"] is None else r["invocations"],
                ]
                for r in rows
            ],
        )
    )
    return 0
