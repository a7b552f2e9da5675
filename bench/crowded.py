"""A cold start on the real node beside many idle Functions, against the same beside ten.

wisp installed with ``helm install`` on the test suite's real node, as ``bench/node.py`` has it,
and the Python hello example at zero (its default setup). Its zero → first response is timed as
``bench/node.py`` times it in three rounds: with ten Functions in the cluster (the example and
nine idle ones); after one ``kubectl apply`` of a List brought them to ``--functions`` (10,000
by default, all at zero, in the same namespace); and with ten again once one delete took the
added ones away, so that the rounds beside ten bracket the crowded one in time and a drift of
the machine between rounds shows. Before the second round every Function is Ready and
kube-controller-manager has made every ReplicaSet (it is restarted at 500 requests a second
once all are Ready, so its backlog clears in minutes, not half an hour). Each round waits for
the machine's load to settle (``quiet``), measures what each part of the cluster spends at idle
for ``IDLE_WINDOW`` seconds, then its cold starts and the CPU each part spent on them beyond its
idle share (``Components``). Writes the "Cold start beside idle Functions (real node)" section
of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import os
import ssl
import statistics
import sys
import threading
import time
import traceback
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import docs
from bench.node import SETUPS, STEPS, Timeline, apply_example, cold_starts, machine, percentile
from bench.procs import CLK_TCK, cpu_seconds
from bench.scale import catch_up, peak_rss_mib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kubernetes import config  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from tests.cluster.bulk import apply_functions, delete_set, wait_all_ready  # noqa: E402
from tests.node.chart import FUNCTIONS, SYSTEM, wisp_on  # noqa: E402
from tests.node.node import start_real_node  # noqa: E402

SECTION = "Cold start beside idle Functions (real node)"
FEW = 10
CROWD = "crowd"  # the prefix of the Functions the second round adds (and the third deletes)
CATCH_UP_QPS = 500
# Each round starts once the 1-minute load is this low and the machine's CPU stopped falling (or
# after QUIET_WAIT seconds): the target compares cold starts beside idle Functions, not beside a
# control plane still catching up.
QUIET_LOAD = 1.5
QUIET_WAIT = 900.0
SETTLE_WINDOW = 30.0
SETTLE_TOLERANCE = 0.1
SETTLE_RETRIES = 0.5  # kube-controller-manager's work queue retries a second, all queues
QUEUES_SHOWN = 4  # kube-controller-manager's busiest work queues named for each round
IDLE_WINDOW = 60.0  # seconds of idle measured before each round
SETTLED = 1.5  # a round beside ten is compared when its idle machine is within this of the first's


class Components:
    """CPU time of each part of the cluster on this machine (the real node's containers are its
    processes), by the program a process runs; ``other`` is the rest of the machine."""

    # The first match names the part: wisp's processes by their arguments, the others by argv[0].
    PARTS = (
        ("wisp operator", b"wisp\x00operator"),
        ("wisp gateway", b"wisp\x00gateway"),
        ("kube-apiserver", b"kube-apiserver"),
        ("etcd", b"etcd"),
        ("kube-controller-manager", b"kube-controller-manager"),
        ("kube-scheduler", b"kube-scheduler"),
        ("kubelet", b"kubelet"),
        ("kube-proxy", b"kube-proxy"),
        ("containerd", b"containerd"),
        ("coredns", b"coredns"),
        ("redis", b"redis-server"),
    )

    @classmethod
    def part_of(cls, cmdline: bytes) -> str | None:
        argv0 = cmdline.split(b"\x00", 1)[0].rsplit(b"/", 1)[-1]
        for name, mark in cls.PARTS:
            if mark in cmdline if b"\x00" in mark else argv0.startswith(mark):
                return name
        return None

    @classmethod
    def sample(cls) -> dict[str, float]:
        """CPU seconds used so far by each part, and by the whole machine (``machine``)."""
        used = dict.fromkeys([name for name, _ in cls.PARTS], 0.0)
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
                name = cls.part_of(cmdline)
                if name is not None:
                    used[name] += cpu_seconds(int(entry.name))
            except OSError:
                continue
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        used["machine"] = (sum(int(f) for f in fields[:8]) - int(fields[3]) - int(fields[4])) / CLK_TCK
        return used

    @classmethod
    def idle(cls, seconds: float) -> dict[str, float]:
        """Each part's share of one core over ``seconds`` of doing nothing asked of it."""
        before, began = cls.sample(), time.monotonic()
        time.sleep(seconds)
        after, took = cls.sample(), time.monotonic() - began
        return cls.with_other({name: 100 * (after[name] - before[name]) / took for name in before})

    @staticmethod
    def with_other(by_part: dict[str, float]) -> dict[str, float]:
        """``by_part`` (each part and the whole machine) with ``other``, the machine's rest."""
        parts = sum(v for k, v in by_part.items() if k not in ("machine", "other"))
        return {**by_part, "other": by_part["machine"] - parts}


class ControllerQueues:
    """kube-controller-manager's work queues, from its metrics (``workqueue_adds_total``,
    ``workqueue_depth`` and ``workqueue_retries_total`` by queue name): what its controllers are
    doing while the cluster idles."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._tls = ssl.create_default_context()
        self._tls.check_hostname = False
        self._tls.verify_mode = ssl.CERT_NONE  # its own self-signed serving certificate, on loopback

    def read(self) -> tuple[dict[str, float], float, float]:
        """Items added so far by queue, the items waiting in all queues now, and the retries so
        far in all queues (an item a sync failed for, put back after a delay: not in the depth
        while it waits)."""
        with urllib.request.urlopen(self.url, context=self._tls, timeout=10) as answer:  # noqa: S310 (https)
            text = answer.read().decode()
        adds: dict[str, float] = {}
        depth = retries = 0.0
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "workqueue_adds_total":
                    adds[sample.labels.get("name", "")] = sample.value
                elif sample.name == "workqueue_depth":
                    depth += sample.value
                elif sample.name == "workqueue_retries_total":
                    retries += sample.value
        return adds, depth, retries


def quiet(queues: ControllerQueues) -> float:
    """Wait for the cluster to settle, at most ``QUIET_WAIT`` seconds; the 1-minute load then.

    Settled: the load at most ``QUIET_LOAD``, kube-controller-manager's work queues empty and not
    retrying (fewer than ``SETTLE_RETRIES`` a second), and the machine's CPU over ``SETTLE_WINDOW``
    no longer falling (within ``SETTLE_TOLERANCE`` of the window before, or half a point of a
    core). After a bulk apply or delete (and the controller manager's restart to catch up), the
    controllers go on resyncing for minutes after the load is low again, at the steady pace of
    their client's or their queue's rate limit: after the restart beside 10,000, the Deployment
    controller retried its Deployments at its queue's 10 a second for more than ten minutes,
    each sync walking every ReplicaSet of the namespace."""
    deadline = time.monotonic() + QUIET_WAIT
    last: float | None = None
    while time.monotonic() < deadline:
        retried = queues.read()[2]
        share = Components.idle(SETTLE_WINDOW)["machine"]
        low = os.getloadavg()[0] <= QUIET_LOAD
        _, waiting, retries = queues.read()
        calm = not waiting and (retries - retried) / SETTLE_WINDOW < SETTLE_RETRIES
        if low and calm and last is not None and share >= last - max(SETTLE_TOLERANCE * last, 0.5):
            break
        last = share
    return os.getloadavg()[0]


class ChartMemory:
    """The high-water mark of each process of the chart's operator and gateway pods, read from
    /proc every few seconds (the real node's containers are processes of this machine); a
    replica restarted is a new process, so its peak before the restart is kept."""

    ROLES = {"operator": b"wisp\x00operator", "gateway": b"wisp\x00gateway"}

    def __init__(self, every: float = 2.0) -> None:
        self.peaks: dict[int, tuple[str, float]] = {}  # pid -> (role, VmHWM in MiB)
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> ChartMemory:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self.sample()

    def sample(self) -> None:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
                role = next((r for r, argv in self.ROLES.items() if argv in cmdline), None)
                if role is None:
                    continue
                peak = peak_rss_mib(int(entry.name))
            except OSError:
                continue
            pid = int(entry.name)
            self.peaks[pid] = (role, max(peak, self.peaks.get(pid, (role, 0.0))[1]))

    def peaks_mib(self, role: str) -> list[int]:
        """Each process's peak, highest first."""
        return sorted((int(mib) for r, mib in self.peaks.values() if r == role), reverse=True)


def restarts(wisp: Any) -> int:
    """Container restarts across the chart's pods."""
    pods = json.loads(wisp.kubectl("get", "pods", "-o", "json", namespace=SYSTEM).stdout)
    return sum(
        int(status.get("restartCount") or 0)
        for pod in pods.get("items", [])
        for status in (pod.get("status") or {}).get("containerStatuses") or []
    )


@dataclass
class Round:
    """The cold starts of one round and what the cluster did around them."""

    functions: int
    label: str
    times: list[float]
    steps: list[dict[str, float]]
    load: float
    idle: dict[str, float]  # share of one core by part, in the idle window before
    per_start: dict[str, float]  # ms of CPU by part a cold start cost, beyond the idle share
    queue_adds: dict[str, float]  # kube-controller-manager's work queue adds a second, idle window


def measure(
    wisp: Any,
    function: str,
    functions: int,
    label: str,
    runs: int,
    timeline: Timeline,
    queues: ControllerQueues,
) -> Round:
    """Wait for quiet, measure the idle cluster, then ``runs`` cold starts and their CPU by part."""
    load = quiet(queues)
    added, began = queues.read()[0], time.monotonic()
    idle = Components.idle(IDLE_WINDOW)
    after, took = queues.read()[0], time.monotonic() - began
    queue_adds = {name: (after[name] - added.get(name, 0.0)) / took for name in after}
    spent: dict[str, float] = {}  # CPU seconds by part over the cold starts, beyond the idle share

    @contextlib.contextmanager
    def counted() -> Iterator[None]:
        before, began = Components.sample(), time.monotonic()
        yield
        after, took = Components.sample(), time.monotonic() - began
        for name in before:
            spent[name] = spent.get(name, 0.0) + after[name] - before[name] - idle[name] / 100 * took

    times, steps = cold_starts(wisp, function, runs, timeline, around=counted)
    per_start = Components.with_other({name: 1000 * seconds / runs for name, seconds in spent.items()})
    busiest = dict(sorted(queue_adds.items(), key=lambda kv: -kv[1])[:QUEUES_SHOWN])
    measured = Round(functions, label, times, steps, load, idle, per_start, busiest)
    print(json.dumps(dataclasses.asdict(measured)), flush=True)  # kept should a later step fail
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--functions", type=int, default=10_000, help="Functions in the cluster, second round"
    )
    parser.add_argument("--runs", type=int, default=15, help="cold starts in each round")
    parser.add_argument(
        "--no-return", action="store_true", help="no third round (back at ten after the deletion)"
    )
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a chart value (helm --set), repeatable",
    )
    args = parser.parse_args()
    host = machine()
    mode = SETUPS[-1][0]  # bench/node.py's default setup
    node = start_real_node()
    timeline = Timeline(node)
    assert node.plane is not None
    queues = ControllerQueues(node.plane.controller_manager_metrics)
    rounds: list[Round] = []
    deleted: float | None = None
    try:
        # No uninstall after: the node and its control plane are stopped whole.
        wisp = wisp_on(node).install(**dict(value.split("=", 1) for value in args.set))
        api = config.new_client_from_config(config_file=str(node.kubeconfig))
        function = apply_example(wisp, "Python", mode)
        wisp.call(function, {"name": "warm-up"}, timeout=120)  # the image's first start
        apply_functions(wisp.kubectl, FUNCTIONS, "idle", 0, FEW - 1)
        wait_all_ready(api, FUNCTIONS, FEW, timeout=300)
        rounds.append(measure(wisp, function, FEW, "first", args.runs, timeline, queues))
        memory = ChartMemory().start()
        started = time.monotonic()
        apply_functions(wisp.kubectl, FUNCTIONS, CROWD, FEW - 1, args.functions - FEW)
        wait_all_ready(api, FUNCTIONS, args.functions, timeout=3600)
        ready = time.monotonic() - started
        catch_up(node.plane, api, FUNCTIONS, CATCH_UP_QPS)
        memory.stop()
        restarted = restarts(wisp)
        print(f"{args.functions} Functions Ready {ready:.0f} s after the apply began", flush=True)
        rounds.append(measure(wisp, function, args.functions, "crowded", args.runs, timeline, queues))
        if not args.no_return:
            try:
                deleted = delete_set(api, FUNCTIONS, CROWD, timeout=3600)
                print(f"{args.functions - FEW} Functions deleted in {deleted:.0f} s", flush=True)
                rounds.append(measure(wisp, function, FEW, "again", args.runs, timeline, queues))
            except Exception:
                traceback.print_exc()  # the two rounds measured are still worth their section
                deleted = None
    finally:
        timeline.close()
        node.stop()
    text = render(rounds, host, mode, ready, memory, restarted, deleted)
    print(text)
    if not args.no_docs:
        docs.write_section(SECTION, text)


def render(
    rounds: list[Round],
    host: str,
    mode: str,
    ready: float,
    memory: ChartMemory,
    restarted: int,
    deleted: float | None,
) -> str:
    (crowded,) = [r for r in rounds if r.functions != FEW]
    first = rounds[0]
    # The rounds beside ten the comparison takes: those whose cluster was as idle as the first's.
    few = [r for r in rounds if r.functions == FEW and r.idle["machine"] <= SETTLED * first.idle["machine"]]
    busy = [r for r in rounds if r.functions == FEW and r not in few]
    many = crowded.functions
    baseline = statistics.median([t for r in few for t in r.times]) * 1000
    p50 = statistics.median(crowded.times) * 1000
    order = (
        f"with {FEW:,} Functions in the cluster, then after one `kubectl apply` of a List brought them"
        f" to {many:,} (all at zero, in the same namespace; all Ready {ready:.0f} s after the apply"
        " began, and kube-controller-manager caught up before the second round)"
    )
    if deleted is not None:
        order += f", then with {FEW:,} again after one delete of the {many - FEW:,} (gone in {deleted:.0f} s)"
    lines = [
        f"## {SECTION}",
        "",
        f"Measured {datetime.date.today()} on {host}, by `python -m bench.crowded`: wisp installed with"
        " `helm install` on the test suite's real node, the Python hello example's cold start (zero →"
        f" first response through the gateway, CPU `{mode}`, as in [Real node](#real-node)) {order}."
        f" Each round starts once the 1-minute load is at most {QUIET_LOAD:g} and the machine's CPU over"
        f" {SETTLE_WINDOW:.0f} s has stopped falling (within {100 * SETTLE_TOLERANCE:.0f} % of the"
        f" {SETTLE_WINDOW:.0f} s before; or after {QUIET_WAIT:.0f} s of waiting for it).",
        "",
        "| round | Functions in the cluster | p50 | p95 | runs | min / max | load at the start |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rounds:
        ms = [t * 1000 for t in r.times]
        lines.append(
            f"| {r.label} | {r.functions:,} | **{statistics.median(ms):.0f} ms**"
            f" | {percentile(ms, 95):.0f} ms | {len(ms)} | {min(ms):.0f} / {max(ms):.0f} ms | {r.load:.2f} |"
        )
    beside = f"the p50 of the {len(few) * len(few[0].times)} cold starts beside {FEW:,}"
    lines += [
        "",
        f"The p50 beside {many:,} is {100 * (p50 - baseline) / baseline:+.0f} % of {beside}"
        f" ({baseline:.0f} ms; target: within 10 %).",
    ]
    for r in busy:
        lines.append("")
        lines.append(
            f"The round *{r.label}* is left out of the comparison: its cluster was not idle (the whole"
            f" machine at {r.idle['machine']:.1f} % of a core in the window before it, the API server at"
            f" {r.idle['kube-apiserver']:.1f} %, against {first.idle['machine']:.1f} % and"
            f" {first.idle['kube-apiserver']:.1f} % before the first round)."
        )
    lines += [
        "",
        "Medians of each step of a cold start (ms from the call; [Real node](#real-node) says where"
        " each is seen from):",
        "",
        "| round | " + " | ".join(STEPS) + " |",
        "|---|" + "---|" * len(STEPS),
    ]
    for r in rounds:
        cells = []
        for step in STEPS:
            seen = [s[step] * 1000 for s in r.steps if step in s]
            cells.append(f"{statistics.median(seen):.0f}" if seen else "-")
        lines.append(f"| {r.label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"From the apply of the {many - FEW:,} until kube-controller-manager caught up, each process's peak"
        f" memory (VmHWM): operators {_mib(memory.peaks_mib('operator'))},"
        f" gateways {_mib(memory.peaks_mib('gateway'))}; container restarts in"
        f" the chart's pods: {restarted}.",
        "",
        "What each part of the cluster spent: its share of one core in the"
        f" {IDLE_WINDOW:.0f} s of idle before each round (the machine has two), and the ms of CPU a"
        " cold start cost it beyond that share, from its call until its pod's status settled 0.3 s"
        " after the answer (the function's own processes are in *other*):",
        "",
        "| part | "
        + " | ".join(f"idle, {r.label}" for r in rounds)
        + " | "
        + " | ".join(f"a cold start, {r.label}" for r in rounds)
        + " |",
        "|---|" + "---|" * (2 * len(rounds)),
    ]
    for name in [*(k for k in first.idle if k != "machine"), "machine"]:
        label = "the whole machine" if name == "machine" else name
        lines.append(
            f"| {label} | "
            + " | ".join(f"{r.idle[name]:.1f} %" for r in rounds)
            + " | "
            + " | ".join(f"{r.per_start[name]:.0f} ms" for r in rounds)
            + " |"
        )
    lines += [
        "",
        "kube-controller-manager's busiest work queues in each idle window (items added a second):",
        "",
        *(
            f"* {r.label}: "
            + (
                ", ".join(f"{name or '(unnamed)'} {rate:.1f}" for name, rate in r.queue_adds.items())
                or "none"
            )
            for r in rounds
        ),
        "",
    ]
    return "\n".join(lines)


def _queue_rates(adds: dict[str, float]) -> list[str]:
    return [f"{name or '(unnamed)'} {rate:.1f}" for name, rate in adds.items()]


def _mib(peaks: list[int]) -> str:
    return " and ".join(f"{p} MiB" for p in peaks) or "none seen"


if __name__ == "__main__":
    main()
