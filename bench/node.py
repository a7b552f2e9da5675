"""Cold starts on a real node: zero replicas → first response through the gateway Service.

wisp installed with ``helm install`` on the test suite's real node (containerd 2 + runc + the CNI
bridge + kubelet, kube-scheduler, kube-proxy; tests/node/), the Python and Node.js hello examples
applied with kubectl. Each run waits until the platform has scaled the Function to zero (its idle
timeout set to 2 s) and its EndpointSlice is empty, then times one call from the host to the gateway's
ClusterIP: the gateway's activator scales the Deployment to one, the scheduler binds the pod,
the kubelet has containerd start the sandbox and the container (images already on the node),
the readiness probe passes, the EndpointSlice names the pod and the gateway forwards the call.
Also: the node's idle cost (its processes' memory and CPU) with wisp installed and functions at
zero. Writes the "Real node" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

import yaml
from bench import docs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.node.chart import FUNCTIONS, Wisp, wisp_on  # noqa: E402
from tests.node.node import RealNode, start_real_node  # noqa: E402

EXAMPLES = {"Python": "hello", "Node.js": "node-hello"}
PEERS = "Fission (pool of warm generic pods) 110 ms p50 / 145 ms p95; Knative and OpenFaaS 1-2 s"


def machine() -> str:
    found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
    model = found.group(1) if found else "unknown CPU"
    return f"{os.cpu_count()} cores (`nproc`), {model}; 1-minute load {os.getloadavg()[0]:.2f}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


IDLE_TIMEOUT = "2s"  # the examples' own are 30 s; the platform scales to zero, the bench waits


def at_zero(wisp: Wisp, function: str, timeout: float = 180) -> None:
    """Wait until the platform has scaled ``function`` to zero: no pod, no endpoint."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        slices = wisp.kubectl(
            "get",
            "endpointslices",
            "-l",
            f"kubernetes.io/service-name={function}",
            "-o",
            "json",
            namespace=FUNCTIONS,
        )
        endpoints = any(s.get("endpoints") for s in json.loads(slices.stdout)["items"])
        if not endpoints and not wisp.function_pods(function):
            time.sleep(1)  # every gateway replica has seen the empty slice
            return
        time.sleep(0.2)
    raise RuntimeError(f"{function} did not scale to zero in {timeout} s")


def apply_example(wisp: Wisp, function: str) -> None:
    docs_ = list(yaml.safe_load_all((ROOT / "examples" / f"{function}.yaml").read_text()))
    for doc in docs_:
        if doc and doc.get("kind") == "Function":
            doc["spec"].setdefault("scale", {})["idleTimeout"] = IDLE_TIMEOUT
    wisp.apply(yaml.safe_dump_all(docs_))
    wisp.wait_ready(function)


def cold_starts(wisp: Wisp, function: str, runs: int) -> list[float]:
    times = []
    for i in range(runs):
        at_zero(wisp, function)
        started = time.perf_counter()
        status, body = wisp.call(function, {"name": "bench"}, timeout=120)
        elapsed = time.perf_counter() - started
        if status != 200:
            raise RuntimeError(f"{function} run {i}: {status} {body}")
        times.append(elapsed)
        print(f"{function} {i + 1}/{runs}: {elapsed * 1000:.0f} ms", flush=True)
    return times


def ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def idle_cost(node: RealNode, seconds: float) -> dict[str, tuple[float, float]]:
    """RSS (MiB) and CPU (% of one core) of the node's own processes over ``seconds``."""
    pids = {name: proc.pid for name, proc in node.processes.items() if proc.poll() is None}
    pids.pop("nsholder", None)
    socket = str(node.socket).encode()
    shims = []
    for proc_dir in Path("/proc").glob("[0-9]*"):
        try:
            if socket in (proc_dir / "cmdline").read_bytes() and "shim" in os.readlink(proc_dir / "exe"):
                shims.append(int(proc_dir.name))
        except OSError:
            continue
    hz = os.sysconf("SC_CLK_TCK")
    before = {name: ticks(pid) for name, pid in pids.items()}
    shims_before = sum(ticks(p) for p in shims)
    time.sleep(seconds)
    cost = {
        name: (rss_mib(pid), 100 * (ticks(pid) - before[name]) / hz / seconds) for name, pid in pids.items()
    }
    cost[f"containerd shims ({len(shims)})"] = (
        sum(rss_mib(p) for p in shims),
        100 * (sum(ticks(p) for p in shims) - shims_before) / hz / seconds,
    )
    return cost


def render(results: dict[str, list[float]], idle: dict[str, tuple[float, float]], host: str) -> str:
    lines = [
        "## Real node",
        "",
        f"Measured {datetime.date.today()} on {host}, by `make bench` (`bench/node.py`): wisp installed "
        "with `helm install` on the test suite's real node (containerd 2.3 + runc + CNI bridge, kubelet, "
        "kube-scheduler and kube-proxy v1.36, one node on this machine; images from `make images` on "
        "Debian-made bases, already on the node). Each run waits until the platform has scaled the "
        f"Function to zero (idle timeout {IDLE_TIMEOUT}) and its pod is gone, then times one call "
        "from the host to the gateway's ClusterIP: the activator scales the Deployment to one, the "
        "scheduler binds the pod, containerd starts the sandbox and the container, the readiness probe "
        "passes, the EndpointSlice names the pod, the gateway "
        "forwards.",
        "",
        "| zero → first response through the gateway | p50 | p95 | runs | min / max |",
        "|---|---|---|---|---|",
    ]
    for language, times in results.items():
        ms = [t * 1000 for t in times]
        lines.append(
            f"| {language} hello example | **{statistics.median(ms):.0f} ms** | {percentile(ms, 95):.0f} ms "
            f"| {len(ms)} | {min(ms):.0f} / {max(ms):.0f} ms |"
        )
    lines += [
        "",
        f"Peers: {PEERS}. A function at zero has no pod here, as in Knative and OpenFaaS; Fission "
        "answers from a pool of already running generic pods. The time is the node's and the "
        "platform's path together: the activator's scale-up, scheduling, the pod sandbox (CNI) and "
        "container creation by the kubelet and containerd, the readiness probe (1 s period), the "
        "EndpointSlice's way through the API server to the gateways. The runtimes themselves start in "
        "about 0.1 s as local processes (Runtimes section). The pods' conditions (whole seconds) "
        "show about 1 s from creation to a ready sandbox, then about 1 s (Python) and 3 s (Node.js) "
        "from the container's start to ready: a 128Mi Function's container is limited to 72m of CPU "
        "(CPU follows memory, as in Lambda), which stretches the interpreter's start; Node.js's "
        "worker boot suffers most. The machine is shared: note the load figure.",
        "",
        "Idle cost of the node with wisp installed (two operators, two gateways, Redis) and every function "
        "at zero:",
        "",
        "| process | RSS | CPU (one core) |",
        "|---|---|---|",
    ]
    for name, (rss, cpu) in sorted(idle.items()):
        lines.append(f"| {name} | {rss:.0f} MiB | {cpu:.1f} % |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    host = machine()
    node = start_real_node()
    try:
        wisp = wisp_on(node).install()
        try:
            results = {}
            for language, function in EXAMPLES.items():
                apply_example(wisp, function)
                wisp.call(function, {"name": "warm-up"}, timeout=120)  # the image's first start
                results[language] = cold_starts(wisp, function, args.runs)
            for function in EXAMPLES.values():
                at_zero(wisp, function)
            idle = idle_cost(node, 30)
        finally:
            wisp.uninstall()
    finally:
        node.stop()
    section = render(results, idle, host)
    print(section)
    if not args.no_docs:
        docs.write_section("Real node", section)


if __name__ == "__main__":
    main()
