"""Starts the ``provided`` runtime: the Runtime API, the bootstrap, then the contract's server.

``python -m wisp_provided [-- COMMAND...]``: the bootstrap is ``COMMAND`` when given (an image's
entrypoint), else found as ``settings.bootstrap_command`` says. The contract's socket opens once
the bootstrap asked for its first invocation, failed to initialise, or took longer than Lambda's
init limit, so the ``listening`` line's ``handlerLoaded`` says whether it is ready. SIGTERM
finishes the calls in flight, then stops the bootstrap (SIGTERM, SIGKILL after a moment).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

from wisp_provided.process import spawn
from wisp_provided.settings import INIT_SECONDS, ProvidedSettings
from wisp_runtime import config
from wisp_runtime.lambdaenv import FunctionIdentity, function_identity, lambda_environment
from wisp_runtime.logs import LogWriter, last_words

_STOP_GRACE = 2.0


def main(argv: Sequence[str] = ()) -> int:
    try:
        settings = ProvidedSettings.from_env(argv)
    except config.SettingsError as exc:
        print(json.dumps({"level": "ERROR", "message": f"invalid configuration: {exc}"}), file=sys.stderr)
        return 2
    function = function_identity(settings.base, time.time(), os.uname().nodename)
    # The Runtime API's socket first, then the bootstrap: it starts (a Go binary's runtime, an
    # interpreter importing its client and handler) while this process imports asyncio and
    # the rest; its first /next waits in the socket's backlog until the server runs.
    try:
        api_socket = socket.create_server((settings.api_host, settings.api_port), backlog=64)
    except OSError as exc:
        print(json.dumps({"level": "ERROR", "message": f"cannot listen on the Runtime API address: {exc}"}))
        return 1
    api_address = f"{settings.api_host}:{api_socket.getsockname()[1]}"
    env = bootstrap_environment(settings, function, api_address)
    first = None
    if settings.bootstrap:
        try:
            first = spawn(settings.bootstrap, env, _existing(settings.base.code_dir))
        except OSError:
            first = None  # the supervisor tries again and reports why it cannot
    import asyncio

    try:
        import uvloop
    except ImportError:
        return asyncio.run(serve(settings, function, api_socket, env, first))
    code: int = uvloop.run(serve(settings, function, api_socket, env, first))
    return code


def bootstrap_environment(settings: ProvidedSettings, function: FunctionIdentity, api: str) -> dict[str, str]:
    """The bootstrap's environment: this process's, Lambda's reserved variables, the API address."""
    env = dict(os.environ)
    for name, value in lambda_environment(settings.base, function).items():
        if name in ("AWS_REGION", "AWS_DEFAULT_REGION", "TZ"):
            env.setdefault(name, value)
        else:
            env[name] = value
    env.pop("AWS_EXECUTION_ENV", None)  # Lambda sets none for OS-only runtimes
    env["LAMBDA_RUNTIME_DIR"] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["AWS_LAMBDA_RUNTIME_API"] = api
    return env


async def serve(
    settings: ProvidedSettings,
    function: FunctionIdentity,
    api_socket: socket.socket,
    env: dict[str, str],
    first: subprocess.Popen[bytes] | None,
) -> int:
    import asyncio
    import contextlib
    import signal

    from wisp_provided.bootstrap import Bootstrap, Failure
    from wisp_provided.invocations import Broker
    from wisp_provided.runtimeapi import RuntimeApi
    from wisp_provided.server import ProvidedHandler, protocol_error
    from wisp_runtime.httpserver import HttpServer

    base = settings.base
    log = LogWriter(base.function_name)
    loop = asyncio.get_running_loop()
    broker = Broker()
    bootstrap = Bootstrap(settings.bootstrap, _existing(base.code_dir), broker, log)
    # A response may be as large as a request (Lambda: 6 MB each way). The bootstrap's
    # connection sits idle while its handler runs, up to the function's timeout (15 minutes at
    # most): it must not be closed under it as an idle keep-alive connection would be.
    api = RuntimeApi(broker, bootstrap, function.arn)
    api_server = HttpServer(
        api, protocol_error, max_body_bytes=base.max_body_bytes, keepalive_timeout=base.timeout + 3600.0
    )
    api_listener = await loop.create_server(api_server, sock=api_socket)
    api_address = "{}:{}".format(*api_socket.getsockname()[:2])
    supervisor: asyncio.Task[None] | None = None
    if settings.bootstrap:
        supervisor = asyncio.create_task(bootstrap.run(env, first))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(INIT_SECONDS):
                while not bootstrap.ready and bootstrap.failure is None:
                    bootstrap.changed.clear()
                    await bootstrap.changed.wait()
    else:
        bootstrap.fail_now(Failure("Runtime.InvalidEntrypoint", settings.missing))
    if bootstrap.failure is not None:
        why = f"the runtime is not ready: {bootstrap.failure.error_type}: {bootstrap.failure.message}"
        log.log("ERROR", why)
        if base.exit_on_load_failure:  # in a pod: the kubelet restarts it, the pod's status says why
            await bootstrap.stop(_STOP_GRACE)
            if supervisor is not None:
                supervisor.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await supervisor
            last_words(why, config.TERMINATION_LOG)
            return 1

    handler = ProvidedHandler(base, broker, bootstrap, log)
    server = HttpServer(handler, protocol_error, max_body_bytes=base.max_body_bytes)
    listener = await loop.create_server(server, base.host, base.port, backlog=1024)
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    port = listener.sockets[0].getsockname()[1]
    log.log(
        "INFO",
        f"listening on {base.host}:{port}, Runtime API on {api_address}",
        event=config.LISTENING_EVENT,
        port=port,
        handlerLoaded=bootstrap.ready,
        runtimeApi=api_address,
    )
    await stopping.wait()

    log.log("INFO", "stopping: finishing calls in flight", inflight=handler.metrics.inflight)
    listener.close()
    await server.shutdown(base.timeout + 1.0)
    await bootstrap.stop(_STOP_GRACE)
    if supervisor is not None:
        supervisor.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await supervisor
    api_listener.close()
    await api_server.shutdown(0.1)
    log.log("INFO", "stopped")
    return 0


def _existing(path: str) -> str | None:
    return path if os.path.isdir(path) else None
