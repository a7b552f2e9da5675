"""Cold starts on a real node: zero replicas → first response through the gateway Service.

wisp installed with ``helm install`` on the test suite's real node (containerd 2 + runc + the CNI
bridge + kubelet, kube-scheduler, kube-proxy; tests/node/), the Python, Node.js and Java hello
examples applied with kubectl. Each run waits until the platform has scaled the Function to zero (its idle
timeout set to 2 s) and its pod is gone, then times one call from the host to the gateway's
ClusterIP: the gateway's activator scales the Deployment to one, the scheduler binds the pod,
the kubelet has containerd start the sandbox and the container (images already on the node), the
runtime answers the gateway's probe (or the readiness probe passes) and the gateway forwards the
call.
Also: Deployment 0→N (a Function's ``spec.scale.min`` raised from zero, timed to its first and last
pod Ready), and the node's idle cost (its processes' memory and CPU) with wisp installed and
functions at zero. Writes the "Real node" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import yaml
from bench import docs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.node.chart import FUNCTIONS, SYSTEM, Wisp, wisp_on  # noqa: E402
from tests.node.node import RealNode, start_real_node  # noqa: E402

# Language -> (example manifest, function name, spec fields that differ on this node).
EXAMPLES: dict[str, tuple[str, str, dict[str, Any]]] = {
    "Python": ("hello.yaml", "hello", {}),
    "Node.js": ("node-hello.yaml", "node-hello", {}),
    # The Java example's image, built FROM the Java runtime image as its README says (on this node
    # with Debian's OpenJDK 17, hence java17).
    "Java": (
        "java-hello/function.yaml",
        "java-hello",
        {"runtime": "java17", "code": {"image": "wisp/java-hello:dev"}},
    ),
}
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
    """Wait until the platform has scaled ``function`` to zero: no pod left."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not wisp.function_pods(function):
            time.sleep(1)  # every gateway replica has seen the pod deleted
            return
        time.sleep(0.2)
    raise RuntimeError(f"{function} did not scale to zero in {timeout} s")


def apply_example(wisp: Wisp, language: str, cpu_mode: str, **scale: Any) -> str:
    """Apply ``language``'s example with the bench's idle timeout and ``cpu_mode``; its name."""
    path, function, spec = EXAMPLES[language]
    docs_ = list(yaml.safe_load_all((ROOT / "examples" / path).read_text()))
    for doc in docs_:
        if doc and doc.get("kind") == "Function":
            doc["spec"].update(spec)
            doc["spec"].setdefault("scale", {}).update(idleTimeout=IDLE_TIMEOUT, **scale)
            doc["spec"]["cpuMode"] = cpu_mode
    wisp.apply(yaml.safe_dump_all(docs_))
    wisp.wait_ready(function)
    return function


def volumes_as_set(wisp: Wisp, function: str, volumes: bool, timeout: float = 120) -> None:
    """Waits until ``function``'s Deployment gives its pods volumes, or none (a chart upgrade of
    ``functions.startWithoutVolumes`` reaches a Deployment once the new operator has rendered it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jsonpath = "jsonpath={.spec.template.spec.volumes}"
        out = wisp.kubectl("get", "deploy", function, "-o", jsonpath, namespace=FUNCTIONS)
        if bool(out.stdout.strip() not in ("", "[]")) == volumes:
            return
        time.sleep(0.5)
    still = "without" if volumes else "with"
    raise RuntimeError(f"{function}'s pods still {still} volumes after {timeout:.0f} s")


# The steps of one cold start, in the order they happen, and where each is seen from.
STEPS = {
    "scheduled": "the API shows the pod bound to the node (pod watch)",
    "sandbox": "containerd started the pod's sandbox (containerd events)",
    "container": "containerd started the function's container (containerd events)",
    "runtime": "the runtime answers `GET /healthz` on the pod's address (probed from the host every 5 ms)",
    "address": (
        "the API shows the pod's address (the kubelet's status update; the gateway's prober starts then)"
    ),
    "answered": "the caller has the whole response",
}


class Timeline:
    """Records, in wall-clock seconds, what the API server and containerd say while a cold start runs.

    Two threads run for the whole bench: a pod watch on the functions' namespace and ``ctr events``
    on the node's containerd. ``marks(since)`` reads the first time each step was seen after
    ``since``. The runtime's readiness is probed from the host on the sandbox's address, which
    containerd knows as soon as the CNI has set it up (``crictl inspectp``), so it does not wait
    for the kubelet to report the address.
    """

    def __init__(self, node: RealNode) -> None:
        self.node = node
        assert node.plane is not None, "the node's control plane is running"
        self.lock = threading.Lock()
        self.pods: list[tuple[float, str, bool, bool, bool]] = []  # when, pod, bound, has address, Ready
        self.tasks: list[tuple[float, str]] = []  # when, container id of a started task
        self.images: dict[str, str] = {}  # container id -> image
        self.events = subprocess.Popen(
            [str(node.bin_dir / "ctr"), f"--address={node.socket}", "-n", "k8s.io", "events"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.watch = subprocess.Popen(
            [
                node.plane.kubectl_binary,
                f"--kubeconfig={node.kubeconfig}",
                "get",
                "pods",
                f"--namespace={FUNCTIONS}",
                "--selector=wisp.dev/function",
                "--watch",
                "--output=jsonpath={.metadata.name} {.spec.nodeName} {.status.podIP} "
                '{.status.conditions[?(@.type=="Ready")].status}{"\\n"}',
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        threading.Thread(target=self._read_events, daemon=True).start()
        threading.Thread(target=self._read_watch, daemon=True).start()

    def close(self) -> None:
        for proc in (self.events, self.watch):
            proc.terminate()
            proc.wait(timeout=10)

    def _read_events(self) -> None:
        assert self.events.stdout is not None
        for line in self.events.stdout:
            parts = line.split(" ", 6)
            if len(parts) < 7:
                continue
            date, clock, topic, payload = parts[0], parts[1], parts[5], parts[6]
            try:
                seconds, _, nanos = clock.partition(".")
                when = datetime.datetime.fromisoformat(f"{date}T{seconds}+00:00").timestamp()
                when += float(f"0.{nanos or 0}")
                body = json.loads(payload)
            except ValueError:
                continue
            with self.lock:
                if topic == "/containers/create":
                    self.images[body.get("id", "")] = body.get("image", "")
                elif topic == "/tasks/start":
                    self.tasks.append((when, body.get("container_id", "")))

    def _read_watch(self) -> None:
        assert self.watch.stdout is not None
        for line in self.watch.stdout:
            when = time.time()
            # Empty fields leave runs of spaces: split on single spaces to keep their places.
            name, node_name, address, ready = [*line.rstrip("\n").split(" "), "", "", ""][:4]
            with self.lock:
                self.pods.append((when, name, bool(node_name), bool(address), ready == "True"))

    def sandbox_address(self, since: float, timeout: float = 60) -> str:
        """The address of the first pod sandbox started after ``since``, as soon as it has one."""
        deadline = time.monotonic() + timeout
        crictl = [str(self.node.bin_dir / "crictl"), f"--runtime-endpoint=unix://{self.node.socket}"]
        while time.monotonic() < deadline:
            with self.lock:
                sandboxes = [
                    cid for when, cid in self.tasks if when >= since and "pause" in self.images.get(cid, "")
                ]
            if sandboxes:
                out = subprocess.run(
                    [*crictl, "inspectp", "--output=json", sandboxes[0]],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                if out.returncode == 0:
                    address = json.loads(out.stdout).get("status", {}).get("network", {}).get("ip", "")
                    if address:
                        return str(address)
            time.sleep(0.002)
        raise RuntimeError("no pod sandbox got an address")

    def probe_ready(self, since: float) -> float | None:
        """When the runtime in the first sandbox started after ``since`` answered ``/healthz``."""
        try:
            address = self.sandbox_address(since)
        except RuntimeError:
            return None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://{address}:8080/healthz", timeout=0.5) as resp:
                    if resp.status == 200:
                        return time.time()
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.005)
        return None

    def pods_of(self, function: str, since: float) -> tuple[list[float], list[float]]:
        """Seconds after ``since`` at which each pod of ``function`` was first seen at all (created)
        and first seen Ready, each in order."""
        with self.lock:
            pods = list(self.pods)
        created: dict[str, float] = {}
        ready: dict[str, float] = {}
        for when, name, _bound, _address, is_ready in pods:
            if when >= since and name.startswith(f"{function}-"):
                created.setdefault(name, when - since)
                if is_ready:
                    ready.setdefault(name, when - since)
        return sorted(created.values()), sorted(ready.values())

    def marks(self, since: float) -> dict[str, float]:
        """Seconds after ``since`` at which each step was first seen (steps not seen are left out)."""
        with self.lock:
            pods, tasks, images = list(self.pods), list(self.tasks), dict(self.images)
        found: dict[str, float] = {}
        for when, _name, bound, address, _ready in pods:
            if when < since:
                continue
            if bound:
                found.setdefault("scheduled", when - since)
            if address:
                found.setdefault("address", when - since)
        for when, cid in tasks:
            if when < since:
                continue
            step = "sandbox" if "pause" in images.get(cid, "") else "container"
            found.setdefault(step, when - since)
        return found


def cold_starts(
    wisp: Wisp,
    function: str,
    runs: int,
    timeline: Timeline,
    around: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext,
) -> tuple[list[float], list[dict[str, float]]]:
    """``runs`` cold starts of ``function``, each from zero; ``around`` is entered for each from
    just before its call until its pod's status has settled (not while it goes to zero)."""
    times, breakdowns = [], []
    for i in range(runs):
        at_zero(wisp, function)
        with around():
            since = time.time()
            started = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                ready = pool.submit(timeline.probe_ready, since)
                status, body = wisp.call(function, {"name": "bench"}, timeout=120)
                elapsed = time.perf_counter() - started
                runtime = ready.result()
            if status != 200:
                raise RuntimeError(f"{function} run {i}: {status} {body}")
            time.sleep(0.3)  # the watch's last lines
        marks = timeline.marks(since)
        if runtime is not None:
            marks["runtime"] = runtime - since
        marks["answered"] = elapsed
        times.append(elapsed)
        breakdowns.append(marks)
        steps = " ".join(f"{step} {marks[step] * 1000:.0f}" for step in STEPS if step in marks)
        print(f"{function} {i + 1}/{runs}: {elapsed * 1000:.0f} ms ({steps})", flush=True)
    return times, breakdowns


def set_min(wisp: Wisp, function: str, replicas: int) -> None:
    patch = json.dumps({"spec": {"scale": {"min": replicas}}})
    wisp.kubectl("patch", "function", function, "--type=merge", "--patch", patch, namespace=FUNCTIONS)


ScaleOut = tuple[float, float, float]  # seconds to the first pod created, first Ready, all Ready


def scale_outs(wisp: Wisp, function: str, replicas: int, runs: int, timeline: Timeline) -> list[ScaleOut]:
    """Deployment 0→``replicas``: the Function's ``spec.scale.min`` raised from 0 (as a user or a
    schedule would), timed to its first pod created, its first and its last pod Ready; then back
    to zero."""
    results = []
    for i in range(runs):
        at_zero(wisp, function)
        since = time.time()
        set_min(wisp, function, replicas)
        deadline = time.monotonic() + 300
        created, ready = timeline.pods_of(function, since)
        while len(ready) < replicas:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{function}: {len(ready)} of {replicas} pods Ready after 300 s")
            time.sleep(0.05)
            created, ready = timeline.pods_of(function, since)
        results.append((created[0], ready[0], ready[replicas - 1]))
        print(
            f"{function} 0→{replicas} {i + 1}/{runs}: created {created[0] * 1000:.0f} ms, "
            f"first Ready {ready[0] * 1000:.0f} ms, all Ready {ready[replicas - 1] * 1000:.0f} ms",
            flush=True,
        )
        set_min(wisp, function, 0)
    return results


def ticks(pid: int) -> int:
    """CPU ticks of ``pid`` so far (0 once it has exited: a shim may go while it is read)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0
    return int(fields[11]) + int(fields[12])


def rss_mib(pid: int) -> float:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return 0.0
    for line in status.splitlines():
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


MODES = {
    "boost": "starts with 1 CPU, resized in place to its share once Ready (the default)",
    "request": "requests its share of CPU, no limit",
    "limit": "limited to its share from the start (72m at 128Mi)",
}
Result = tuple[list[float], list[dict[str, float]]]


def label(language: str) -> str:
    """The results tables' name for ``language``'s example (the Java one differs in memory and code)."""
    return "Java hello example (its image, 256Mi)" if language == "Java" else f"{language} hello example"


def render(
    results: dict[tuple[str, str], Result],
    scaled: dict[int, list[ScaleOut]],
    idle: dict[str, tuple[float, float]],
    host: str,
    notes: list[str],
) -> str:
    lines = [
        "## Real node",
        "",
        f"Measured {datetime.date.today()} on {host}, by `make bench` (`bench/node.py`): wisp installed "
        "with `helm install` on the test suite's real node (containerd 2.3 + runc + CNI bridge, kubelet, "
        "kube-scheduler and kube-proxy v1.36, one node on this machine; images from `make images` on "
        "Debian-made bases, already on the node). Each run waits until the platform has scaled the "
        f"Function (`memory: 128Mi`) to zero (idle timeout {IDLE_TIMEOUT}) and its pod is gone, then "
        "times one call from the host to the gateway's ClusterIP: the activator scales the Deployment "
        "to one, the scheduler binds the pod, containerd starts the sandbox and the container, the "
        "gateway's prober sees the runtime answer and forwards the held call. This is the Deployment "
        "path: every scale-out takes it, and every function the warm pool does not serve.",
        "",
        "| zero → first response through the gateway | CPU at start, readiness "
        "| p50 | p95 | runs | min / max |",
        "|---|---|---|---|---|---|",
    ]
    for (setup, language), (times, _) in results.items():
        ms = [t * 1000 for t in times]
        lines.append(
            f"| {label(language)} | {setup} | **{statistics.median(ms):.0f} ms** "
            f"| {percentile(ms, 95):.0f} ms | {len(ms)} | {min(ms):.0f} / {max(ms):.0f} ms |"
        )
    lines += [
        "",
        "Where the time goes: the median moment each step was first seen, in ms after the call was sent "
        "(CPU modes: " + "; ".join(f"`{m}` {what}" for m, what in MODES.items()) + "):",
        "",
        "| function | CPU at start, readiness | " + " | ".join(STEPS) + " |",
        "|---|---|" + "---|" * len(STEPS),
    ]
    for (setup, language), (_, breakdowns) in results.items():
        cells = []
        for step in STEPS:
            seen = [b[step] * 1000 for b in breakdowns if step in b]
            cells.append(f"{statistics.median(seen):.0f}" if seen else "-")
        lines.append(f"| {language} | {setup} | " + " | ".join(cells) + " |")
    lines += ["", *(f"* **{step}**: {what}." for step, what in STEPS.items())]
    if scaled:
        lines += [
            "",
            "Deployment 0→N: the Python hello Function at zero, its `spec.scale.min` raised from 0 to N "
            "with `kubectl patch` (what a user, a schedule or a burst that needs N pods asks for); the "
            "operator and the autoscaler scale the Deployment, and the pod watch times the first pod "
            "created, the first and the last pod Ready after the patch (the kubelet's readiness probe, "
            "CPU `boost`: every starting pod may use a whole CPU of the two):",
            "",
            "| N | first pod created p50 | first pod Ready p50 | all N Ready p50 | all N Ready max | runs |",
            "|---|---|---|---|---|---|",
        ]
        for replicas, outs in scaled.items():
            created, first, last = ([t[k] * 1000 for t in outs] for k in range(3))
            lines.append(
                f"| {replicas} | {statistics.median(created):.0f} ms | {statistics.median(first):.0f} ms "
                f"| **{statistics.median(last):.0f} ms** | {max(last):.0f} ms | {len(outs)} |"
            )
    if notes:
        lines += ["", "After the runs: " + " ".join(notes)]
    lines += [
        "",
        f"Peers: {PEERS}. A function at zero has no pod here, as in Knative and OpenFaaS; Fission "
        "answers from a pool of already running generic pods (wisp's warm pool is its own section). "
        "The machine is shared: note the load figure.",
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


# What is measured, in this order: the default last (the chart's `functions.cpu.mode: boost`,
# `gateway.probePods: true` and `functions.startWithoutVolumes: true`), against the kubelet's path
# alone, each CPU mode with the probe, and the default with the code and /tmp volumes.
SETUPS = [
    ("limit", False, False),
    ("limit", True, False),
    ("request", True, False),
    ("boost", True, True),
    ("boost", True, False),
]


def setup_name(mode: str, probe: bool, volumes: bool) -> str:
    """``--setups``'s spelling: ``mode+probe|kubelet[+volumes]``."""
    return f"{mode}+{'probe' if probe else 'kubelet'}" + ("+volumes" if volumes else "")


def parse_setup(text: str) -> tuple[str, bool, bool]:
    mode, how, *rest = text.split("+")
    return mode, how == "probe", rest == ["volumes"]


def resized(wisp: Wisp, function: str, timeout: float = 20) -> str:
    """Whether a boosted pod's CPU limit came down once Ready, without a restart (one line)."""
    deadline = time.monotonic() + timeout
    limits, restarts = "?", 0
    while time.monotonic() < deadline:
        for pod in wisp.function_pods(function):
            spec = next(c for c in pod["spec"]["containers"] if c["name"] == "function")
            status: dict[str, Any] = next(
                (c for c in pod["status"].get("containerStatuses") or () if c["name"] == "function"), {}
            )
            limits = str((status.get("resources") or {}).get("limits", {}).get("cpu", "?"))
            restarts = int(status.get("restartCount") or 0)
            wanted = str(spec["resources"]["limits"]["cpu"])
            if limits == wanted and limits not in ("1", "1000m"):
                return f"resized in place to {limits} once Ready, {restarts} restarts"
        time.sleep(0.5)
    return f"CPU limit still {limits} after {timeout:.0f} s, {restarts} restarts"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=20, help="cold starts of the default setup, per runtime")
    parser.add_argument("--other-runs", type=int, default=10, help="cold starts of each other setup")
    parser.add_argument(
        "--setups",
        default=",".join(setup_name(*setup) for setup in SETUPS),
        help="CPU mode + probe|kubelet [+ volumes: pods with their code and /tmp volumes], comma-separated",
    )
    parser.add_argument(
        "--languages", default=",".join(EXAMPLES), help="which examples' cold starts, comma-separated"
    )
    parser.add_argument(
        "--scale-out", default="5,10", help="Deployment 0→N for these N, comma-separated ('' for none)"
    )
    parser.add_argument("--scale-runs", type=int, default=5, help="runs of each 0→N")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    setups = [parse_setup(s) for s in args.setups.split(",")]
    languages = [language for language in args.languages.split(",") if language]
    unknown = sorted(set(languages) - set(EXAMPLES))
    if unknown:
        parser.error(f"--languages: unknown {', '.join(unknown)} (known: {', '.join(EXAMPLES)})")
    replicas = [int(n) for n in args.scale_out.split(",") if n]
    host = machine()
    node = start_real_node()
    timeline = Timeline(node)
    notes: list[str] = []
    try:
        wisp = wisp_on(node).install()
        try:
            results: dict[tuple[str, str], Result] = {}
            probing, volumes = True, False
            for mode, probe, with_volumes in setups:
                if probe != probing:
                    wisp.upgrade(**{"gateway.probePods": str(probe).lower()})
                    probing = probe
                renew = with_volumes != volumes
                if renew:
                    wisp.upgrade(**{"functions.startWithoutVolumes": str(not with_volumes).lower()})
                    rollout = ("rollout", "status", "deploy/wisp-operator", "--timeout=180s")
                    wisp.kubectl(*rollout, namespace=SYSTEM, timeout=190)
                    volumes = with_volumes
                runs = args.runs if (mode, probe, with_volumes) == SETUPS[-1] else args.other_runs
                setup = f"{mode}, {'gateway probe' if probe else 'kubelet probe only'}"
                if with_volumes:
                    setup += ", code and /tmp volumes"
                for language in languages:
                    if renew:
                        # Created again under the new setting: its Deployment is the new
                        # operator's from the start, and its first pods are the setup's own.
                        name = EXAMPLES[language][1]
                        wisp.kubectl("delete", "function", name, "--ignore-not-found", namespace=FUNCTIONS)
                    function = apply_example(wisp, language, mode)
                    volumes_as_set(wisp, function, with_volumes or language == "Java")
                    wisp.call(function, {"name": "warm-up"}, timeout=120)  # the image's first start
                    results[setup, language] = cold_starts(wisp, function, runs, timeline)
                    if mode == "boost":
                        notes.append(f"{language}, `boost`: {resized(wisp, function)}.")
            scaled: dict[int, list[ScaleOut]] = {}
            if replicas:
                function = apply_example(wisp, "Python", "boost", max=max(replicas))
                for n in replicas:
                    scaled[n] = scale_outs(wisp, function, n, args.scale_runs, timeline)
            # Every Function back at zero (its pods gone) before the node's idle cost is read.
            for function in {EXAMPLES[language][1] for language in languages} | (
                {"hello"} if scaled else set()
            ):
                at_zero(wisp, function)
            idle = idle_cost(node, 30)
        finally:
            wisp.uninstall()
    finally:
        timeline.close()
        node.stop()
    section = render(results, scaled, idle, host, notes)
    print(section)
    if not args.no_docs:
        docs.write_section("Real node", section)


if __name__ == "__main__":
    main()
