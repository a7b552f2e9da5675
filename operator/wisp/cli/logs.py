"""``wisp logs NAME [-f] [--level L]``: the logs of every pod of a function, merged, each line
prefixed.

Reads through the API server (``pods/log``, which the kubelet serves), with timestamps so the
pods' lines can be merged in time order; the prefix is the pod's name. ``-f`` follows every pod,
picking up pods that start later (scale-out, scale from zero). ``--level`` keeps the records at
or above a level (JSON or Text lines, ``wisp.api.logconfig.LevelFilter``).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any

from kubernetes.client.rest import ApiException

from wisp.api import names
from wisp.api.logconfig import LEVEL_CHOICES, LevelFilter
from wisp.cli import kube
from wisp.cli.errors import CliError

CONTAINER = "function"
POD_POLL = 2.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the function")
    parser.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    parser.add_argument("--tail", type=int, default=None, help="last N lines of each pod")
    parser.add_argument("--since", type=int, default=None, help="only the last N seconds")
    parser.add_argument(
        "--level",
        choices=LEVEL_CHOICES,
        type=str.upper,
        default=None,
        help="only records at or above this level",
    )
    kube.add_arguments(parser)


def split_timestamp(line: str) -> tuple[str, str]:
    """``2026-01-02T03:04:05.123Z text`` -> (timestamp, text); no timestamp -> ("", line)."""
    stamp, space, text = line.partition(" ")
    if space and len(stamp) >= 20 and stamp[4] == "-" and stamp[10] == "T":
        return stamp, text
    return "", line


def merged(per_pod: dict[str, str], level: str | None = None) -> list[str]:
    """Every pod's lines in time order (stable within a pod), as ``pod | text``; with ``level``
    only the records at or above it."""
    rows: list[tuple[str, int, str, str]] = []
    for pod, text in per_pod.items():
        keep = LevelFilter(level).keep if level else None
        for index, line in enumerate(text.splitlines()):
            stamp, body = split_timestamp(line)
            if keep is None or keep(body):
                rows.append((stamp, index, pod, body))
    rows.sort(key=lambda r: (r[0], r[2], r[1]))
    return [f"{pod} | {body}" for _, _, pod, body in rows]


def _log_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"container": CONTAINER, "timestamps": True}
    if args.tail is not None:
        kwargs["tail_lines"] = args.tail
    if args.since is not None:
        kwargs["since_seconds"] = args.since
    return kwargs


def read_pod_log(cluster: kube.Cluster, pod: str, **kwargs: Any) -> str:
    try:
        text: str = cluster.core.read_namespaced_pod_log(pod, cluster.namespace, **kwargs)
        return text
    except ApiException as exc:
        raise log_error(pod, exc) from None


def log_error(pod: str, exc: ApiException) -> CliError:
    """The API server fetches pod logs from the node's kubelet; its failure, as one line."""
    return CliError(
        f"cannot read the logs of pod {pod} (API server answered {exc.status}): {kube.status_message(exc)}"
    )


def _names(pods: Iterable[Any]) -> list[str]:
    started = ("Running", "Succeeded", "Failed")
    return sorted(p.metadata.name for p in pods if p.status is not None and p.status.phase in started)


def run(args: argparse.Namespace) -> int:
    cluster = kube.connect(args)
    cluster.get(names.FUNCTIONS, args.name)
    pods = _names(cluster.pods(args.name))
    if not pods and not args.follow:
        print(
            f"{args.name} has no running pods (it is at zero replicas): call it and try again, "
            f"or follow with -f",
            file=sys.stderr,
        )
        return 0
    if not args.follow:
        texts = {pod: read_pod_log(cluster, pod, **_log_kwargs(args)) for pod in pods}
        for line in merged(texts, args.level):
            print(line)
        return 0
    return follow(cluster, args)


def follow(cluster: kube.Cluster, args: argparse.Namespace) -> int:
    lock = threading.Lock()
    followed: set[str] = set()
    failures: list[str] = []

    def stream(pod: str) -> None:
        try:
            response = cluster.core.read_namespaced_pod_log(
                pod, cluster.namespace, follow=True, _preload_content=False, **_log_kwargs(args)
            )
            pending = b""
            keep = LevelFilter(args.level).keep if args.level else None
            for chunk in response.stream(4096):
                *lines, pending = (pending + chunk).split(b"\n")
                with lock:
                    for raw in lines:
                        body = split_timestamp(raw.decode("utf-8", "replace"))[1]
                        if keep is None or keep(body):
                            print(f"{pod} | {body}", flush=True)
        except ApiException as exc:
            failures.append(str(log_error(pod, exc)))
        finally:
            with lock:
                followed.discard(pod)

    while True:
        for pod in _names(cluster.pods(args.name)):
            with lock:
                if pod in followed:
                    continue
                followed.add(pod)
            threading.Thread(target=stream, args=(pod,), daemon=True, name=f"logs-{pod}").start()
        if failures:
            raise CliError(failures[0])
        time.sleep(POD_POLL)
