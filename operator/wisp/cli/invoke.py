"""``wisp invoke NAME``: call a function through the gateway and print its answer.

The gateway is ``--gateway``, else ``WISP_GATEWAY_URL``, else http://127.0.0.1:8080 (``wisp
dev``, or a ``kubectl port-forward`` of the gateway). ``--async`` queues the call and prints the
invocation id. An answer of 400 or more exits with 1 after printing the body.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from wisp.api.names import function_key
from wisp.cli.errors import CliError, unreachable
from wisp.cli.output import emit

DEFAULT_GATEWAY = "http://127.0.0.1:8080"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the function")
    parser.add_argument(
        "--data", "-d", default="{}", help="the event: JSON text, @file, or @- for stdin ({})"
    )
    parser.add_argument(
        "--async", dest="asynchronous", action="store_true", help="queue the call; print its invocation id"
    )
    parser.add_argument("--gateway", default=None, help=f"gateway URL (WISP_GATEWAY_URL; {DEFAULT_GATEWAY})")
    parser.add_argument("-n", "--namespace", help="the function's namespace (the gateway's default)")
    parser.add_argument("--timeout", type=float, default=960.0, help="seconds to wait for the answer")
    parser.add_argument(
        "-o", "--output", choices=("json", "yaml"), help="print status, headers and body for scripts"
    )


def read_data(data: str) -> bytes:
    if data.startswith("@"):
        source = data[1:]
        try:
            raw = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
        except OSError as exc:
            raise CliError(f"cannot read --data file {source}: {exc.strerror}") from None
    else:
        raw = data.encode()
    try:
        json.loads(raw or b"{}")
    except ValueError as exc:
        raise CliError(f'--data is not JSON ({exc}); quote it: --data \'{{"name": "ada"}}\'') from None
    return raw


def gateway_url(explicit: str | None) -> str:
    return (explicit or os.environ.get("WISP_GATEWAY_URL") or DEFAULT_GATEWAY).rstrip("/")


def run(args: argparse.Namespace) -> int:
    body = read_data(args.data)
    target = function_key(args.name, args.namespace) if args.namespace else args.name
    base = gateway_url(args.gateway)
    prefix = "/async-function/" if args.asynchronous else "/function/"
    if not base.startswith(("http://", "https://")):
        raise CliError(f"the gateway URL {base!r} must start with http:// or https://")
    request = urllib.request.Request(  # noqa: S310 - checked to be http(s) above
        f"{base}{prefix}{target}",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as response:  # noqa: S310 - http(s) URL
            status, headers, payload = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        status, headers, payload = exc.code, dict(exc.headers), exc.read()
    except (urllib.error.URLError, OSError) as exc:
        remedy = "start `wisp dev`, port-forward the gateway, or pass --gateway / WISP_GATEWAY_URL"
        raise unreachable(exc, "gateway", base, remedy) from None
    if args.output:
        emit({"status": status, "headers": headers, "body": _decoded(payload)}, args.output)
    else:
        sys.stdout.write(payload.decode("utf-8", "replace"))
        if payload and not payload.endswith(b"\n"):
            sys.stdout.write("\n")
        sys.stdout.flush()
    if status >= 400:
        print(f"wisp: {args.name} answered {status}", file=sys.stderr)
        return 1
    return 0


def _decoded(payload: bytes) -> Any:
    try:
        return json.loads(payload)
    except ValueError:
        return payload.decode("utf-8", "replace")
