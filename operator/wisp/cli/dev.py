"""``wisp dev [DIR]``: the whole platform on one machine (see ``wisp.dev.supervisor``)."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "directory",
        nargs="?",
        default="examples",
        help="folder of Function/Trigger YAML files and function folders (examples)",
    )
    parser.add_argument("--port", type=int, default=8080, help="gateway port (8080)")
    parser.add_argument("--admin-port", type=int, default=9090, help="/metrics and /system/* port (9090)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("WISP_REDIS_URL") or None,
        help="Redis for queue/schedule triggers and async calls (WISP_REDIS_URL); "
        "default: an embedded redis-server if installed",
    )
    parser.add_argument(
        "--nats-url",
        default=os.environ.get("WISP_NATS_URL") or None,
        help="NATS JetStream server(s), comma-separated, as the event broker instead of Redis "
        "(WISP_NATS_URL)",
    )
    parser.add_argument(
        "--namespace", default="default", help="namespace of Functions that name none (default)"
    )
    parser.add_argument(
        "--no-prewarm",
        action="store_true",
        help="start each Python runtime as a fresh interpreter (slower cold starts)",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a host name the console may be opened as, besides localhost and loopback addresses "
        "(repeatable; WISP_DEV_ALLOWED_HOSTS, comma-separated)",
    )
    parser.add_argument(
        "--layer",
        action="append",
        default=[],
        metavar="NAME=FOLDER",
        help="the folder of the layer NAME that Functions' spec.layers name (repeatable)",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="log the gateway's decisions")


def run(args: argparse.Namespace) -> int:
    from wisp.dev.supervisor import DevSettings
    from wisp.dev.supervisor import run as run_dev

    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="wisp dev: %(levelname)s %(name)s: %(message)s",
    )
    from wisp.cli.deploy import parse_layer

    layers = dict(parse_layer(text) for text in args.layer)
    settings = DevSettings(
        layers=layers,
        directory=Path(args.directory),
        host=args.host,
        port=args.port,
        admin_port=args.admin_port,
        redis_url=args.redis_url,
        nats_url=args.nats_url,
        namespace=args.namespace,
        prewarm=not args.no_prewarm,
        allowed_hosts=(
            *args.allow_host,
            *filter(None, (h.strip() for h in os.environ.get("WISP_DEV_ALLOWED_HOSTS", "").split(","))),
        ),
    )
    return run_dev(settings)
