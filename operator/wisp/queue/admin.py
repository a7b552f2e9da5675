"""The dead-letter admin API, under the gateway's ``/system/``, for ``wisp dlq`` and the console.

Who may use it: the admin token, on either port, sees every namespace; on the admin port a
caller's own Kubernetes token (``wisp.security.kubeauth``) sees the namespaces its RBAC lets it
read Functions in (``wisp.security.viewers``: ``list`` for the summary, ``get`` for entries) and
redrives or purges where it may also ``patch`` them. Another namespace's sources are left out of
the summary and answer 404 as a source that is not there; a missing verb is a 403 naming it.

* ``GET /system/dead-letters``: every Function and queue Trigger with its dead-letter stream and
  how many entries it holds.
* ``GET /system/dead-letters/{functions|triggers}/{name[.namespace]}``: the entries
  (``?after=<id>&count=100&reason=retries_exhausted``).
* ``GET .../{id}``: one entry.
* ``POST .../redrive`` and ``POST .../purge`` with ``{"ids": [...]}`` or ``{"all": true}``, and
  optionally ``"reason"`` to narrow the selection: redrive moves entries back to their
  subscription (same id, attempt 1, the redrive counted), purge deletes them.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from wisp.queue.broker import BrokerUnavailable
from wisp.queue.deadletters import DeadLetters, Source, SourceKind
from wisp.security.viewers import Action, ReviewFailed, viewer_of, visible

PREFIX = "/system/dead-letters"
Handler = Callable[[web.Request], Awaitable[web.Response]]
MAX_COUNT = 1000


def _error(status: int, error: str, message: str) -> web.Response:
    return web.json_response({"error": error, "message": message}, status=status)


def add_admin_routes(
    app: web.Application, dead_letters: DeadLetters, default_namespace: str = "default"
) -> None:
    async def source_of(request: web.Request, action: Action = Action.READ) -> Source | web.Response:
        """The URL's source, if the caller may do ``action`` to it. One it may not read is not
        there for it (the same 404 as a source that does not exist)."""
        try:
            kind = SourceKind(request.match_info["kind"])
        except ValueError:
            return _error(404, "NotFound", "dead letters are kept per functions/<name> or triggers/<name>")
        name, _, namespace = request.match_info["key"].partition(".")
        key = f"{name}.{namespace or default_namespace}"
        source = dead_letters.source(kind, key)
        viewer = viewer_of(request)
        if source is None or not await viewer.may(Action.READ, source.namespace):
            what = "function" if kind is SourceKind.FUNCTION else "queue trigger"
            return _error(404, "SourceNotFound", f"no {what} {key}")
        missing = await viewer.missing(action, source.namespace)
        if missing is not None:
            return _error(
                403,
                "Forbidden",
                f"{viewer.name} may not {missing} in namespace {source.namespace}"
                f" (needed to {action.value} its functions)",
            )
        return source

    async def summary(request: web.Request) -> web.Response:
        rows = await dead_letters.summary()
        seen = await visible(viewer_of(request), (row["namespace"] for row in rows))
        return web.json_response({"sources": [row for row in rows if row["namespace"] in seen]})

    async def entries(request: web.Request) -> web.Response:
        source = await source_of(request)
        if isinstance(source, web.Response):
            return source
        try:
            count = min(MAX_COUNT, max(1, int(request.query.get("count", "100"))))
        except ValueError:
            return _error(400, "InvalidCount", "count must be a number")
        found = await dead_letters.entries(
            source,
            after=request.query.get("after", "-"),
            count=count,
            reason=request.query.get("reason") or None,
        )
        return web.json_response({"source": source.describe(), "entries": found})

    async def entry(request: web.Request) -> web.Response:
        source = await source_of(request)
        if isinstance(source, web.Response):
            return source
        found = await dead_letters.show(source, request.match_info["id"])
        if found is None:
            return _error(
                404, "DeadLetterNotFound", f"no dead letter {request.match_info['id']} in {source.stream}"
            )
        return web.json_response(found)

    async def selection(request: web.Request) -> tuple[Source, list[str] | None, str | None] | web.Response:
        source = await source_of(request, Action.REDRIVE)
        if isinstance(source, web.Response):
            return source
        try:
            body: Any = json.loads(await request.read() or b"{}")
        except ValueError:
            return _error(400, "InvalidBody", "the body must be JSON")
        ids = body.get("ids") if isinstance(body, dict) else None
        if not isinstance(body, dict) or (ids is None and body.get("all") is not True):
            return _error(400, "InvalidBody", 'name the entries: {"ids": [...]} or {"all": true}')
        if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)):
            return _error(400, "InvalidBody", "ids must be a list of entry ids")
        reason = body.get("reason")
        return source, ids, reason if isinstance(reason, str) and reason else None

    async def redrive(request: web.Request) -> web.Response:
        chosen = await selection(request)
        if isinstance(chosen, web.Response):
            return chosen
        moved = await dead_letters.redrive(*chosen)
        return web.json_response({"redriven": len(moved), "ids": moved})

    async def purge(request: web.Request) -> web.Response:
        chosen = await selection(request)
        if isinstance(chosen, web.Response):
            return chosen
        return web.json_response({"purged": await dead_letters.purge(*chosen)})

    def guarded(handler: Handler) -> Handler:
        async def run(request: web.Request) -> web.Response:
            try:
                return await handler(request)
            except BrokerUnavailable as exc:
                return web.json_response(
                    {"error": "QueueUnavailable", "message": str(exc)},
                    status=503,
                    headers={"Retry-After": "1"},
                )
            except ReviewFailed as exc:  # the API server could not say what a tenant may do
                return web.json_response({"error": "ReviewUnavailable", "message": str(exc)}, status=503)

        return run

    app.router.add_get(PREFIX, guarded(summary))
    app.router.add_get(PREFIX + "/{kind}/{key}", guarded(entries))
    app.router.add_post(PREFIX + "/{kind}/{key}/redrive", guarded(redrive))
    app.router.add_post(PREFIX + "/{kind}/{key}/purge", guarded(purge))
    app.router.add_get(PREFIX + "/{kind}/{key}/{id}", guarded(entry))
