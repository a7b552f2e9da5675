"""``wisp gateway``: serve invocations and the admin port against a Kubernetes cluster.

Reads ``GatewayConfig`` from flags and environment, builds the ``KubernetesBackend`` and the
Lease-based coordination (leader election and sample exchange between replicas), the security
layer, the event path (``wisp.queue.extension``, when ``WISP_REDIS_URL`` is set) and the console
on the admin app, and runs the invocation app and the admin app until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal

from aiohttp import web

from wisp.gateway import config as config_module
from wisp.gateway.admin import make_admin_app
from wisp.gateway.app import make_app
from wisp.gateway.config import GatewayConfig
from wisp.gateway.server import GatewayRunner
from wisp.gateway.state import COMPONENTS

log = logging.getLogger("wisp.gateway")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    config_module.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = config_module.config_from(args)
    try:
        import uvloop

        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    except ImportError:  # pragma: no cover - uvloop is a dependency where it builds
        runner = asyncio.Runner()
    with runner:
        runner.run(serve(config))
    return 0


async def serve(config: GatewayConfig) -> None:
    from wisp.console.cluster import add_cluster_console
    from wisp.gateway.kube import KubernetesBackend, LeaseCoordination, load_api_client
    from wisp.queue.admin import add_admin_routes
    from wisp.queue.extension import QUEUE, events_from_env
    from wisp.security.extension import secure_admin_app, security_extension
    from wisp.security.kube_secrets import KubernetesSecretSource
    from wisp.security.settings import settings_from_env

    api_client = load_api_client(config.kubeconfig)
    backend = KubernetesBackend(api_client, config)
    coordination = LeaseCoordination(api_client, config)
    # Security hook: access checks, limits and log redaction on the invocation port, the admin
    # token on the admin port's /system (wisp.security, configured from WISP_* variables).
    security = settings_from_env()
    secrets = KubernetesSecretSource(api_client)
    app = make_app(
        config,
        backend,
        exchange=coordination,
        election=coordination,
        # The event path: /async-function/, /invocations/, queue and schedule Triggers, with
        # Redis from WISP_REDIS_URL (without it those routes answer 503 saying so).
        extensions=[security_extension(security, secrets), events_from_env(config.default_namespace)],
    )
    admin = secure_admin_app(make_admin_app(app[COMPONENTS]), security)
    # The console at /ui/ on the admin port; its API needs the admin token.
    add_cluster_console(admin, app[COMPONENTS], api_client, security.admin_token)
    if QUEUE in app:  # dead letters for the console's tab and `wisp dlq`, on the admin port too
        add_admin_routes(admin, app[QUEUE].dead_letters, config.default_namespace)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    # Both ports bound the time to send a request head (slow-header clients get 408).
    head = config.header_read_timeout
    runners = [
        GatewayRunner(app, head_timeout=head, access_log=None, **security.limits.server_settings()),
        GatewayRunner(admin, head_timeout=head, access_log=None),
    ]
    for runner in runners:
        await runner.setup()
    await web.TCPSite(runners[0], config.host, config.port, backlog=1024).start()
    await web.TCPSite(runners[1], config.host, config.admin_port).start()
    log.info("gateway %s serving on :%d (admin :%d)", config.pod_name, config.port, config.admin_port)
    await stop.wait()
    log.info("shutting down")
    for runner in reversed(runners):
        await runner.cleanup()
