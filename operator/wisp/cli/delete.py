"""``wisp delete NAME``: delete a Function and the Triggers that name it.

The Function's ConfigMap, Deployment and Service go with it (owner references).
"""

from __future__ import annotations

import argparse

from wisp.api import names
from wisp.cli import kube


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the function")
    parser.add_argument("--keep-triggers", action="store_true", help="leave its Triggers in place")
    kube.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    cluster = kube.connect(args)
    cluster.get(names.FUNCTIONS, args.name)  # a clear "not found" before anything is deleted
    triggers = (
        []
        if args.keep_triggers
        else [
            t["metadata"]["name"]
            for t in cluster.list_all(names.TRIGGERS)
            if (t.get("spec") or {}).get("function") == args.name
        ]
    )
    for name in triggers:
        cluster.delete(names.TRIGGERS, name)
        print(f"trigger/{name} deleted")
    cluster.delete(names.FUNCTIONS, args.name)
    print(f"function/{args.name} deleted (namespace {cluster.namespace})")
    return 0
