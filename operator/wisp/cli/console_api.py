"""The console's JSON API (``/ui/api/``) from the command line: ``wisp list --console`` and
``wisp describe --console`` read Functions through the gateway instead of the Kubernetes API.

The gateway answers with what the credential may see (docs/tenancy.md): the admin token sees
every namespace, a Kubernetes bearer token (``--token``, else ``WISP_TOKEN``, else
``WISP_ADMIN_TOKEN``) the namespaces its RBAC lets it read; a function of another namespace is
"not found".
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.parse
import urllib.request
from typing import Any

from wisp.cli.errors import CliError, reaching

REMEDY = "port-forward the gateway's admin port (9090) or pass --console / WISP_CONSOLE_URL"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--console",
        help="read through the gateway's console API at this URL (WISP_CONSOLE_URL) instead of the "
        "Kubernetes API: what --token may see",
    )
    parser.add_argument(
        "--token", help="with --console: the admin token or your Kubernetes bearer token (WISP_TOKEN)"
    )


def console_url(args: argparse.Namespace) -> str | None:
    """The console's base URL when the command should read through it, else None."""
    base = args.console or os.environ.get("WISP_CONSOLE_URL") or None
    if base is None:
        return None
    if not base.startswith(("http://", "https://")):
        raise CliError(f"the console URL {base!r} must start with http:// or https://")
    return str(base).rstrip("/")


def token(args: argparse.Namespace) -> str | None:
    return args.token or os.environ.get("WISP_TOKEN") or os.environ.get("WISP_ADMIN_TOKEN") or None


def get(base: str, path: str, bearer: str | None, **query: str) -> Any:
    """GET ``path`` of the console's API as JSON; an error answer becomes a ``CliError``."""
    url = f"{base}/ui/api/{path}"
    if query:
        url += "?" + urllib.parse.urlencode(query)
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - http(s) checked above
    with reaching("console", base, REMEDY), urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        return json.loads(response.read())


def function_path(namespace: str, name: str) -> str:
    return f"functions/{urllib.parse.quote(namespace, safe='')}/{urllib.parse.quote(name, safe='')}"


def namespace_for(base: str, bearer: str | None, explicit: str | None) -> str:
    """``-n``, else the first namespace the console offers this credential (its own first)."""
    if explicit:
        return explicit
    namespaces = get(base, "info", bearer).get("namespaces") or []
    if not namespaces:
        raise CliError("the console shows this credential no namespace: pass -n NAMESPACE")
    return str(namespaces[0])
