"""Starts the runtime: settings, log capture, the handler import, then the HTTP server.

The handler is imported before the socket opens, so the ``listening`` line (and the first
``/healthz`` answer) already says whether it loaded. SIGTERM stops accepting calls, lets the
calls in flight finish (up to the function's timeout) and exits 0.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time

from wisp_runtime import config
from wisp_runtime.lambdaenv import FunctionIdentity, apply_environment, function_identity, lambda_environment
from wisp_runtime.loader import LoadedHandler, LoadFailure, extend_path, load_handler
from wisp_runtime.logs import Capture, install
from wisp_runtime.pool import WorkerPool


def main() -> int:
    try:
        settings = config.Settings.from_env()
    except config.SettingsError as exc:
        print(json.dumps({"level": "ERROR", "message": f"invalid configuration: {exc}"}), file=sys.stderr)
        return 2
    capture = install(settings.function_name)
    function = function_identity(settings, time.time(), os.uname().nodename)
    # Before the import: module-level code (boto3 clients, Powertools) reads these.
    apply_environment(lambda_environment(settings, function))
    loaded = _load(settings, capture)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(serve(settings, capture, loaded, function))
    code: int = uvloop.run(serve(settings, capture, loaded, function))
    return code


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
) -> int:
    from wisp_runtime.httpserver import HttpServer
    from wisp_runtime.invoke import Invoker
    from wisp_runtime.server import RuntimeHandler, protocol_error

    log = capture.writer
    pool = WorkerPool(size=settings.concurrency, max_runaways=settings.concurrency)
    if isinstance(loaded, LoadFailure):
        handler = RuntimeHandler(settings, None, loaded, pool, capture, function)
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
    )
    await stopping.wait()

    log.log("INFO", "stopping: finishing calls in flight", inflight=handler.metrics.inflight)
    listener.close()
    await server.shutdown(settings.timeout + 1.0)
    pool.shutdown()
    log.log("INFO", "stopped")
    return 0
