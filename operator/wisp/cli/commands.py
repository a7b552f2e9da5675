"""Subcommand table of the ``wisp`` command.

Each subcommand lives in its own module exposing ``add_arguments(parser)`` and
``run(args) -> int``; this table only wires them to names, importing a module when its command
runs so that ``wisp --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from wisp import __version__

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "operator": ("wisp.controller.run", "run the operator (reconciles Functions and Triggers)"),
    "gateway": ("wisp.startup.cluster", "run the gateway (routing, scale from zero, autoscaling)"),
    "dev": ("wisp.cli.dev", "run wisp on this machine: gateway + functions from a folder"),
    "init": ("wisp.cli.init", "create a function folder from a template"),
    "deploy": ("wisp.cli.deploy", "apply a function (folder or YAML) to the cluster and wait"),
    "invoke": ("wisp.cli.invoke", "call a function through the gateway"),
    "list": ("wisp.cli.listing", "list functions with their state"),
    "describe": ("wisp.cli.describe", "show a function's spec, conditions and events"),
    "logs": ("wisp.cli.logs", "print the logs of a function's pods"),
    "delete": ("wisp.cli.delete", "delete a function and its triggers"),
    "publish": ("wisp.cli.publish", "publish an immutable, numbered version of a function"),
    "versions": ("wisp.cli.versions", "list a function's versions and aliases"),
    "alias": ("wisp.cli.alias", "point an alias at a version, or split it between two (rollback)"),
    "dlq": ("wisp.cli.dlq", "list, show, redrive or purge dead letters of functions and queue triggers"),
    "fetch-code": (
        "wisp.cli.fetch_code",
        "fetch a code package by digest, check it and unpack it (a pod's init step)",
    ),
    "usage": ("wisp.cli.usage", "billed GB-seconds per function per hour or day (CSV with --csv)"),
}


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser, with full arguments only for the command named in ``argv``."""
    parser = argparse.ArgumentParser(prog="wisp", description="Kubernetes-native functions.")
    parser.add_argument("--version", action="version", version=f"wisp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = {a for a in argv if a in COMMANDS}
    for name, (module_name, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.set_defaults(_module=module_name)
        if name in wanted:
            importlib.import_module(module_name).add_arguments(command)
    return parser


def run(argv: Sequence[str]) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(list(argv))
    if not getattr(args, "_module", None):
        parser.print_help()
        return 2
    from wisp.cli.errors import CliError

    try:
        result: int = importlib.import_module(args._module).run(args)
    except CliError as exc:
        print(f"wisp: {exc}", file=sys.stderr, flush=True)
        return exc.code
    except KeyboardInterrupt:
        return 130
    return result
