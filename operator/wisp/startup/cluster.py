"""``wisp gateway``: serve invocations and the admin port against a Kubernetes cluster.

Reads ``GatewayConfig`` from flags and environment, builds the ``KubernetesBackend`` and the
Lease-based coordination (leader election and sample exchange between replicas), the security
layer, the event path (``wisp.queue.extension``, when ``WISP_REDIS_URL`` is set) and the console
on the admin app, and runs the invocation app and the admin app until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import logging
from typing import TYPE_CHECKING

from wisp.gateway import config as config_module
from wisp.gateway.config import GatewayConfig
from wisp.startup.process import Apps, Servers, make_apps, run_until_stopped

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from wisp.console.cluster import PodLogs

log = logging.getLogger("wisp.gateway")

API_THREADS = 32


def add_arguments(parser: argparse.ArgumentParser) -> None:
    config_module.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = config_module.config_from(args)
    run_until_stopped(lambda stop: serve(config, stop))
    return 0


async def serve(config: GatewayConfig, stop: asyncio.Event) -> None:
    from wisp.console.cluster import tenants_from_env
    from wisp.gateway.kube import KubernetesBackend, LeaseCoordination
    from wisp.kubeconfig import load_api_client
    from wisp.queue.extension import events_from_env
    from wisp.security.extension import security_extension
    from wisp.security.kube_secrets import KubernetesSecretSource
    from wisp.security.settings import settings_from_env

    # Every call to the API server blocks a thread (the official client is synchronous): give
    # them threads enough that a wake-up's scale write never queues behind the leader's writes,
    # the pool's claims or the status updates (asyncio's default is the CPU count plus four).
    asyncio.get_running_loop().set_default_executor(
        concurrent.futures.ThreadPoolExecutor(API_THREADS, thread_name_prefix="wisp-api")
    )
    api_client = load_api_client(config.kubeconfig)
    backend = KubernetesBackend(api_client, config)
    coordination = LeaseCoordination(api_client, config)
    # Security hook: access checks, limits and log redaction on the invocation port, the admin
    # token on the admin port's /system (wisp.security, configured from WISP_* variables).
    security = settings_from_env()
    secrets = KubernetesSecretSource(api_client)
    apps = make_apps(
        config,
        backend,
        security,
        # The event path: /async-function/, /invocations/, queue and schedule Triggers, with
        # Redis from WISP_REDIS_URL (without it those routes answer 503 saying so).
        [security_extension(security, secrets), events_from_env(config.default_namespace)],
        exchange=coordination,
        election=coordination,
    )
    equip_admin_port(
        apps, api_client, security.admin_token, config.default_namespace, tenants=tenants_from_env()
    )
    # Both ports bound the time to send a request head (slow-header clients get 408).
    servers = Servers(apps, security, head_timeout=config.header_read_timeout)
    await servers.start(config.host, config.port, config.admin_port)
    log.info("gateway %s serving on :%d (admin :%d)", config.pod_name, config.port, config.admin_port)
    await stop.wait()
    log.info("shutting down")
    await servers.stop()


def equip_admin_port(
    apps: Apps,
    api_client: ApiClient,
    admin_token: str | None,
    default_namespace: str,
    *,
    tenants: bool,
    pod_logs: PodLogs | None = None,
) -> None:
    """The console at /ui/ on the admin port, and the dead letters for its tab and ``wisp dlq``
    (with the event path). Both take the admin token, or a caller's own Kubernetes token
    (``tenants``, WISP_CONSOLE_TENANTS), which sees and does what that caller's RBAC allows
    (docs/tenancy.md). Without an admin token the admin port's /system/ is open (it is
    cluster-internal), the dead letters with it; the console's API still takes tokens only."""
    from wisp.console.cluster import add_cluster_console
    from wisp.gateway.state import COMPONENTS
    from wisp.queue.admin import PREFIX as DEAD_LETTERS
    from wisp.queue.admin import add_admin_routes
    from wisp.queue.extension import QUEUE

    queue = apps.invocations.get(QUEUE)
    add_cluster_console(
        apps.admin,
        apps.invocations[COMPONENTS],
        api_client,
        admin_token,
        pod_logs=pod_logs,
        tenants=tenants,
        also_signed_in=(DEAD_LETTERS,) if queue is not None and admin_token else (),
    )
    if queue is not None:
        add_admin_routes(apps.admin, queue.dead_letters, default_namespace)
