"""A standalone event worker: the gateway's queue consumers, without the gateway.

Reads Function and Trigger manifests (multi-document YAML) and calls each function at a fixed
URL, so consumers can run as their own processes (or be killed as such in tests)::

    python -m wisp.queue.worker --manifest app.yaml --endpoint hello.default=http://127.0.0.1:8080

The broker comes from the environment as for the gateway (``WISP_QUEUE_BROKER``, ``WISP_REDIS_*``
or ``WISP_NATS_*``; Redis on 127.0.0.1 when nothing is set). SIGTERM stops gracefully.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from wisp.api.function import Function, parse_function
from wisp.api.trigger import Trigger, parse_trigger
from wisp.queue.brokers import broker_settings_from_env, make_broker
from wisp.queue.invoker import HttpInvoker
from wisp.queue.manager import QueueManager
from wisp.queue.settings import DeliverySettings, RedisSettings


def load_manifests(paths: Sequence[str]) -> tuple[list[Function], list[Trigger]]:
    functions: list[Function] = []
    triggers: list[Trigger] = []
    for path in paths:
        for doc in yaml.safe_load_all(Path(path).read_text()):
            if not doc:
                continue
            if doc.get("kind") == "Function":
                functions.append(parse_function(doc))
            elif doc.get("kind") == "Trigger":
                triggers.append(parse_trigger(doc))
    return functions, triggers


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m wisp.queue.worker", description=__doc__)
    parser.add_argument("--manifest", action="append", default=[], required=True)
    parser.add_argument(
        "--endpoint", action="append", default=[], help="FUNCTION.NAMESPACE=URL of the function's runtime"
    )
    parser.add_argument("--consumer", help="consumer name (default: host-pid-random)")
    parser.add_argument("--visibility-timeout", type=float, default=30.0)
    parser.add_argument("--poll-interval", type=float, default=0.5)
    parser.add_argument("--schedules", action="store_true", help="also fire schedule triggers")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    functions, triggers = load_manifests(args.manifest)
    urls = dict(item.split("=", 1) for item in args.endpoint)
    settings = DeliverySettings(visibility_timeout=args.visibility_timeout, poll_interval=args.poll_interval)
    broker = make_broker(broker_settings_from_env() or RedisSettings.from_env(), settings)
    invoker = HttpInvoker(urls)
    manager = QueueManager(broker, invoker, settings, consumer=args.consumer)
    manager.update_functions(functions)
    manager.update_triggers(triggers)
    if args.schedules:
        manager.start_schedules()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print("wisp queue worker: consuming", flush=True)
    await stop.wait()
    await manager.close()
    await invoker.close()
    await broker.close()


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    asyncio.run(serve(parse_args(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    main()
