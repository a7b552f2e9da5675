"""Many Functions on one cluster: what idle Functions cost the operator and the gateway.

For each count, a fresh cluster: the test suite's real control plane (kube-apiserver, etcd,
kube-controller-manager; tests/cluster/), ``wisp operator`` and one ``wisp gateway`` as local
processes against it, as the chart runs them (the gateway with a Redis of its own as the event
broker, as the chart's defaults have it: every Function has an async stream). Then ``count``
Functions at zero from one ``kubectl apply --server-side`` of a List, as a platform team adds
them: seconds until every Function is Ready, and until kube-controller-manager has caught up
with their Deployments; then, after a settling pause, over an idle window: the gateway's and the
operator's CPU and RSS (``/proc``), the leader's decision-loop time per tick
(``wisp_autoscaler_tick_seconds``) and the functions it looked at, and the time from applying
one more Function to the gateway routing a call to it. No pods run: the Functions stay at zero,
which is what is measured. Writes the "A thousand Functions" section of docs/benchmarks.md and
docs/images/scale-growth.png.
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import docs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kubernetes import client, config  # noqa: E402
from tests.cluster.bulk import (  # noqa: E402
    GROUP,
    PLURAL,
    VERSION,
    apply_functions,
    caught_up,
    deployments_in,
    function_list,
    wait_all_ready,
    wait_until,
)
from tests.cluster.controlplane import ControlPlane, controller_rate_flags, start_control_plane  # noqa: E402
from tests.cluster.fixtures import Kubectl, OperatorProcess, start_operator, stop_process  # noqa: E402
from tests.support.net import free_port  # noqa: E402
from tests.support.redis import RedisServer  # noqa: E402

NAMESPACE = "scale"
# Before the "no Functions" figures: past the operator's first heap trim (every 30 s), which
# hands back what its imports left behind.
START = 35.0
SETTLE = 20.0  # seconds after kube-controller-manager caught up, before the idle window
WINDOW = 30.0  # seconds of idle measured
TICKS = os.sysconf("SC_CLK_TCK")
# What the chart sets in both containers (values.yaml): two malloc arenas, not eight per core.
CHART_ENV = {"MALLOC_ARENA_MAX": "2"}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    match = re.search(rf"{field}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else 0.0


def peak_rss_mib(pid: int) -> float:
    """The most RSS the process has had (the kernel's high-water mark)."""
    return rss_mib(pid, "VmHWM")


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


def start_gateway(kubeconfig: Path, log: Path, redis_url: str | None = None) -> Gateway:
    """``wisp gateway``; with ``redis_url``, with events on that Redis."""
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
        **({"WISP_REDIS_URL": redis_url} if redis_url else {}),
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


def start_wisp(
    kubectl: Kubectl, kubeconfig: Path, work: Path, redis_url: str | None = None
) -> tuple[OperatorProcess, Gateway]:
    """wisp's CRDs and NAMESPACE, then ``wisp operator`` and one ``wisp gateway`` (logs in
    ``work``; events on ``redis_url`` if given)."""
    kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
    kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
    kubectl("create", "namespace", NAMESPACE)
    operator = start_operator(
        kubeconfig, work / "operator.log", "--namespace", NAMESPACE, "--liveness-port", "0", env=CHART_ENV
    )
    return operator, start_gateway(kubeconfig, work / "gateway.log", redis_url)


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


def measure(
    kubectl: Kubectl,
    api: client.ApiClient,
    gateway: Gateway,
    operator_pid: int,
    count: int,
    catch_up: Callable[[], None],
) -> dict[str, float]:
    """``count`` Functions from one apply onto this fresh cluster, and what they cost at rest.
    ``catch_up`` runs once all are Ready and returns once kube-controller-manager has caught up."""
    result = {
        "functions": count,
        "gateway_rss0": rss_mib(gateway.proc.pid),
        "operator_rss0": rss_mib(operator_pid),
        "load_before": os.getloadavg()[0],
    }
    started = time.monotonic()
    apply_functions(kubectl, NAMESPACE, "fn", 0, count)
    result["apply_s"] = time.monotonic() - started
    wait_all_ready(api, NAMESPACE, count, timeout=3600, progress=_progress("Ready"))
    result["ready_s"] = time.monotonic() - started
    catch_up()
    result["caught_up_s"] = time.monotonic() - started
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
    result.update(
        {
            "gateway_cpu_pct": 100 * gw_cpu / WINDOW,
            "operator_cpu_pct": 100 * op_cpu / WINDOW,
            "gateway_rss": rss_mib(gateway.proc.pid),
            "operator_rss": rss_mib(operator_pid),
            "operator_peak": peak_rss_mib(operator_pid),  # the apply's high-water mark
            "tick_ms": 1000 * (after[TICK_SUM] - scraped[TICK_SUM]) / max(ticks, 1),
            "active": after[ACTIVE],
        }
    )
    result["routable_s"] = routable_after(api, gateway, "probe")
    result["load_after"] = os.getloadavg()[0]
    print(result, flush=True)
    return result


def catch_up(plane: ControlPlane, api: client.ApiClient, namespace: str, qps: int) -> None:
    """kube-controller-manager restarted at ``qps`` requests a second (0: left as it is), then
    every Deployment in ``namespace`` handled (its ReplicaSet made): before that, its writes (and
    the operator's and gateway's handling of them) are not idle."""
    if qps:
        plane.restart_controller_manager(*controller_rate_flags(qps))
    wait_until(
        deployments_in(api),
        namespace,
        caught_up,
        0,
        timeout=3600,
        progress=_progress("Deployments caught up"),
    )


def _progress(what: str) -> Callable[[int, float], None]:
    def progress(done: int, seconds: float) -> None:
        if int(seconds) % 30 == 0:
            print(f"  {done} {what} after {seconds:.0f} s", flush=True)

    return progress


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"{os.cpu_count()} CPUs ({cpu})"


def section(rows: list[dict[str, float]], controller_qps: int | None, catch_up_qps: int) -> str:
    controllers = (
        "its default 20 requests a second"
        if controller_qps is None
        else f"{controller_qps} requests a second (`--kube-api-qps`, burst {2 * controller_qps})"
    )
    catch_up = (
        f"; once all are Ready it is restarted at {catch_up_qps} requests a second, as"
        " [operations](operations.md#many-functions-on-one-cluster) advises for many Functions, so that"
        " its backlog (a ReplicaSet and a status per Deployment) clears before the idle window"
        if catch_up_qps
        else ""
    )
    lines = [
        "## A thousand Functions",
        "",
        f"Measured {datetime.datetime.now(datetime.UTC):%Y-%m-%d} on {machine()}, with `make bench-scale`"
        " (`python -m bench.scale`). Each row is a fresh cluster: the test suite's control plane"
        f" (kube-apiserver, etcd, kube-controller-manager at {controllers}{catch_up}),"
        " `wisp operator` and one `wisp gateway` as local processes on the same machine, autoscaler"
        " tick 2 s, events on a Redis of the gateway's own (the chart's default broker); then that many"
        " small inline Python Functions at zero from one"
        " `kubectl apply --server-side` of a List (kubectl sends one request per item: the apply's time"
        " is the API server creating the Functions; Ready counts from the same start). *Caught up*: every"
        " Deployment handled by kube-controller-manager (its ReplicaSet made). Idle figures over"
        f" {WINDOW:g} s starting {SETTLE:g} s after that. No pods run (the Functions stay at zero: that"
        " is what is measured). The 1-minute load average before and after each row is in the table:"
        " the times move with it far more than the memory does.",
        "",
        "| Functions (one apply) | apply returned | all Ready | caught up | gateway idle CPU / RSS"
        " | operator idle CPU / RSS (peak) | leader tick (functions looked at) | new Function routable"
        " | load before → after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        times = f"{r['apply_s']:.0f} s | {r['ready_s']:.0f} s | {r['caught_up_s']:.0f} s"
        gateway = f"{r['gateway_cpu_pct']:.1f} % / {r['gateway_rss']:.0f} MiB"
        operator = f"{r['operator_cpu_pct']:.1f} % / {r['operator_rss']:.0f} MiB ({r['operator_peak']:.0f})"
        tick = f"{r['tick_ms']:.2f} ms ({r['active']:.0f})"
        load = f"{r['load_before']:.1f} → {r['load_after']:.1f}"
        lines.append(
            f"| {r['functions']:,.0f} | {times} | {gateway} | {operator} | {tick}"
            f" | {r['routable_s']:.2f} s | {load} |"
        )
    lines.append("")
    gw0 = ", ".join(f"{r['gateway_rss0']:.0f}" for r in rows)
    op0 = ", ".join(f"{r['operator_rss0']:.0f}" for r in rows)
    lines.append(
        f"With no Functions (each row's cluster before its apply): gateway {gw0} MiB, operator {op0} MiB."
    )
    lines.append("")
    if rows:
        last = rows[-1]
        gw, op = (per_function_kib(last, who) for who in ("gateway", "operator"))
        lines.append(
            f"RSS per idle Function (at {last['functions']:,.0f}, over the same cluster with none): gateway"
            f" **{gw:.1f} KiB**, operator **{op:.1f} KiB** (target ≤ 20 KiB each). RSS includes what the"
            " allocator has not returned, so these are upper bounds; docs/scale.md says where the bytes go."
        )
        lines.append("")
    lines += ["![How each figure grows with the Functions](images/scale-growth.png)", ""]
    return "\n".join(lines)


def per_function_kib(row: dict[str, float], who: str) -> float:
    return (row[f"{who}_rss"] - row[f"{who}_rss0"]) * 1024 / row["functions"]


PLOT = ROOT / "docs" / "images" / "scale-growth.png"


def plot(rows: list[dict[str, float]], out_png: Path) -> None:
    """How each figure grows with the number of Functions (log scale), one panel each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = [r["functions"] for r in rows]
    fig, axes = plt.subplots(2, 2, figsize=(9, 6), dpi=110)
    panels = (
        (
            "seconds after the apply began",
            (("caught_up_s", "controllers caught up"), ("ready_s", "Ready"), ("apply_s", "apply returned")),
        ),
        ("RSS (MiB; at 0 Functions: dotted)", (("gateway_rss", "gateway"), ("operator_rss", "operator"))),
        ("idle CPU (% of one core)", (("gateway_cpu_pct", "gateway"), ("operator_cpu_pct", "operator"))),
        ("ms / s", (("tick_ms", "leader tick (ms)"), ("routable_s", "new Function routable (s)"))),
    )
    for ax, (title, series) in zip(axes.flat, panels, strict=True):
        for key, label in series:
            line = ax.plot(counts, [r[key] for r in rows], marker="o", label=label)[0]
            if f"{key}0" in rows[0]:
                ax.plot(counts, [r[f"{key}0"] for r in rows], linestyle=":", color=line.get_color())
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
    parser.add_argument(
        "--counts", default="100,1000,3000,10000", help="Functions per run, each on a fresh cluster"
    )
    parser.add_argument(
        "--controller-qps",
        type=int,
        help="kube-controller-manager's --kube-api-qps (burst twice that) during the apply; its default"
        " (20) if not given",
    )
    parser.add_argument(
        "--catch-up-qps",
        type=int,
        default=500,
        help="once all are Ready, kube-controller-manager restarted at this rate so its backlog clears"
        " before the idle window (0: left as it is)",
    )
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    rows = [measure_fresh(int(n), args.controller_qps, args.catch_up_qps) for n in args.counts.split(",")]
    text = section(rows, args.controller_qps, args.catch_up_qps)
    print(text)
    if not args.no_write:
        docs.write_section("A thousand Functions", text)
    drawn = Path(tempfile.gettempdir()) / PLOT.name if args.no_write else PLOT
    plot(rows, drawn)
    print(f"plot in {drawn}")


def measure_fresh(count: int, controller_qps: int | None, catch_up_qps: int) -> dict[str, float]:
    """``measure`` on a cluster of its own, stopped after."""
    work = Path(tempfile.mkdtemp(prefix="wisp-scale-"))
    plane = start_control_plane(
        workdir=work / "k8s", controller_manager_args=controller_rate_flags(controller_qps)
    )
    operator = gateway = None
    redis = RedisServer(work / "redis").start()
    try:
        kubectl = Kubectl(plane.kubectl_binary, plane.kubeconfig)
        api = config.new_client_from_config(config_file=str(plane.kubeconfig))
        operator, gateway = start_wisp(kubectl, plane.kubeconfig, work, redis.url)
        time.sleep(START)
        row = measure(
            kubectl,
            api,
            gateway,
            operator.proc.pid,
            count,
            lambda: catch_up(plane, api, NAMESPACE, catch_up_qps),
        )
        if operator.proc.poll() is not None or gateway.proc.poll() is not None:
            raise RuntimeError(f"a process exited; logs in {work}")
        return row
    finally:
        for proc in (gateway, operator):
            if proc is not None:
                stop_process(proc.proc)
        redis.stop()
        plane.stop()


if __name__ == "__main__":
    main()
