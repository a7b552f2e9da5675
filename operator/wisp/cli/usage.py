"""``wisp usage``: billed GB-seconds per function per hour or day, as the console's Usage page
shows them (``--csv`` prints the same export), and each namespace's (tenant's) total;
``--namespace`` shows one namespace only.

Reads the console's API (``/ui/api/usage``) of a running gateway: ``--console``, else
``WISP_CONSOLE_URL``, else http://127.0.0.1:8080 (``wisp dev``). In a cluster the console is on
the gateway's admin port (``kubectl -n wisp-system port-forward svc/wisp-gateway 9090``) and
needs the admin token or the caller's Kubernetes bearer token, which sees its own namespaces'
usage only (``--token`` or ``WISP_ADMIN_TOKEN``; docs/tenancy.md).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from wisp.cli.errors import CliError, reaching
from wisp.cli.output import emit, table

DEFAULT_CONSOLE = "http://127.0.0.1:8080"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--period", choices=("hour", "day"), default="hour", help="group by (hour)")
    parser.add_argument("--function", help="only this function")
    parser.add_argument("-n", "--namespace", help="only this namespace (tenant)")
    parser.add_argument("--csv", action="store_true", help="print CSV (the console's export)")
    parser.add_argument(
        "--console", help=f"gateway serving the console (WISP_CONSOLE_URL; {DEFAULT_CONSOLE})"
    )
    parser.add_argument(
        "--token",
        help="a cluster console's admin token, or your Kubernetes bearer token (WISP_ADMIN_TOKEN)",
    )
    parser.add_argument("-o", "--output", choices=("json", "yaml"), help="print the rows for scripts")


def _fetch(base: str, query: dict[str, str], token: str | None) -> tuple[str, bytes]:
    url = f"{base}/ui/api/usage?{urllib.parse.urlencode(query)}"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - http(s) checked by the caller
    remedy = "start `wisp dev`, port-forward the gateway's admin port, or pass --console / WISP_CONSOLE_URL"
    with reaching("console", base, remedy), urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return response.headers.get("Content-Type", ""), response.read()


def format_table(data: dict[str, Any]) -> str:
    rows = [
        (
            r["function"],
            r["namespace"],
            r["periodStart"],
            r["invocations"],
            f"{r['gbSeconds']:.3f}",
            f"{r['cost']:.6f}",
        )
        for r in data["rows"]
    ]
    namespaces = data.get("namespaces") or []
    if len(namespaces) > 1:  # one line per tenant, then the sum
        rows += [
            ("TOTAL", n["namespace"], "", n["invocations"], f"{n['gbSeconds']:.3f}", f"{n['cost']:.6f}")
            for n in namespaces
        ]
    totals = data["totals"]
    rows.append(
        ("TOTAL", "", "", totals["invocations"], f"{totals['gbSeconds']:.3f}", f"{totals['cost']:.6f}")
    )
    headers = ("FUNCTION", "NAMESPACE", data["period"].upper(), "INVOCATIONS", "GB-SECONDS", "COST (USD)")
    per = f"{data['pricePerGbSecond']:.10f}".rstrip("0").rstrip(".")
    price = f"price: {per} USD per GB-second (WISP_PRICE_PER_GB_SECOND)"
    return f"{table(headers, rows)}\n{price}\n"


def run(args: argparse.Namespace) -> int:
    base = (args.console or os.environ.get("WISP_CONSOLE_URL") or DEFAULT_CONSOLE).rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise CliError(f"the console URL {base!r} must start with http:// or https://")
    query = {"period": args.period}
    if args.function:
        query["function"] = args.function
    if args.namespace:
        query["namespace"] = args.namespace
    if args.csv:
        query["format"] = "csv"
    token = args.token or os.environ.get("WISP_ADMIN_TOKEN") or None
    _, body = _fetch(base, query, token)
    if args.csv:
        sys.stdout.write(body.decode("utf-8"))
        return 0
    data = json.loads(body)
    if args.output:
        emit(data, args.output)
    elif not data["rows"]:
        print("no usage in the last 24 hours: call a function first")
    else:
        sys.stdout.write(format_table(data))
    return 0
