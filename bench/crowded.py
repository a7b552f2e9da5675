"""A cold start on the real node beside many idle Functions, against the same beside ten.

wisp installed with ``helm install`` on the test suite's real node, as ``bench/node.py`` has it,
and the Python hello example at zero (its default setup). Its zero → first response is timed as
``bench/node.py`` times it, first with ten Functions in the cluster (the example and nine idle
ones), then after one ``kubectl apply`` of a List brought them to ``--functions`` (10,000 by
default, all at zero, in the same namespace). Before the second round every Function is Ready
and kube-controller-manager has made every ReplicaSet (it is restarted at 500 requests a second
once all are Ready, so its backlog clears in minutes, not half an hour), and each round waits
for the machine's load to settle (``quiet``), then measures what each part of the cluster
spends at idle for ``IDLE_WINDOW`` seconds (``Components``) before its cold starts. Writes the
"Cold start beside idle Functions (real node)" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench import docs
from bench.node import SETUPS, Timeline, apply_example, cold_starts, machine, percentile
from bench.procs import CLK_TCK, cpu_seconds
from bench.scale import catch_up, peak_rss_mib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kubernetes import config  # noqa: E402
from tests.cluster.bulk import apply_functions, wait_all_ready  # noqa: E402
from tests.node.chart import FUNCTIONS, SYSTEM, wisp_on  # noqa: E402
from tests.node.node import start_real_node  # noqa: E402

SECTION = "Cold start beside idle Functions (real node)"
FEW = 10
CATCH_UP_QPS = 500
# Each round starts once the 1-minute load is this low (or after QUIET_WAIT seconds): the
# target compares cold starts beside idle Functions, not beside an API server still catching up.
QUIET_LOAD = 1.5
QUIET_WAIT = 900.0
IDLE_WINDOW = 60.0  # seconds of idle measured before each round


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
        shares = {name: 100 * (after[name] - before[name]) / took for name in before}
        shares["other"] = shares["machine"] - sum(v for k, v in shares.items() if k != "machine")
        return shares


def quiet() -> float:
    """Wait for the machine to settle (``QUIET_LOAD``, at most ``QUIET_WAIT``); the load then."""
    deadline = time.monotonic() + QUIET_WAIT
    while os.getloadavg()[0] > QUIET_LOAD and time.monotonic() < deadline:
        time.sleep(10)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--functions", type=int, default=10_000, help="Functions in the cluster, second round"
    )
    parser.add_argument("--runs", type=int, default=10, help="cold starts in each round")
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
    rounds: dict[int, list[float]] = {}
    loads: dict[int, float] = {}
    idle: dict[int, dict[str, float]] = {}
    try:
        # No uninstall after: deleting 10,000 Functions takes minutes, and the node and its
        # control plane are stopped whole.
        wisp = wisp_on(node).install(**dict(value.split("=", 1) for value in args.set))
        api = config.new_client_from_config(config_file=str(node.kubeconfig))
        function = apply_example(wisp, "Python", mode)
        wisp.call(function, {"name": "warm-up"}, timeout=120)  # the image's first start
        apply_functions(wisp.kubectl, FUNCTIONS, "idle", 0, FEW - 1)
        wait_all_ready(api, FUNCTIONS, FEW, timeout=300)
        loads[FEW] = quiet()
        idle[FEW] = Components.idle(IDLE_WINDOW)
        rounds[FEW], _ = cold_starts(wisp, function, args.runs, timeline)
        memory = ChartMemory().start()
        started = time.monotonic()
        apply_functions(wisp.kubectl, FUNCTIONS, "idle", FEW - 1, args.functions - FEW)
        wait_all_ready(api, FUNCTIONS, args.functions, timeout=3600)
        ready = time.monotonic() - started
        assert node.plane is not None
        catch_up(node.plane, api, FUNCTIONS, CATCH_UP_QPS)
        memory.stop()
        restarted = restarts(wisp)
        print(f"{args.functions} Functions Ready {ready:.0f} s after the apply began", flush=True)
        loads[args.functions] = quiet()
        idle[args.functions] = Components.idle(IDLE_WINDOW)
        rounds[args.functions], _ = cold_starts(wisp, function, args.runs, timeline)
    finally:
        timeline.close()
        node.stop()
    text = render(rounds, loads, host, mode, ready, memory, restarted, idle)
    print(text)
    if not args.no_docs:
        docs.write_section(SECTION, text)


def render(
    rounds: dict[int, list[float]],
    loads: dict[int, float],
    host: str,
    mode: str,
    ready: float,
    memory: ChartMemory,
    restarted: int,
    idle: dict[int, dict[str, float]],
) -> str:
    few, many = sorted(rounds)
    p50 = {n: statistics.median(times) * 1000 for n, times in rounds.items()}
    lines = [
        f"## {SECTION}",
        "",
        f"Measured {datetime.date.today()} on {host}, by `python -m bench.crowded`: wisp installed with"
        " `helm install` on the test suite's real node, the Python hello example's cold start (zero →"
        f" first response through the gateway, CPU `{mode}`, as in [Real node](#real-node)) with {few:,}"
        f" Functions in the cluster, then after one `kubectl apply` of a List brought them to {many:,}"
        f" (all at zero, in the same namespace; all Ready {ready:.0f} s after the apply began, and"
        " kube-controller-manager caught up before the second round). Each round starts once the"
        f" 1-minute load is at most {QUIET_LOAD:g} (or after {QUIET_WAIT:.0f} s of waiting for it).",
        "",
        "| Functions in the cluster | p50 | p95 | runs | min / max | load at the start |",
        "|---|---|---|---|---|---|",
    ]
    for n, times in sorted(rounds.items()):
        ms = [t * 1000 for t in times]
        lines.append(
            f"| {n:,} | **{p50[n]:.0f} ms** | {percentile(ms, 95):.0f} ms | {len(ms)}"
            f" | {min(ms):.0f} / {max(ms):.0f} ms | {loads[n]:.2f} |"
        )
    change = 100 * (p50[many] - p50[few]) / p50[few]
    lines += [
        "",
        f"The p50 beside {many:,} is {change:+.0f} % of the p50 beside {few:,} (target: within 10 %).",
        "",
        f"From the apply of the {many - few:,} until kube-controller-manager caught up, each process's peak"
        f" memory (VmHWM): operators {_mib(memory.peaks_mib('operator'))},"
        f" gateways {_mib(memory.peaks_mib('gateway'))}; container restarts in"
        f" the chart's pods: {restarted}.",
        "",
        f"What each part of the cluster spent in the {IDLE_WINDOW:.0f} s of idle before each round"
        " (share of one core; the machine has two):",
        "",
        f"| part | beside {few:,} | beside {many:,} |",
        "|---|---|---|",
    ]
    for name in [*idle[few].keys()]:
        if name != "machine":
            lines.append(f"| {name} | {idle[few][name]:.1f} % | {idle[many][name]:.1f} % |")
    lines += [f"| the whole machine | {idle[few]['machine']:.1f} % | {idle[many]['machine']:.1f} % |", ""]
    return "\n".join(lines)


def _mib(peaks: list[int]) -> str:
    return " and ".join(f"{p} MiB" for p in peaks) or "none seen"


if __name__ == "__main__":
    main()
