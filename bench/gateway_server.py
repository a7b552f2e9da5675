"""A gateway process for the benchmark: the real app on uvloop, served as ``wisp gateway`` serves
it (``GatewayRunner``), with a StaticBackend whose one function points at an endpoint given on
the command line (no control plane involved); with ``--redis`` (or ``--nats``), async
invocations too, as the gateway runs them (``wisp.queue.extension``) on that broker; with
``--aiohttp-only``, without the fast path.

    python bench/gateway_server.py --port 18080 --upstream 127.0.0.1:18081 [--redis URL | --nats URL]
"""

from __future__ import annotations

import argparse
import asyncio

import uvloop
from aiohttp import web

from wisp.api.function import parse_function
from wisp.gateway.admin import make_admin_app
from wisp.gateway.app import make_app
from wisp.gateway.backend import Endpoint, FunctionInfo
from wisp.gateway.config import GatewayConfig
from wisp.gateway.server import GatewayRunner
from wisp.gateway.state import COMPONENTS
from wisp.gateway.static import StaticBackend
from wisp.queue import RedisSettings
from wisp.queue.extension import EventSettings, queue_extension
from wisp.queue.settings import NatsSettings


async def serve(args: argparse.Namespace) -> None:
    fn = parse_function(
        {
            "metadata": {"name": args.function},
            "spec": {
                "runtime": "python3.12",
                "handler": "main.handler",
                "code": {"inline": "-"},
                "concurrency": args.concurrency,
            },
        }
    )
    backend = StaticBackend()
    backend.set_function(FunctionInfo(fn))
    host, port = args.upstream.rsplit(":", 1)
    backend.set_endpoints(fn.key, (Endpoint(host, int(port)),))
    config = GatewayConfig(host="127.0.0.1", port=args.port, admin_port=args.admin_port, pod_name="bench")
    extensions = []
    if args.redis:
        extensions.append(queue_extension(EventSettings(RedisSettings(url=args.redis), schedules=False)))
    elif args.nats:
        extensions.append(queue_extension(EventSettings(NatsSettings(url=args.nats), schedules=False)))
    app = make_app(config, backend, autoscale=False, extensions=extensions, fast_path=not args.aiohttp_only)
    runners = [
        GatewayRunner(app, head_timeout=config.header_read_timeout, access_log=None),
        web.AppRunner(make_admin_app(app[COMPONENTS]), access_log=None),
    ]
    for runner in runners:
        await runner.setup()
    await web.TCPSite(runners[0], "127.0.0.1", args.port, backlog=1024).start()
    await web.TCPSite(runners[1], "127.0.0.1", args.admin_port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--admin-port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--function", default="bench")
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument("--redis", help="serve async invocations through this Redis")
    parser.add_argument("--nats", help="or through this NATS server (JetStream)")
    parser.add_argument("--aiohttp-only", action="store_true", help="serve every call with aiohttp")
    uvloop.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
