"""``wisp operator``: run the kopf operator in-cluster or from a laptop (kubeconfig).

Cluster-wide by default, or for a list of namespaces. With ``--peering NAME`` several replicas
run and only one acts (kopf peering); ``--standalone`` skips peering (one replica, or tests).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import secrets

from wisp.controller.settings import OperatorSettings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        dest="namespaces",
        help="watch this namespace (repeatable); default: all (or WISP_NAMESPACES)",
    )
    parser.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    parser.add_argument(
        "--peering", default=None, help="kopf peering name (or WISP_PEERING): one active replica"
    )
    parser.add_argument(
        "--priority",
        type=int,
        default=None,
        help="peering priority: the highest acts (default: random, so replicas never tie)",
    )
    parser.add_argument("--standalone", action="store_true", help="no peering: this process acts alone")
    parser.add_argument(
        "--liveness-port",
        type=int,
        default=int(os.environ.get("WISP_LIVENESS_PORT", "8081")),
        help="serve /healthz on this port (0: off)",
    )
    parser.add_argument(
        "--kubeconfig", default=None, help="kubeconfig file (default: in-cluster, then KUBECONFIG)"
    )
    parser.add_argument("-v", "--verbose", action="store_true")


def run(args: argparse.Namespace) -> int:
    import kopf

    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig
    kopf.configure(verbose=args.verbose, log_format=kopf.LogFormat.PLAIN)
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    settings = OperatorSettings.from_env(peering=args.peering)
    namespaces = () if args.all_namespaces else tuple(args.namespaces) or settings.namespaces
    settings = dataclasses.replace(settings, namespaces=namespaces)  # what the resync's peering reads

    from wisp.controller import handlers, keepalive  # registers the handlers
    from wisp.controller.kube import KubeApi
    from wisp.kubeconfig import load_api_client

    del handlers
    keepalive.install()
    api = KubeApi(load_api_client(args.kubeconfig))
    liveness = f"http://0.0.0.0:{args.liveness_port}/healthz" if args.liveness_port else None
    standalone = args.standalone or settings.peering is None
    priority = args.priority if args.priority is not None else secrets.randbelow(1_000_000) + 1
    kopf.run(
        priority=priority,
        clusterwide=not namespaces,
        namespaces=list(namespaces),
        standalone=standalone,
        peering_name=None if standalone else settings.peering,
        liveness_endpoint=liveness,
        memo=kopf.Memo(api=api, settings=settings),
    )
    return 0
