"""``wisp publish NAME``: publish a version of a Function (Lambda's PublishVersion).

The operator is the one publisher (it numbers versions and snapshots a referenced ConfigMap's
code): this asks it to, by a fresh ``publish.wisp.dev/request`` annotation, and waits until the
Function's status says the request was handled. When the newest version already holds the
Function's code and configuration, that version is the answer (as in Lambda).
"""

from __future__ import annotations

import argparse
import time
import uuid

from wisp.api import names
from wisp.cli import kube
from wisp.cli.errors import CliError

POLL_SECONDS = 0.25


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the function")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the operator (60)")
    kube.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    cluster = kube.connect(args)
    request = uuid.uuid4().hex
    cluster.patch(
        names.FUNCTIONS, args.name, {"metadata": {"annotations": {names.PUBLISH_ANNOTATION: request}}}
    )
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        status = cluster.get(names.FUNCTIONS, args.name).get("status") or {}
        if status.get("publishRequest") == request:
            version = int(status.get("latestVersion") or 0)
            if version == 0:
                raise CliError(f"function {args.name} was not published: see `wisp describe {args.name}`")
            print(f"function/{args.name} version {version} (call it as /function/{args.name}:{version})")
            return 0
        time.sleep(POLL_SECONDS)
    raise CliError(f"the operator did not publish {args.name} within {args.timeout:g} s: is it running?")
