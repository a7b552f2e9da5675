"""``wisp dlq``: a function's or queue trigger's dead letters: list, show, redrive, purge.

Talks to the gateway's admin API (``/system/dead-letters``, see wisp.queue.admin): ``--gateway``,
else ``WISP_GATEWAY_URL``, else http://127.0.0.1:8080 (``wisp dev``, or a port-forward of the
gateway), with the admin token (``--token`` or ``WISP_ADMIN_TOKEN``) that ``/system/`` needs in a
cluster, or on the gateway's admin port a tenant's own Kubernetes token (``kubectl create token``),
which sees and changes the namespaces its RBAC allows (docs/tenancy.md). ``wisp dlq list``
without a source shows every source and its count; with ``--function NAME`` or ``--trigger NAME``,
its entries. ``redrive`` and ``purge`` take entry ids, or ``--all``, optionally narrowed by
``--reason``.
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

from wisp.api.names import function_key
from wisp.cli.errors import CliError, reaching
from wisp.cli.invoke import gateway_url
from wisp.cli.output import emit, table

PREFIX = "/system/dead-letters"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for verb, help_text in (
        ("list", "sources and their counts, or one source's entries"),
        ("show", "one dead letter"),
        ("redrive", "send dead letters back to their function (same id, attempts start over)"),
        ("purge", "delete dead letters"),
    ):
        sub = verbs.add_parser(verb, help=help_text, description=help_text)
        source = sub.add_mutually_exclusive_group(required=verb != "list")
        source.add_argument("--function", "-f", help="a function's async dead letters")
        source.add_argument("--trigger", "-t", help="a queue trigger's dead letters")
        sub.add_argument("-n", "--namespace", help="the namespace (the gateway's default)")
        sub.add_argument(
            "--gateway", default=None, help="gateway URL (WISP_GATEWAY_URL; http://127.0.0.1:8080)"
        )
        sub.add_argument(
            "--token",
            help="admin token (WISP_ADMIN_TOKEN), or your Kubernetes token on the gateway's admin port",
        )
        sub.add_argument("-o", "--output", choices=("json", "yaml"), help="print the answer for scripts")
        if verb == "show":
            sub.add_argument("id", help="the dead letter's id")
        if verb in ("list", "redrive", "purge"):
            sub.add_argument("--reason", help="only entries with this reason (e.g. retries_exhausted)")
        if verb == "list":
            sub.add_argument("--count", type=int, default=100, help="entries to show (100)")
        if verb in ("redrive", "purge"):
            sub.add_argument("ids", nargs="*", help="dead-letter ids (see wisp dlq list)")
            sub.add_argument(
                "--all", action="store_true", help="every entry (with --reason: every such entry)"
            )


def _source(args: argparse.Namespace) -> str | None:
    name = args.function or args.trigger
    if name is None:
        return None
    kind = "functions" if args.function else "triggers"
    key = function_key(name, args.namespace) if args.namespace else name
    return f"{kind}/{urllib.parse.quote(key, safe='.')}"


def request(args: argparse.Namespace, path: str, body: Any = None) -> Any:
    base = gateway_url(args.gateway)
    if not base.startswith(("http://", "https://")):
        raise CliError(f"the gateway URL {base!r} must start with http:// or https://")
    token = args.token or os.environ.get("WISP_ADMIN_TOKEN") or None
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    call = urllib.request.Request(  # noqa: S310 - http(s) checked above
        f"{base}{path}", data=data, method="GET" if body is None else "POST", headers=headers
    )
    remedy = "start `wisp dev`, port-forward the gateway, or pass --gateway / WISP_GATEWAY_URL"
    with reaching("gateway", base, remedy), urllib.request.urlopen(call, timeout=60) as response:  # noqa: S310
        return json.loads(response.read())


def run(args: argparse.Namespace) -> int:
    source = _source(args)
    if args.verb == "list":
        return _list(args, source)
    assert source is not None  # required for the other verbs
    if args.verb == "show":
        answer = request(args, f"{PREFIX}/{source}/{urllib.parse.quote(args.id)}")
        emit(answer, args.output or "yaml")
        return 0
    if not args.ids and not args.all:
        raise CliError(f"name the dead letters to {args.verb}: ids, or --all")
    body: dict[str, Any] = {"all": True} if args.all and not args.ids else {"ids": args.ids}
    if args.reason:
        body["reason"] = args.reason
    answer = request(args, f"{PREFIX}/{source}/{args.verb}", body)
    if args.output:
        emit(answer, args.output)
    elif args.verb == "redrive":
        print(f"redriven: {answer['redriven']}")
    else:
        print(f"purged: {answer['purged']}")
    return 0


def _list(args: argparse.Namespace, source: str | None) -> int:
    if source is None:
        sources = request(args, PREFIX)["sources"]
        if args.output:
            emit(sources, args.output)
        else:
            summary = [(s["kind"], s["name"], s["stream"], s["count"]) for s in sources]
            print(table(("KIND", "NAME", "STREAM", "DEAD LETTERS"), summary))
        return 0
    query = {"count": str(args.count)}
    if args.reason:
        query["reason"] = args.reason
    answer = request(args, f"{PREFIX}/{source}?{urllib.parse.urlencode(query)}")
    entries = answer["entries"]
    if args.output:
        emit(entries, args.output)
        return 0
    rows = [
        (
            e["id"],
            e.get("invocationId") or e["originalId"],
            e["reason"],
            e["attempts"],
            e["failedAt"],
            _short(e["error"]),
        )
        for e in entries
    ]
    print(table(("ID", "EVENT", "REASON", "ATTEMPTS", "FAILED AT", "ERROR"), rows))
    if not entries:
        print(f"no dead letters in {answer['source']['stream']}", file=sys.stderr)
    return 0


def _short(text: str, width: int = 60) -> str:
    line = text.replace("\n", " ")
    return line if len(line) <= width else line[: width - 1] + "…"
