"""Scale-from-zero wake-ups across many Functions, with kwok's fake pods on a real control plane.

    python -m bench.wakeups [--functions 250] [--rates 250,1000] [--minutes 1] [--idle 3s] [--no-write]

The test suite's control plane (kube-apiserver, etcd, kube-controller-manager) and the real
node's kube-scheduler, with kwok (sigs.k8s.io/kwok, built from the Go module proxy by
tests/support/build-kwok.sh) keeping one fake node whose pods it marks Running and Ready at once,
with addresses from the node's pod range 10.254.0.0/16, which a local route makes this host's own
(``ip route add local``: the API server refuses loopback pod addresses). ``wisp operator`` and one
``wisp gateway`` run as local processes, as bench/scale.py runs them. No container runs: one
Python runtime process listening on 0.0.0.0:8080 answers for every pod address, so the gateway's
readiness probe and its calls reach a real runtime while everything else a wake-up takes is real
(the activator's scale write, the Deployment and ReplicaSet controllers, the scheduler, the
gateway's pod watch, the leader's scale back to zero).

``--functions`` Functions at zero (idle timeout ``--idle``) are woken at each of ``--rates`` (a
minute) for ``--minutes``: each second, a burst of calls to distinct Functions, taken in turn, so
a Function is called again only after all the others. Measured: the calls' errors
and times, the wake-ups the gateway counted (``wisp_cold_starts_total``), the leader's decision loop
per tick (``wisp_autoscaler_tick_seconds``), the gateway's and the operator's CPU, and how long
after the last call every Function was back at zero. Writes the "Wake-ups across many Functions
(kwok)" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import concurrent.futures
import datetime
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import docs  # noqa: E402
from bench.node import machine, percentile  # noqa: E402
from bench.scale import NAMESPACE, TICK_COUNT, TICK_SUM, cpu_seconds, scrape, start_wisp  # noqa: E402
from kubernetes import client, config, watch  # noqa: E402
from tests.cluster.bulk import function_list, wait_all_ready  # noqa: E402
from tests.cluster.controlplane import controller_rate_flags, start_control_plane  # noqa: E402
from tests.cluster.fixtures import Kubectl, stop_process  # noqa: E402
from tests.node.node import node_binaries  # noqa: E402
from tests.support.built import build  # noqa: E402

from wisp.api import Runtime  # noqa: E402
from wisp.api.names import FUNCTION_LABEL  # noqa: E402
from wisp.launcher import LaunchSpec, start_runtime  # noqa: E402

HEADING = "Wake-ups across many Functions (kwok)"
NODE = "kwok-0"
POD_RANGE = "10.254.0.0/16"  # not the real node's (tests/node/node.py)
POD_PORT = 8080
HANDLER = "def handler(event, context):\n    return {'woken': context.function_name}\n"

# kwok's Stages (the shape of its own kustomize/stage/{node,pod}/fast ones, trimmed): the node is
# Ready with room for any number of pods; a pod is Running and Ready as soon as it is bound, with
# an address from the node's range; a deleted pod is gone at once. kwok renews the node's Lease.
STAGES = """
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: node-initialize}
spec:
  resourceRef: {apiGroup: v1, kind: Node}
  selector:
    matchExpressions:
    - {key: '.status.conditions.[] | select( .type == "Ready" ) | .status', operator: NotIn, values: ['True']}
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      {{ range NodeConditions }}
      - lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $now | Quote }}
        message: {{ .message | Quote }}
        reason: {{ .reason | Quote }}
        status: {{ .status | Quote }}
        type: {{ .type | Quote }}
      {{ end }}
      addresses:
      - {address: 127.0.0.1, type: InternalIP}
      - {address: kwok-0, type: Hostname}
      allocatable: {cpu: 1k, memory: 1Ti, pods: 1M}
      capacity: {cpu: 1k, memory: 1Ti, pods: 1M}
      nodeInfo: {architecture: amd64, operatingSystem: linux, kubeletVersion: kwok}
      phase: Running
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: pod-ready}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: .metadata.deletionTimestamp, operator: DoesNotExist}
    - {key: .status.phase, operator: In, values: [Pending]}
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Initialized}
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: Ready}
      - {lastTransitionTime: {{ $now | Quote }}, status: "True", type: ContainersReady}
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        restartCount: 0
        started: true
        state: {running: {startedAt: {{ $now | Quote }}}}
      {{ end }}
      hostIP: 127.0.0.1
      podIP: {{ PodIPWith .spec.nodeName false .metadata.uid .metadata.name .metadata.namespace | Quote }}
      phase: Running
      startTime: {{ $now | Quote }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: pod-delete}
spec:
  resourceRef: {apiGroup: v1, kind: Pod}
  selector:
    matchExpressions:
    - {key: .metadata.deletionTimestamp, operator: Exists}
  next: {delete: true}
"""


def spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def fake_node(api: client.ApiClient) -> None:
    """The node kwok keeps, Ready and without the not-ready taint the API server gives a new node
    (the suite's control plane runs no node lifecycle controller to lift it)."""
    core = client.CoreV1Api(api)
    core.create_node(
        {
            "metadata": {
                "name": NODE,
                "annotations": {"kwok.x-k8s.io/node": "fake"},
                "labels": {"kubernetes.io/hostname": NODE, "kubernetes.io/os": "linux", "type": "kwok"},
            },
            "spec": {"podCIDR": POD_RANGE, "podCIDRs": [POD_RANGE]},
        }
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        node = core.read_node(NODE)
        if any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or ()):
            core.patch_node(NODE, {"spec": {"taints": None}})
            return
        time.sleep(0.2)
    raise RuntimeError("kwok did not make its node Ready")


class Responder:
    """One runtime answering on 0.0.0.0:8080 (every fake pod's address reaches it), run by its
    own event loop in a thread, which also reads its output."""

    def __init__(self, work: Path) -> None:
        code = work / "code"
        code.mkdir()
        (code / "main.py").write_text(HANDLER)
        self.spec = LaunchSpec(
            runtime=Runtime.PYTHON312,
            code_dir=code,
            env={"WISP_HANDLER": "main.handler", "WISP_FUNCTION_NAME": "any", "WISP_CONCURRENCY": "1000"},
            host="0.0.0.0",  # every fake pod address is this host's: POD_RANGE
            port=POD_PORT,
            log_sink=str(work / "runtime.log"),
        )
        self.ready = threading.Event()
        self.failed: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.done: asyncio.Event | None = None
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        self.loop, self.done = asyncio.get_running_loop(), asyncio.Event()
        try:
            process = await start_runtime(self.spec)
            await process.wait_ready(timeout=60)
        except BaseException as exc:
            self.failed = exc
            self.ready.set()
            raise
        self.ready.set()
        await self.done.wait()
        await process.stop(grace=5)

    def start(self) -> Responder:
        self.thread.start()
        self.ready.wait(90)
        if self.failed is not None or not self.ready.is_set():
            raise RuntimeError(f"the responder runtime did not start: {self.failed}")
        return self

    def stop(self) -> None:
        if self.loop is not None and self.done is not None:
            self.loop.call_soon_threadsafe(self.done.set)
        self.thread.join(15)


COLD_STARTS = "wisp_cold_starts_total"
TICK_FAST = 'wisp_autoscaler_tick_seconds_bucket{le="0.1"}'  # ticks of 100 ms or less
WRITE_SUM = "wisp_autoscaler_write_seconds_sum"  # from a decision to its writes answered
WRITE_COUNT = "wisp_autoscaler_write_seconds_count"
MEASURED = (COLD_STARTS, TICK_SUM, TICK_COUNT, TICK_FAST, WRITE_SUM, WRITE_COUNT)


def call(port: int, name: str) -> tuple[int, float]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/function/{name}.{NAMESPACE}",
        data=b'{"wake": true}',
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:  # noqa: S310 (loopback http)
            resp.read()
            status = resp.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (TimeoutError, urllib.error.URLError):
        status = 0
    return status, time.monotonic() - started


Call = tuple[str, int, float, float]  # (Function, status, monotonic start, seconds)


def wake(port: int, names: list[str], rate: int, minutes: float) -> list[Call]:
    """Each second a burst of ``rate / 60`` calls to the next Functions in turn."""
    per_second = max(1, round(rate / 60))
    seconds = round(minutes * 60)
    results: list[Call] = []
    lock = threading.Lock()
    turn = 0

    def one(name: str) -> None:
        started = time.monotonic()
        status, took = call(port, name)
        with lock:
            results.append((name, status, started, took))

    with concurrent.futures.ThreadPoolExecutor(max_workers=per_second * 8) as threads:
        started = time.monotonic()
        for second in range(seconds):
            delay = started + second - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            for _ in range(per_second):
                threads.submit(one, names[turn % len(names)])
                turn += 1
    return results


# The steps of a wake-up, in order, as the API server's watches tell them (Timeline).
STEPS = ("scaled", "replica set scaled", "pod created", "pod bound", "pod ready")


class Timeline:
    """When each Function's Deployment and ReplicaSet were scaled up from zero, its pod created,
    bound and Ready: watches of the namespace, each in a thread, stamped with this process's
    monotonic clock as the events arrive."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.events: dict[str, list[tuple[str, float]]] = collections.defaultdict(list)
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self._last: dict[tuple[str, str], Any] = {}

    def start(self) -> Timeline:
        apps, core = client.AppsV1Api(self.api), client.CoreV1Api(self.api)
        for lister, seen in (
            (apps.list_namespaced_deployment, self._deployment),
            (apps.list_namespaced_replica_set, self._replica_set),
            (core.list_namespaced_pod, self._pod),
        ):
            threading.Thread(target=self._watch, args=(lister, seen), daemon=True).start()
        return self

    def _watch(self, lister: Any, seen: Any) -> None:
        while not self.stopped.is_set():
            try:
                for event in watch.Watch().stream(lister, NAMESPACE, timeout_seconds=60):
                    seen(event["type"], event["object"], time.monotonic())
            except Exception as exc:  # a dropped watch: start it again (unless the bench is done)
                if not self.stopped.is_set():
                    print(f"timeline watch: {exc}", flush=True)
                    time.sleep(0.5)

    def _mark(self, name: str, step: str, at: float) -> None:
        with self.lock:
            self.events[name].append((step, at))

    def _changed(self, key: tuple[str, str], value: Any) -> bool:
        before, self._last[key] = self._last.get(key), value
        return before != value

    def _from_zero(self, step: str, name: str | None, obj: Any, at: float) -> None:
        """Marks ``step`` for Function ``name`` when ``obj`` (a Deployment or a ReplicaSet) was
        at zero replicas and is not any more; not when it is first seen scaled up."""
        key = (step, obj.metadata.name)
        up, was_up = (obj.spec.replicas or 0) > 0, self._last.get(key)
        self._last[key] = up
        if name is not None and up and was_up is False:
            self._mark(name, step, at)

    def _deployment(self, kind: str, obj: Any, at: float) -> None:
        self._from_zero("scaled", obj.metadata.name, obj, at)

    def _replica_set(self, kind: str, obj: Any, at: float) -> None:
        self._from_zero("replica set scaled", (obj.metadata.labels or {}).get(FUNCTION_LABEL), obj, at)

    def _pod(self, kind: str, obj: Any, at: float) -> None:
        name = (obj.metadata.labels or {}).get(FUNCTION_LABEL)
        if name is None or kind == "DELETED":
            return
        uid = obj.metadata.uid
        if kind == "ADDED" and self._changed(("created", uid), True):
            self._mark(name, "pod created", at)
        if obj.spec.node_name and self._changed(("bound", uid), True):
            self._mark(name, "pod bound", at)
        ready = any(c.type == "Ready" and c.status == "True" for c in obj.status.conditions or ())
        if ready and self._changed(("ready", uid), True):
            self._mark(name, "pod ready", at)

    def steps(self, calls: list[Call]) -> dict[str, list[float]]:
        """For each call that woke its Function (its Deployment was scaled up while it waited and
        every step followed before the answer): ms each step took after the one before it (the
        scale: after the call), the answer after the pod Ready ("answered"), and the whole
        call ("call")."""
        found: dict[str, list[float]] = collections.defaultdict(list)
        with self.lock:
            events = {name: sorted(marks, key=lambda m: m[1]) for name, marks in self.events.items()}
        for name, status, started, took in calls:
            if status != 200:
                continue
            ended = started + took
            marks = [(step, at) for step, at in events.get(name, ()) if started <= at <= ended]
            times = [started]
            for step in STEPS:
                # The first since the call: watches on separate connections may tell two steps
                # a few ms out of order.
                at = next((t for s, t in marks if s == step), None)
                if at is None:
                    break
                times.append(at)
            else:
                times.append(ended)
                for step, (before, at) in zip((*STEPS, "answered"), itertools.pairwise(times), strict=True):
                    found[step].append(1000 * (at - before))
                found["call"].append(1000 * took)
        return found


def deployments_settled(api: client.ApiClient, count: int) -> bool:
    """Every one of the ``count`` Deployments seen by the Deployment controller, with its ReplicaSet."""
    deployments = client.AppsV1Api(api).list_namespaced_deployment(NAMESPACE).items
    replica_sets = client.AppsV1Api(api).list_namespaced_replica_set(NAMESPACE).items
    seen = sum(1 for d in deployments if (d.status.observed_generation or 0) >= (d.metadata.generation or 0))
    return len(deployments) >= count and seen >= count and len(replica_sets) >= count


def replicas_left(api: client.ApiClient) -> tuple[int, int]:
    """(Deployments with replicas asked for, pods) in the namespace."""
    deployments = client.AppsV1Api(api).list_namespaced_deployment(NAMESPACE).items
    pods = client.CoreV1Api(api).list_namespaced_pod(NAMESPACE).items
    return sum(1 for d in deployments if (d.spec.replicas or 0) > 0), len(pods)


def one_rate(
    api: client.ApiClient,
    gateway: Any,
    operator_pid: int,
    names: list[str],
    rate: int,
    minutes: float,
    timeline: Timeline,
) -> dict[str, Any]:
    """Wake-ups at ``rate`` a minute for ``minutes``, then until every Function is back at zero."""
    before = scrape(gateway.admin_port, MEASURED)
    load_before = os.getloadavg()[0]
    gw_cpu, op_cpu, started = cpu_seconds(gateway.proc.pid), cpu_seconds(operator_pid), time.monotonic()
    calls = wake(gateway.port, names, rate, minutes)
    ended = time.monotonic()
    gw_cpu = cpu_seconds(gateway.proc.pid) - gw_cpu
    op_cpu = cpu_seconds(operator_pid) - op_cpu
    after = scrape(gateway.admin_port, MEASURED)
    zero_after = "not within 180 s"
    while time.monotonic() - ended < 180:
        if replicas_left(api) == (0, 0):
            zero_after = f"{time.monotonic() - ended:.0f} s"
            break
        time.sleep(1)
    ticks = after[TICK_COUNT] - before[TICK_COUNT]
    statuses = collections.Counter(s for _n, s, _at, _t in calls)
    slowest = ", ".join(f"{n} {t:.1f} s" for n, _s, _at, t in sorted(calls, key=lambda c: c[3])[-3:])
    print(f"{rate}/min: {len(calls)} calls, statuses {dict(statuses)}; slowest {slowest}", flush=True)
    steps = timeline.steps(calls)
    print(f"{rate}/min: {steps_row(rate, steps)}", flush=True)
    return {
        "rate": rate,
        "calls": calls,
        "steps": steps,
        "cold_starts": after[COLD_STARTS] - before[COLD_STARTS],
        "ticks": {
            "count": ticks,
            "mean_ms": 1000 * (after[TICK_SUM] - before[TICK_SUM]) / max(ticks, 1),
            "le_100ms": 100 * (after[TICK_FAST] - before[TICK_FAST]) / max(ticks, 1),
        },
        "write_ms": 1000
        * (after[WRITE_SUM] - before[WRITE_SUM])
        / max(after[WRITE_COUNT] - before[WRITE_COUNT], 1),
        "gateway_cpu": 100 * gw_cpu / (ended - started),
        "operator_cpu": 100 * op_cpu / (ended - started),
        "zero_after": zero_after,
        "load": (load_before, os.getloadavg()[0]),
    }


def row(result: dict[str, Any]) -> str:
    took = sorted(t * 1000 for _name, status, _at, t in result["calls"] if status == 200) or [float("nan")]
    errors = [status for _name, status, _at, _t in result["calls"] if status != 200]
    statuses = ", ".join(f"{errors.count(s)} x {s or 'no answer'}" for s in sorted(set(errors))) or "none"
    ticks = result["ticks"]
    return (
        f"| {result['rate']:,} | {len(result['calls']):,} | {len(errors)} ({statuses}) | "
        f"{result['cold_starts']:.0f} | "
        f"{percentile(took, 50):.0f} / {percentile(took, 95):.0f} / {max(took):.0f} ms | "
        f"{sum(1 for t in took if t > 1000)} | "
        f"{ticks['mean_ms']:.0f} ms | {ticks['le_100ms']:.0f} % of {ticks['count']:.0f} | "
        f"{result['write_ms']:.0f} ms | "
        f"{result['gateway_cpu']:.0f} % / {result['operator_cpu']:.0f} % | "
        f"{result['zero_after']} | {result['load'][0]:.1f} → {result['load'][1]:.1f} |"
    )


def steps_row(rate: int, steps: dict[str, list[float]]) -> str:
    def cell(step: str) -> str:
        took = sorted(steps.get(step, ()))
        return f"{percentile(took, 50):.0f} / {percentile(took, 95):.0f} ms" if took else "none"

    woken = len(steps.get("call", ()))
    return f"| {rate:,} | {woken} | " + " | ".join(cell(step) for step in (*STEPS, "answered", "call")) + " |"


def controller_rate(args: argparse.Namespace) -> str:
    if args.controller_qps is None:
        return "its default client rate of 20 requests a second"
    return f"a client rate of {args.controller_qps} requests a second (burst {2 * args.controller_qps})"


def render(results: list[dict[str, Any]], args: argparse.Namespace, host: str) -> str:
    lines = [
        f"## {HEADING}",
        "",
        f"Measured {datetime.date.today()} on {host}, by `bench/wakeups.py` (`make bench-wakeups`): the "
        "test suite's control plane (kube-apiserver on etcd 3.6, kube-controller-manager with "
        f"{controller_rate(args)}) and the real node's kube-scheduler, kwok v0.8 keeping one "
        "fake node (pods Running and Ready as soon as they are bound, with addresses routed to this "
        "host), `wisp operator` and one `wisp gateway` as local processes, and one Python runtime "
        "process answering for every pod address. Every step of a wake-up but the container's start is "
        "real: the activator's scale write, the Deployment and ReplicaSet controllers, the scheduler, "
        "the gateway's pod watch and probe, the leader's scale back "
        f"to zero. {args.functions:,} Functions at zero (idle timeout {args.idle}), woken at each rate "
        f"for {args.minutes:g} min: each second a burst of calls to the next Functions in turn, so a "
        "call finds its Function at zero unless it has not got there since its last call. Gateway and "
        "operator CPU in % of one core during the calls.",
        "",
        "| wake-ups a minute | calls | errors | wake-ups the gateway counted | call p50 / p95 / max | "
        "calls over 1 s | leader tick mean | ticks ≤ 100 ms | a decision's writes, mean | "
        "gateway / operator CPU | all back at zero after the last call | 1-minute load |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        *(row(result) for result in results),
        "",
        "Target (issue: a thousand Functions on one cluster): 1,000 wake-ups a minute across distinct "
        "functions with no errors, and the leader's decision loop under 100 ms per tick.",
        "",
        "Where a wake-up's time went: each call whose Function was scaled up from zero while it "
        "waited, its steps placed on the call's clock as the API server's watches told them (the "
        "bench watches the namespace's Deployments, ReplicaSets and pods), and the "
        "time each step took after the one before it, p50 / p95 over those calls: the activator's "
        "scale write (after the call's start), the Deployment controller's scale of the "
        "ReplicaSet, the ReplicaSet controller's pod, the scheduler's binding, kwok's Ready, the "
        "answer (the gateway's pod watch, its probe and the call itself), and the whole call.",
        "",
        "| wake-ups a minute | calls that woke their Function | "
        + " | ".join(STEPS)
        + " | answered | whole call |",
        "|---|---|" + "---|" * (len(STEPS) + 2),
        *(steps_row(result["rate"], result["steps"]) for result in results),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", type=int, default=250)
    parser.add_argument("--rates", default="250,1000", help="wake-ups a minute, one run each, in order")
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--idle", default="3s", help="the Functions' idle timeout")
    parser.add_argument(
        "--controller-qps",
        type=int,
        help="kube-controller-manager's --kube-api-qps (burst twice that); its default (20) if not given",
    )
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    kwok = build("build-kwok.sh", "kwok")
    # kwok's informers list by streaming, which the API server serves only on an etcd that
    # answers progress requests: not Debian's 3.4, which the suite's control plane runs.
    os.environ.setdefault("WISP_ETCD", build("etcd/build.sh", "etcd"))
    work = Path(tempfile.mkdtemp(prefix="wisp-wakeups-"))
    route = ["ip", "route", "replace", "local", POD_RANGE, "dev", "lo"]
    subprocess.run(route, check=True)
    plane = start_control_plane(
        workdir=work / "k8s", controller_manager_args=controller_rate_flags(args.controller_qps)
    )
    procs: list[subprocess.Popen[bytes]] = []
    operator = gateway = runtime = None
    try:
        kubectl = Kubectl(plane.kubectl_binary, plane.kubeconfig)
        api = config.new_client_from_config(config_file=str(plane.kubeconfig))
        (work / "stages.yaml").write_text(STAGES)
        procs.append(
            spawn(
                [
                    str(node_binaries() / "kube-scheduler"),
                    f"--kubeconfig={plane.kubeconfig}",
                    f"--authentication-kubeconfig={plane.kubeconfig}",
                    f"--authorization-kubeconfig={plane.kubeconfig}",
                    "--leader-elect=false",
                    "--secure-port=0",
                ],
                work / "scheduler.log",
            )
        )
        procs.append(
            spawn(
                [
                    kwok,
                    f"--kubeconfig={plane.kubeconfig}",
                    f"--config={work / 'stages.yaml'}",
                    "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                    "--node-lease-duration-seconds=40",
                    "--server-address=127.0.0.1:0",
                ],
                work / "kwok.log",
            )
        )
        fake_node(api)
        runtime = Responder(work).start()
        operator, gateway = start_wisp(kubectl, plane.kubeconfig, work)
        listed = json.loads(function_list("fn", 0, args.functions))
        for item in listed["items"]:
            item["spec"]["scale"] = {"min": 0, "max": 1, "idleTimeout": args.idle}
        kubectl(
            "apply", "--server-side", "-f", "-", input=json.dumps(listed), namespace=NAMESPACE, timeout=1800
        )
        wait_all_ready(api, NAMESPACE, args.functions, timeout=1800)
        # A Function is Ready once its Deployment exists; the Deployment controller (at its client
        # rate) then creates each one's ReplicaSet. Wake-ups start once it has caught up.
        while not deployments_settled(api, args.functions):
            time.sleep(1)
        time.sleep(10)
        names = [item["metadata"]["name"] for item in listed["items"]]
        timeline = Timeline(api).start()
        results = [
            one_rate(api, gateway, operator.proc.pid, names, rate, args.minutes, timeline)
            for rate in (int(r) for r in args.rates.split(","))
        ]
        timeline.stopped.set()
        print(f"logs in {work}")
        text = render(results, args, machine())
        print(text)
        if not args.no_write:
            docs.write_section(HEADING, text)
    finally:
        if runtime is not None:
            runtime.stop()
        for proc in (gateway, operator):
            if proc is not None:
                stop_process(proc.proc)
        for process in procs:
            stop_process(process)
        plane.stop()
        subprocess.run(["ip", "route", "del", "local", POD_RANGE, "dev", "lo"], check=False)


if __name__ == "__main__":
    main()
