"""``wisp versions NAME``: a Function's published versions and the aliases that name them."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from wisp.api import names
from wisp.api.version import Alias, parse_aliases, version_ref
from wisp.cli import kube
from wisp.cli.output import emit, table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the function")
    kube.add_arguments(parser, output=True)


def traffic(aliases: Mapping[str, Alias], number: int) -> list[str]:
    """``prod 90%`` for each alias that sends calls to version ``number``."""
    out = []
    for alias in sorted(aliases.values(), key=lambda a: a.name):
        if alias.version == number:
            out.append(f"{alias.name} {100 - alias.weight if alias.additional else 100}%")
        elif alias.additional == number:
            out.append(f"{alias.name} {alias.weight}%")
    return out


def rows(function: Mapping[str, Any], versions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    aliases = parse_aliases((function.get("spec") or {}).get("aliases"))
    out = []
    for obj in versions:
        ref = version_ref(obj)
        if ref is None:
            continue
        status = obj.get("status") or {}
        ready = kube.condition(obj, "Ready") or {}
        out.append(
            {
                "version": ref.number,
                "aliases": traffic(aliases, ref.number),
                "ready": ready.get("status", "Unknown"),
                "replicas": status.get("replicas", 0),
                "code": status.get("codeHash", ""),
                "created": (obj.get("metadata") or {}).get("creationTimestamp", ""),
            }
        )
    return sorted(out, key=lambda r: -int(r["version"]))


def run(args: argparse.Namespace) -> int:
    cluster = kube.connect(args)
    function = cluster.get(names.FUNCTIONS, args.name)
    versions = cluster.list_all(names.FUNCTION_VERSIONS, f"{names.VERSION_OF_LABEL}={args.name}")
    found = rows(function, versions)
    if args.output:
        emit(found, args.output)
        return 0
    if not found:
        print(f"function {args.name} has no versions yet (publish one: wisp publish {args.name})")
        return 0
    print(
        table(
            ["VERSION", "ALIASES", "READY", "REPLICAS", "CODE", "CREATED"],
            [
                [
                    r["version"],
                    ", ".join(r["aliases"]) or "-",
                    r["ready"],
                    r["replicas"],
                    r["code"],
                    r["created"],
                ]
                for r in found
            ],
        )
    )
    return 0
