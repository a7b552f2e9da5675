"""``wisp alias NAME ALIAS VERSION [--shift N=PERCENT]``: point an alias at a version, or split
its calls between two (Lambda's UpdateAlias with a routing config). A rollback is this with the
previous version; ``--delete`` removes the alias. One merge patch of the Function's
``spec.aliases``: the API server refuses a version that is not published, naming the field."""

from __future__ import annotations

import argparse
from typing import Any

from wisp.api import names
from wisp.cli import kube
from wisp.cli.errors import CliError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the function")
    parser.add_argument("alias", help="the alias (prod, beta, ...)")
    parser.add_argument("version", nargs="?", type=int, help="the version the alias names")
    parser.add_argument(
        "--shift", metavar="N=PERCENT", help="send PERCENT of the alias's calls to version N (canary)"
    )
    parser.add_argument("--delete", action="store_true", help="remove the alias")
    kube.add_arguments(parser)


def alias_patch(version: int | None, shift: str | None, delete: bool) -> dict[str, Any] | None:
    """The alias's new body (None deletes it); CliError for arguments that do not make one."""
    if delete:
        return None
    if version is None:
        raise CliError("name the version the alias points at (or --delete)")
    body: dict[str, Any] = {"version": version, "additionalVersionWeights": None}
    if shift:
        other, sep, percent = shift.partition("=")
        if not sep or not other.isdigit() or not percent.isdigit():
            raise CliError(f"--shift takes VERSION=PERCENT (for example 4=10), got {shift!r}")
        body["additionalVersionWeights"] = {str(int(other)): int(percent)}
    return body


def run(args: argparse.Namespace) -> int:
    body = alias_patch(args.version, args.shift, args.delete)
    cluster = kube.connect(args)
    # The whole alias is replaced: merge patch sets null for the routing it no longer has.
    cluster.patch(names.FUNCTIONS, args.name, {"spec": {"aliases": {args.alias: body}}})
    if body is None:
        print(f"function/{args.name}: alias {args.alias} deleted")
    elif args.shift:
        print(f"function/{args.name}:{args.alias} -> version {args.version}, {args.shift}%")
    else:
        print(f"function/{args.name}:{args.alias} -> version {args.version}")
    return 0
