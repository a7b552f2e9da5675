"""Many Functions on one cluster: what idle Functions cost the operator and the gateway.

The test suite's real control plane (kube-apiserver, etcd, kube-controller-manager; tests/cluster/),
``wisp operator`` and one ``wisp gateway`` as local processes against it, as the chart runs them.
Functions are added in steps (one ``kubectl apply --server-side`` of a List each, all at zero); at
each step: seconds until every Function is Ready, then, after a settling pause, over an idle window:
the gateway's and the operator's CPU and RSS (``/proc``), the leader's decision-loop time per tick
(``wisp_autoscaler_tick_seconds``) and the functions it looked at, and the time from applying one
more Function to the gateway routing a call to it. No pods run: the Functions stay at zero, which
is what is measured. Writes the "A thousand Functions" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench import docs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kubernetes import client, config  # noqa: E402
from tests.cluster.bulk import GROUP, PLURAL, VERSION, apply_functions, function_list, wait_all_ready  # noqa: E402
from tests.cluster.controlplane import start_control_plane  # noqa: E402
from tests.cluster.fixtures import Kubectl, OperatorProcess, start_operator, stop_process  # noqa: E402
from tests.support.net import free_port  # noqa: E402

NAMESPACE = "scale"
SETTLE = 20.0  # seconds after all are Ready before the idle window
WINDOW = 30.0  # seconds of idle measured
TICKS = os.sysconf("SC_CLK_TCK")
# What the chart sets in both containers (values.yaml): two malloc arenas, not eight per core.
CHART_ENV = {"MALLOC_ARENA_MAX": "2"}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid: int) -> float:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else 0.0


TICK_SUM = "wisp_autoscaler_tick_seconds_sum"
TICK_COUNT = "wisp_autoscaler_tick_seconds_count"
ACTIVE = "wisp_autoscaler_active_functions"


def scrape(admin_port: int, names: tuple[str, ...] = (TICK_SUM, TICK_COUNT, ACTIVE)) -> dict[str, float]:
    """Each of ``names`` from the gateway's /metrics: a metric with its labels as written there
    (``x_bucket{le="0.1"}``), or a bare name, summed over its label sets (0 when absent)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=30) as resp:
        text = resp.read().decode()
    out = {}
    for name in names:
        labels = "" if "{" in name else r"(?:\{[^}]*\})?"
        out[name] = sum(float(v) for v in re.findall(rf"^{re.escape(name)}{labels} (\S+)$", text, re.M))
    return out


@dataclass
class Gateway:
    proc: subprocess.Popen[bytes]
    port: int
    admin_port: int

    def status_of(self, path: str) -> int:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=b"{}",
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=0.5) as resp:  # noqa: S310 (loopback http)
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except (TimeoutError, urllib.error.URLError):
            return 0  # held for a cold start: routed


def start_gateway(kubeconfig: Path, log: Path) -> Gateway:
    port, admin_port = free_port(), free_port()
    env = {
        **os.environ,
        "WISP_KUBECONFIG": str(kubeconfig),
        "WISP_GATEWAY_HOST": "127.0.0.1",
        "WISP_GATEWAY_PORT": str(port),
        "WISP_ADMIN_PORT": str(admin_port),
        "WISP_NAMESPACES": NAMESPACE,
        "WISP_DEFAULT_NAMESPACE": NAMESPACE,
        "WISP_LEASE_NAMESPACE": NAMESPACE,
        "WISP_POD_NAME": "gw-0",
        "WISP_PUBLIC_BY_DEFAULT": "true",
        **CHART_ENV,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "wisp", "gateway"],
        env=env,
        cwd=ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    gateway = Gateway(proc, port, admin_port)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/readyz", timeout=5)
            return gateway
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"gateway not ready:\n{log.read_text()[-3000:]}")


def start_wisp(kubectl: Kubectl, kubeconfig: Path, work: Path) -> tuple[OperatorProcess, Gateway]:
    """wisp's CRDs and NAMESPACE, then ``wisp operator`` and one ``wisp gateway`` (logs in ``work``)."""
    kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
    kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
    kubectl("create", "namespace", NAMESPACE)
    operator = start_operator(
        kubeconfig, work / "operator.log", "--namespace", NAMESPACE, "--liveness-port", "0", env=CHART_ENV
    )
    return operator, start_gateway(kubeconfig, work / "gateway.log")


def routable_after(api: client.ApiClient, gateway: Gateway, name: str) -> float:
    """Seconds from the API server accepting one more Function to the gateway routing a call to
    it (anything but a 404)."""
    body = json.loads(function_list(name, 0, 1))["items"][0]
    client.CustomObjectsApi(api).create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, body)
    started = time.monotonic()
    while time.monotonic() - started < 120:
        if gateway.status_of(f"/function/{name}-00000.{NAMESPACE}") != 404:
            return time.monotonic() - started
        time.sleep(0.01)
    raise RuntimeError(f"{name} not routable after 120 s")


def measure_step(
    kubectl: Kubectl,
    api: client.ApiClient,
    gateway: Gateway,
    operator_pid: int,
    done: int,
    total: int,
    probes: int,
) -> dict[str, float]:
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    apply_functions(kubectl, NAMESPACE, "fn", done, total - done)
    applied = time.monotonic() - started
    # the Functions each earlier step applied to time routing are in the namespace too
    ready_in = wait_all_ready(api, NAMESPACE, total + probes, timeout=3600, progress=_progress)
    ready = applied + ready_in
    time.sleep(SETTLE)
    gw_cpu, op_cpu, scraped = (
        cpu_seconds(gateway.proc.pid),
        cpu_seconds(operator_pid),
        scrape(gateway.admin_port),
    )
    time.sleep(WINDOW)
    gw_cpu = cpu_seconds(gateway.proc.pid) - gw_cpu
    op_cpu = cpu_seconds(operator_pid) - op_cpu
    after = scrape(gateway.admin_port)
    ticks = after[TICK_COUNT] - scraped[TICK_COUNT]
    tick_ms = 1000 * (after[TICK_SUM] - scraped[TICK_SUM]) / max(ticks, 1)
    result = {
        "functions": total,
        "apply_s": applied,
        "ready_s": ready,
        "gateway_cpu_pct": 100 * gw_cpu / WINDOW,
        "operator_cpu_pct": 100 * op_cpu / WINDOW,
        "gateway_rss": rss_mib(gateway.proc.pid),
        "operator_rss": rss_mib(operator_pid),
        "tick_ms": tick_ms,
        "active": after[ACTIVE],
        "load_before": load_before,
    }
    result["routable_s"] = routable_after(api, gateway, f"probe{total}")
    result["load_after"] = os.getloadavg()[0]
    print(result, flush=True)
    return result


def _progress(ready: int, seconds: float) -> None:
    if int(seconds) % 30 == 0:
        print(f"  {ready} Ready after {seconds:.0f} s", flush=True)


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} CPUs ({cpu})"


def section(rows: list[dict[str, float]], baseline: dict[str, float]) -> str:
    lines = [
        "## A thousand Functions",
        "",
        f"Measured {datetime.datetime.now(datetime.UTC):%Y-%m-%d} on {machine()}, with `make bench-scale`"
        " (`python -m bench.scale`): the test suite's control plane (kube-apiserver, etcd,"
        " kube-controller-manager), `wisp operator` and one `wisp gateway` as local processes, autoscaler"
        " tick 2 s. Functions added in steps, each step one `kubectl apply --server-side` of a List of"
        " small inline Python Functions at zero (kubectl sends one request per item: the apply's time is"
        " the API server creating the Functions; Ready counts from the same start); idle figures over"
        f" {WINDOW:g} s starting {SETTLE:g} s after all were Ready. No pods run (the Functions stay at"
        " zero: that is what is measured). The 1-minute load average before and after each step is in"
        " the table: the times (Ready, routable) move with it far more than the memory does.",
        "",
        f"With no Functions: gateway {baseline['gateway_rss']:.0f} MiB,"
        f" operator {baseline['operator_rss']:.0f} MiB.",
        "",
        "| Functions | apply returned after | all Ready after | gateway idle CPU / RSS"
        " | operator idle CPU / RSS | leader tick (functions looked at) | new Function routable after"
        " | load before → after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        gateway = f"{r['gateway_cpu_pct']:.1f} % / {r['gateway_rss']:.0f} MiB"
        operator = f"{r['operator_cpu_pct']:.1f} % / {r['operator_rss']:.0f} MiB"
        tick = f"{r['tick_ms']:.2f} ms ({r['active']:.0f})"
        load = f"{r['load_before']:.1f} → {r['load_after']:.1f}"
        lines.append(
            f"| {r['functions']:,.0f} | {r['apply_s']:.0f} s | {r['ready_s']:.0f} s | {gateway} | {operator}"
            f" | {tick} | {r['routable_s']:.2f} s | {load} |"
        )
    lines.append("")
    if len(rows) >= 2:
        first, last = rows[0], rows[-1]
        n = last["functions"] - first["functions"]
        gw = (last["gateway_rss"] - first["gateway_rss"]) * 1024 / n
        op = (last["operator_rss"] - first["operator_rss"]) * 1024 / n
        lines.append(
            f"RSS per idle Function (from {first['functions']:,.0f} to {last['functions']:,.0f}): gateway"
            f" **{gw:.1f} KiB**, operator **{op:.1f} KiB** (target ≤ 20 KiB each). RSS includes what the"
            " allocator has not returned, so these are upper bounds; docs/scale.md says where the bytes go."
        )
        lines.append("")
    lines += ["![How each figure grows with the Functions](images/scale-growth.png)", ""]
    return "\n".join(lines)


PLOT = ROOT / "docs" / "images" / "scale-growth.png"


def plot(rows: list[dict[str, float]], baseline: dict[str, float], out_png: Path) -> None:
    """How each figure grows with the number of Functions (log scale), one panel each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = [r["functions"] for r in rows]
    fig, axes = plt.subplots(2, 2, figsize=(9, 6), dpi=110)
    panels = (
        ("all Ready after the apply began (s)", (("ready_s", "Ready"), ("apply_s", "apply returned"))),
        ("RSS (MiB; at 0 Functions: dotted)", (("gateway_rss", "gateway"), ("operator_rss", "operator"))),
        ("idle CPU (% of one core)", (("gateway_cpu_pct", "gateway"), ("operator_cpu_pct", "operator"))),
        ("ms / s", (("tick_ms", "leader tick (ms)"), ("routable_s", "new Function routable (s)"))),
    )
    for ax, (title, series) in zip(axes.flat, panels, strict=True):
        for key, label in series:
            line = ax.plot(counts, [r[key] for r in rows], marker="o", label=label)[0]
            if key in baseline:
                ax.axhline(baseline[key], linestyle=":", color=line.get_color())
        ax.set_xscale("log")
        ax.set_xlabel("Functions (all at zero)")
        ax.set_title(title, fontsize=9)
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
    fig.suptitle(f"wisp with many idle Functions ({machine()})", fontsize=10)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="100,1000,3000", help="totals to reach, in order")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    work = Path(tempfile.mkdtemp(prefix="wisp-scale-"))
    plane = start_control_plane(workdir=work / "k8s")
    operator = gateway = None
    try:
        kubectl = Kubectl(plane.kubectl_binary, plane.kubeconfig)
        api = config.new_client_from_config(config_file=str(plane.kubeconfig))
        operator, gateway = start_wisp(kubectl, plane.kubeconfig, work)
        time.sleep(10)
        baseline = {"gateway_rss": rss_mib(gateway.proc.pid), "operator_rss": rss_mib(operator.proc.pid)}
        rows = []
        done = 0
        for total in counts:
            rows.append(measure_step(kubectl, api, gateway, operator.proc.pid, done, total, len(rows)))
            done = total
            if operator.proc.poll() is not None or gateway.proc.poll() is not None:
                raise RuntimeError(f"a process exited; logs in {work}")
        text = section(rows, baseline)
        print(text)
        if not args.no_write:
            docs.write_section("A thousand Functions", text)
        drawn = work / PLOT.name if args.no_write else PLOT
        plot(rows, baseline, drawn)
        print(f"plot in {drawn}")
    finally:
        for proc in (gateway, operator):
            if proc is not None:
                stop_process(proc.proc)
        plane.stop()


if __name__ == "__main__":
    main()
