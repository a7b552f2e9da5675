"""The console's HTTP side: ``/ui/`` (the static app) and its JSON API under ``/ui/api/``.

``add_console_routes(app, source)`` mounts both on any aiohttp app: the gateway's invocation app
in ``wisp dev`` (through ``make_app``'s ``extensions``, see ``console_extension``), the
admin-protected listener in a cluster. Everything the API does goes through the
``ConsoleSource``; the live numbers come from the gateway it is mounted in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from wisp import __version__
from wisp.api.defaults import FUNCTION_DEFAULTS
from wisp.api.logconfig import LEVEL_CHOICES, LEVEL_VALUES
from wisp.console.live import FOLD_INTERVAL, GatewayView
from wisp.console.manifests import NAME_RULE, is_name, shape_problems
from wisp.console.releases import alias_body
from wisp.console.source import ConsoleSource, FieldError, NotFound, SourceError, ValidationFailed
from wisp.console.templates import editor_runtimes
from wisp.console.usage import Period, namespace_usage, usage_csv
from wisp.gateway.state import Components
from wisp.security.viewers import ADMIN, Action, ReviewFailed, viewer_of, visible

log = logging.getLogger("wisp.console")
STATIC_DIR = Path(__file__).resolve().parent.parent / "ui" / "static"
SOURCE = web.AppKey("wisp-console-source", object)
MAX_MINUTES = 24 * 60
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _source(request: web.Request) -> ConsoleSource:
    return _source_of(request.app)


def add_console_routes(app: web.Application, source: ConsoleSource) -> None:
    app[SOURCE] = source
    app.cleanup_ctx.append(_fold_ctx)
    r = app.router
    r.add_get("/ui", _redirect)
    r.add_get("/ui/", _index)
    r.add_static("/ui/assets/", STATIC_DIR, append_version=False)
    api = "/ui/api"
    r.add_get(f"{api}/info", _guard(info))
    r.add_get(f"{api}/functions", _guard(list_functions))
    fn = f"{api}/functions/{{namespace}}/{{name}}"
    r.add_get(fn, _guard(_scoped(Action.READ, get_function)))
    r.add_put(fn, _guard(_scoped(Action.CHANGE, put_function)))
    r.add_delete(fn, _guard(_scoped(Action.DELETE, delete_function)))
    r.add_post(f"{fn}/invoke", _guard(_scoped(Action.CHANGE, invoke)))
    r.add_get(f"{fn}/logs", _guard(_scoped(Action.LOGS, logs)))
    r.add_get(f"{fn}/series", _guard(_scoped(Action.READ, series)))
    r.add_get(f"{fn}/events", _guard(_scoped(Action.READ, list_events)))
    r.add_put(f"{fn}/events/{{event}}", _guard(_scoped(Action.CHANGE, put_event)))
    r.add_delete(f"{fn}/events/{{event}}", _guard(_scoped(Action.CHANGE, delete_event)))
    r.add_get(f"{fn}/versions", _guard(_scoped(Action.READ, versions)))
    r.add_put(f"{fn}/aliases/{{alias}}", _guard(_scoped(Action.CHANGE, put_alias)))
    r.add_delete(f"{fn}/aliases/{{alias}}", _guard(_scoped(Action.CHANGE, delete_alias)))
    r.add_get(f"{api}/usage", _guard(usage))


def console_extension(
    make_source: Callable[[GatewayView], ConsoleSource],
    price: float,
) -> Callable[[web.Application, Components], None]:
    """For ``make_app(..., extensions=[...])``: the console on the invocation app."""

    def extend(app: web.Application, parts: Components) -> None:
        add_console_routes(app, make_source(GatewayView(parts, price)))

    return extend


async def _fold_ctx(app: web.Application) -> AsyncIterator[None]:
    live = _source_of(app).live

    async def tick() -> None:
        while True:
            live.fold()
            await asyncio.sleep(FOLD_INTERVAL)

    task = asyncio.create_task(tick(), name="wisp-console-fold")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _source_of(app: web.Application) -> ConsoleSource:
    source: ConsoleSource = app[SOURCE]  # type: ignore[assignment]
    return source


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def _guard(handler: Handler) -> Handler:
    """Maps the source's errors to HTTP answers the UI shows next to the right field."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ValidationFailed as exc:
            errors = [{"field": e.field, "message": e.message} for e in exc.errors]
            return _error(422, str(exc), errors=errors)
        except NotFound as exc:
            return _error(404, str(exc))
        except SourceError as exc:
            return _error(exc.status, str(exc))
        except ReviewFailed as exc:
            return _error(503, str(exc))
        except web.HTTPException:
            raise
        except Exception as exc:  # a bug: say so in JSON, the page shows it; the gateway serves on
            log.exception("console: %s %s failed", request.method, request.path)
            return _error(500, f"the console failed: {type(exc).__name__}: {exc}")

    return guarded


async def _visible(request: web.Request, namespaces: Iterable[str]) -> set[str]:
    """Those of ``namespaces`` the caller may see (the functions' and the source's own)."""
    return await visible(viewer_of(request), namespaces)


def _scoped(action: Action, handler: Handler) -> Handler:
    """``handler`` for callers who may do ``action`` in the URL's namespace. A caller who may
    not read the namespace gets the 404 of a function that is not there (no hint that it is);
    one who may read it but not do ``action``, a 403 naming the permission that is missing."""

    async def scoped(request: web.Request) -> web.StreamResponse:
        ns, name = _names(request)
        viewer = viewer_of(request)
        missing = await viewer.missing(action, ns)
        if missing is None:
            return await handler(request)
        if action is not Action.READ and await viewer.may(Action.READ, ns):
            return _error(
                403,
                f"{viewer.name} may not {action.value} functions in namespace {ns} (it needs {missing})",
                missing=str(missing),
            )
        raise NotFound(f"function {name} not found in namespace {ns}")

    return scoped


def _bad_request(message: str, status: type[web.HTTPClientError] = web.HTTPBadRequest) -> web.HTTPClientError:
    return status(text=json.dumps({"error": message}), content_type="application/json")


def _names(request: web.Request) -> tuple[str, str]:
    """The URL's namespace and function name, refused unless both are Kubernetes names (they
    become file names in ``wisp dev`` and API paths in a cluster)."""
    ns, name = request.match_info["namespace"], request.match_info["name"]
    for field, value in (("namespace", ns), ("name", name)):
        if not is_name(value):
            raise _bad_request(f"{field} {value!r} is not {NAME_RULE}")
    return ns, name


async def _json_body(request: web.Request) -> Any:
    # Only JSON: a web page can send a form or text/plain across sites without asking first.
    if request.content_type != "application/json":
        raise _bad_request(
            f"the body must be JSON sent as Content-Type: application/json, not {request.content_type!r}",
            web.HTTPUnsupportedMediaType,
        )
    try:
        return await request.json()
    except ValueError:
        raise _bad_request("the body must be JSON") from None


# -- pages ---------------------------------------------------------------------------------------


async def _redirect(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/ui/")


async def _index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


# -- API -----------------------------------------------------------------------------------------


async def info(request: web.Request) -> web.Response:
    source = _source(request)
    viewer = viewer_of(request)
    namespaces = source.namespaces()
    if viewer is not ADMIN:  # a tenant: the namespaces it may see, its own first
        candidates = [*viewer.home_namespaces(), *namespaces, *source.live.namespaces()]
        seen = await _visible(request, candidates)
        namespaces = [ns for ns in dict.fromkeys(candidates) if ns in seen]
    return web.json_response(
        {
            "mode": source.mode.value,
            "version": __version__,
            "user": viewer.name,
            "namespaces": namespaces,
            "pricePerGbSecond": source.live.price,
            "runtimes": editor_runtimes(datetime.now(UTC).date()),
            # What the editor shows for an unset field: the CRD's defaults, from one table.
            "defaults": FUNCTION_DEFAULTS.by_crd_path(),
        }
    )


async def list_functions(request: web.Request) -> web.Response:
    now = time.time()
    rows = _source(request).live.functions(now)
    seen = await _visible(request, (row["namespace"] for row in rows))
    return web.json_response(
        {
            "time": now,
            "functions": [row for row in rows if row["namespace"] in seen],
            "pool": _source(request).live.pool(),
        }
    )


async def get_function(request: web.Request) -> web.Response:
    ns, name = _names(request)
    manifest = await _source(request).get_function(ns, name)
    return web.json_response({"manifest": manifest.body, "file": manifest.file, "status": manifest.status})


async def put_function(request: web.Request) -> web.Response:
    ns, name = _names(request)
    body = await _json_body(request)
    if not isinstance(body, dict):
        return _error(400, "the body must be a Function object")
    problems = shape_problems(body)
    if problems:
        raise ValidationFailed([FieldError(field, message) for field, message in problems])
    meta = dict(body.get("metadata") or {})
    if meta.get("name") not in (None, name) or meta.get("namespace") not in (None, ns):
        return _error(400, "the body names another function than the URL")
    body["metadata"] = {**meta, "name": name, "namespace": ns}
    manifest = await _source(request).apply_function(body)
    return web.json_response({"manifest": manifest.body, "file": manifest.file, "status": manifest.status})


async def delete_function(request: web.Request) -> web.Response:
    await _source(request).delete_function(*_names(request))
    return web.json_response({"deleted": True})


async def invoke(request: web.Request) -> web.Response:
    ns, name = _names(request)
    body = await _json_body(request)
    event = body.get("event", {}) if isinstance(body, dict) else {}
    result = await _source(request).live.invoke(ns, name, json.dumps(event).encode())
    return web.json_response(result.as_json())


def _int_query(request: web.Request, key: str, default: int, hi: int) -> int:
    try:
        return max(1, min(hi, int(request.query.get(key, default))))
    except ValueError:
        return default


async def logs(request: web.Request) -> web.Response:
    ns, name = _names(request)
    request_id = request.query.get("requestId", "").strip()
    tail = _int_query(request, "tail", 200, 5000)
    level = request.query.get("level", "").strip().upper()
    if level and level not in LEVEL_VALUES:
        raise _bad_request(f"level {level!r} is not one of {', '.join(LEVEL_CHOICES)}")
    if not level:
        lines = await _source(request).logs(ns, name, request_id, tail)
    else:
        # Read as much as the route ever gives, then keep the last ``tail`` at or above the level.
        minimum = LEVEL_VALUES[level]
        read = await _source(request).logs(ns, name, request_id, 5000)
        lines = [line for line in read if LEVEL_VALUES.get(line.level.upper(), 20) >= minimum][-tail:]
    return web.json_response({"lines": [line.as_json() for line in lines]})


async def series(request: web.Request) -> web.Response:
    ns, name = _names(request)
    minutes = _int_query(request, "minutes", 60, MAX_MINUTES)
    now = time.time()
    return web.json_response({"time": now, "points": _source(request).live.series(ns, name, now, minutes)})


async def list_events(request: web.Request) -> web.Response:
    ns, name = _names(request)
    return web.json_response({"events": await _source(request).test_events(ns, name)})


async def put_event(request: web.Request) -> web.Response:
    ns, name = _names(request)
    event = await _json_body(request)
    await _source(request).save_test_event(ns, name, request.match_info["event"], event)
    return web.json_response({"saved": True})


async def delete_event(request: web.Request) -> web.Response:
    ns, name = _names(request)
    await _source(request).delete_test_event(ns, name, request.match_info["event"])
    return web.json_response({"deleted": True})


async def versions(request: web.Request) -> web.Response:
    ns, name = _names(request)
    return web.json_response(await _source(request).versions(ns, name))


async def put_alias(request: web.Request) -> web.Response:
    """The traffic slider: ``{version, additionalVersion, weight}`` becomes the alias's body."""
    ns, name = _names(request)
    alias = request.match_info["alias"]
    body = alias_body(alias, await _json_body(request))
    source = _source(request)
    await source.set_alias(ns, name, alias, body)
    return web.json_response(await source.versions(ns, name))


async def delete_alias(request: web.Request) -> web.Response:
    ns, name = _names(request)
    alias = request.match_info["alias"]
    source = _source(request)
    await source.set_alias(ns, name, alias, None)
    return web.json_response(await source.versions(ns, name))


async def usage(request: web.Request) -> web.StreamResponse:
    try:
        period = Period(request.query.get("period", "hour"))
    except ValueError:
        return _error(400, "period is hour or day")
    function = request.query.get("function") or None
    namespace = request.query.get("namespace") or None
    source = _source(request)
    if namespace is not None and namespace not in await _visible(request, [namespace]):
        raise NotFound(f"namespace {namespace} not found")
    now = time.time()
    rows = source.live.usage(now, period, function, namespace)
    seen = await _visible(request, (r.namespace for r in rows))
    rows = [r for r in rows if r.namespace in seen]
    price = source.live.price
    if request.query.get("format") == "csv":
        day = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d")
        scope = "".join(f"-{part}" for part in (namespace, function) if part)
        filename = f"wisp-usage-{period.value}{scope}-{day}.csv"
        return web.Response(
            text=usage_csv(rows, price),
            content_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    total_gb = sum(r.gb_seconds for r in rows)
    return web.json_response(
        {
            "time": now,
            "period": period.value,
            "pricePerGbSecond": price,
            "rows": [r.as_json() for r in rows],
            "namespaces": [n.as_json() for n in namespace_usage(rows)],
            "totals": {
                "invocations": sum(r.invocations for r in rows),
                "gbSeconds": round(total_gb, 6),
                "cost": total_gb * price,
            },
        }
    )
