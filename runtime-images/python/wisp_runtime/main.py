"""Starts the runtime: settings, log capture, the handler import, then the HTTP server.

With a pool token (``WISP_POOL_TOKEN_FILE`` or ``WISP_POOL_TOKEN``) and no ``WISP_HANDLER`` it
starts generic (a warm pool pod,
``generic.py``): no handler is imported until the gateway specialises it.

The handler is imported before the socket opens, so the ``listening`` line (and the first
``/healthz`` answer) already says whether it loaded. In a pod (``WISP_EXIT_ON_LOAD_FAILURE``) a
handler that fails to load ends the runtime instead, with the reason as its termination message.
SIGTERM stops accepting calls, lets the calls in flight finish (up to the function's timeout) and
exits 0.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from wisp_runtime import config
from wisp_runtime.generic import (
    Specialisation,
    SpecialiseError,
    function_environment,
    take_code,
    take_pool_token,
    write_code,
)
from wisp_runtime.lambdaenv import FunctionIdentity, apply_environment, function_identity, lambda_environment
from wisp_runtime.loader import LoadedHandler, LoadFailure, extend_path, load_handler
from wisp_runtime.logs import Capture, install, last_words, settings_from_env
from wisp_runtime.pool import WorkerPool

if TYPE_CHECKING:
    from wisp_runtime.server import Specialised


def main() -> int:
    try:
        take_code(os.environ)  # a pod without a code volume: its code is in its environment
        settings = config.Settings.from_env()
    except (config.SettingsError, SpecialiseError, OSError) as exc:
        print(json.dumps({"level": "ERROR", "message": f"invalid configuration: {exc}"}), file=sys.stderr)
        return 2
    try:
        token = take_pool_token(os.environ)  # never seen by a function's code through os.environ
    except OSError as exc:
        print(json.dumps({"level": "ERROR", "message": f"invalid configuration: {exc}"}), file=sys.stderr)
        return 2
    capture = install(settings.function_name, settings_from_env(os.environ))
    function = function_identity(settings, time.time(), os.uname().nodename)
    if token and not settings.handler:
        loaded: LoadedHandler | LoadFailure = LoadFailure("NotSpecialised", "no function yet (a pool pod)")
    else:
        token = ""
        # Before the import: module-level code (boto3 clients, Powertools) reads these.
        apply_environment(lambda_environment(settings, function))
        loaded = _load(settings, capture)
        if isinstance(loaded, LoadFailure) and settings.exit_on_load_failure:
            why = f"{loaded.error_type}: {loaded.message}"
            last_words(f"the handler {settings.handler!r} could not be loaded: {why}", config.TERMINATION_LOG)
            return 1
    try:
        import uvloop
    except ImportError:
        return asyncio.run(serve(settings, capture, loaded, function, token))
    code: int = uvloop.run(serve(settings, capture, loaded, function, token))
    return code


def _specialiser(capture: Capture) -> Callable[[Specialisation], Specialised]:
    """What turns this generic runtime into a function's: code written under ``/tmp``, the
    function's environment applied as its pods get it, the handler imported."""

    def specialise(wanted: Specialisation) -> Specialised:
        from wisp_runtime.invoke import Invoker
        from wisp_runtime.server import Specialised

        current = config.Settings.from_env()
        code_dir = write_code(wanted.files, os.path.dirname(current.deps_dir) or "/tmp")
        env = function_environment(wanted.env, os.environ, code_dir)
        settings = config.Settings.from_env(env)
        os.environ.update(env)
        capture.apply(settings_from_env(os.environ))  # the function's spec.logging
        function = function_identity(settings, time.time(), os.uname().nodename)
        apply_environment(lambda_environment(settings, function))
        loaded = _load(settings, capture)
        pool = WorkerPool(size=settings.concurrency, max_runaways=settings.concurrency)
        if isinstance(loaded, LoadFailure):
            return Specialised(settings, None, loaded, pool, function)
        return Specialised(settings, Invoker(loaded, pool), None, pool, function)

    return specialise


def _load(settings: config.Settings, capture: Capture) -> LoadedHandler | LoadFailure:
    extend_path(settings.code_dir, settings.deps_dir, settings.layers_dir, settings.aws_sdk_dir)
    if os.path.isdir(settings.code_dir):
        os.chdir(settings.code_dir)  # as Lambda does: relative paths find the function's files
    loaded = load_handler(settings.handler, settings.code_dir)
    if isinstance(loaded, LoadFailure):
        capture.writer.log(
            "ERROR",
            f"the handler {settings.handler!r} could not be loaded: {loaded.error_type}: {loaded.message}",
            errorType=loaded.error_type,
            stackTrace="".join(loaded.stack_trace),
        )
    return loaded


async def serve(
    settings: config.Settings,
    capture: Capture,
    loaded: LoadedHandler | LoadFailure,
    function: FunctionIdentity,
    token: str = "",
) -> int:
    from wisp_runtime.httpserver import HttpServer
    from wisp_runtime.invoke import Invoker
    from wisp_runtime.server import RuntimeHandler, protocol_error

    log = capture.writer
    pool = WorkerPool(size=settings.concurrency, max_runaways=settings.concurrency)
    if isinstance(loaded, LoadFailure):
        specialiser = _specialiser(capture) if token else None
        handler = RuntimeHandler(
            settings, None, loaded, pool, capture, function, specialiser=specialiser, token=token
        )
    else:
        handler = RuntimeHandler(settings, Invoker(loaded, pool), None, pool, capture, function)

    loop = asyncio.get_running_loop()
    server = HttpServer(handler, protocol_error, max_body_bytes=settings.max_body_bytes)
    listener = await loop.create_server(server, settings.host, settings.port, backlog=1024)
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    port = listener.sockets[0].getsockname()[1]
    log.log(
        "INFO",
        f"listening on {settings.host}:{port}",
        event=config.LISTENING_EVENT,
        port=port,
        handlerLoaded=not isinstance(loaded, LoadFailure),
        generic=handler.generic,
    )
    await stopping.wait()

    log.log("INFO", "stopping: finishing calls in flight", inflight=handler.metrics.inflight)
    listener.close()
    await server.shutdown(settings.timeout + 1.0)
    handler.pool.shutdown()
    log.log("INFO", "stopped")
    return 0
