"""Cold starts through the warm pool on the real node: zero replicas → first response.

wisp installed with ``helm install`` on the test suite's real node (tests/node/) with
``pool.python``, ``pool.node`` and ``pool.java`` on. Each run applies a fresh Function (Python,
or Node.js: the hello examples' handlers; Java: the same as sources, which the pool pod compiles;
``scale.min`` 0, so it is at zero from the start), waits until it is Ready and the pool holds its
full count of free, ready pods, then times one call from the host to the gateway's ClusterIP:
the activator claims a pool pod, hands it the function, and forwards the call; the Function's
own Deployment scales up meanwhile and takes over. Also the idle cost of a free pool pod (its
processes' memory and CPU, from /proc), and where each cold call's time went: the gateway's
claim and specialisation (its log) and the runtime's handler load (the pool pod's log), the
less load-sensitive part. Writes the "Warm pool (real node)" section of docs/benchmarks.md
(bench/node.py writes "Real node").
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import dataclasses
import datetime
import functools
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from bench import docs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.node import machine, percentile, rss_mib, ticks  # noqa: E402
from tests.node.chart import FUNCTIONS, SYSTEM, Wisp, wisp_on  # noqa: E402
from tests.node.node import start_real_node  # noqa: E402

EXAMPLES = {"Python": ("hello", "python"), "Node.js": ("node-hello", "node"), "Java": (None, "java")}
# Java has no inline example (examples/java-hello is a built jar, which never starts from a pool
# pod): the same greeting as the hello examples, as sources, which the pool pod compiles.
JAVA_FUNCTION: dict[str, Any] = {
    "apiVersion": "wisp.dev/v1alpha1",
    "kind": "Function",
    "metadata": {"name": "java-hello"},
    "spec": {
        "runtime": "java17",
        "handler": "hello.Hello",
        "code": {
            "inline": """package hello;

import dev.wisp.runtime.Context;
import dev.wisp.runtime.RequestHandler;
import java.util.Map;

public class Hello implements RequestHandler<Map<String, Object>, Map<String, Object>> {
    @Override
    public Map<String, Object> handleRequest(Map<String, Object> event, Context context) {
        Object name = event.getOrDefault("name", "world");
        context.getLogger().log("greeting " + name);
        return Map.of("hello", name, "requestId", context.getAwsRequestId());
    }
}
"""
        },
        "memory": "256Mi",
        "timeout": "10s",
        "access": {"public": True},
    },
}
POOL_SIZE = 2
PEERS = "Fission (pool of warm generic pods, on kind) 110 ms p50 / 145 ms p95"
HEADING = "Warm pool (real node)"
CGROUP = Path("/sys/fs/cgroup")
# A run of the Java pool alone writes a section of its own, beside the Python and Node.js one.
JAVA_HEADING = "Warm pool, Java (real node)"
BURST_HEADING = "Warm pool, a burst at zero (real node)"


def pool_pods(wisp: Wisp, pool: str, state: str) -> list[dict[str, Any]]:
    out = wisp.kubectl(
        "get",
        "pods",
        "-l",
        f"wisp.dev/pool={pool},wisp.dev/pool-state={state}",
        "-o",
        "json",
        namespace=FUNCTIONS,
    )
    return [p for p in json.loads(out.stdout)["items"] if not p["metadata"].get("deletionTimestamp")]


def pool_full(wisp: Wisp, pool: str, timeout: float = 180) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pods = pool_pods(wisp, pool, "free")
        ready = [
            p
            for p in pods
            if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
        ]
        if len(ready) >= POOL_SIZE:
            time.sleep(1)  # every gateway replica's watch has seen them
            return ready
        time.sleep(0.2)
    raise RuntimeError(f"the {pool} pool did not fill in {timeout} s")


def fresh_function(wisp: Wisp, example: str | None, name: str) -> None:
    if example is None:
        fn = json.loads(json.dumps(JAVA_FUNCTION))
    else:
        docs_ = list(yaml.safe_load_all((ROOT / "examples" / f"{example}.yaml").read_text()))
        fn = next(d for d in docs_ if d and d.get("kind") == "Function")
    fn["metadata"]["name"] = name
    # Idle long enough for its own pod to start and take over, as a called function would be.
    fn["spec"]["scale"] = {"min": 0, "max": 1, "idleTimeout": "30s"}
    wisp.apply(yaml.safe_dump(fn))
    wisp.wait_ready(name)


# The gateway's line for each start from the pool (gateway/kube/warmpool.py).
TAKEN = re.compile(
    r"(?P<key>\S+): pool pod (?P<pod>\S+) routed to (?P<total>\d+) ms after the call came "
    r"\(specialisation (?P<specialise>\d+) ms; claim (?P<claim>\d+) ms, sent at once\)"
)
LOAD_MS = re.compile(r'"loadMs":\s*(?P<ms>[0-9.]+)')


def breakdown(wisp: Wisp, name: str) -> dict[str, float]:
    """Where a pool start's time went, in ms: the gateway's claim and specialisation (sent at
    once) and the runtime's handler load; what the logs hold of it (they may be gone)."""
    out: dict[str, float] = {}
    gateways = wisp.kubectl(
        "logs", "-l", "app.kubernetes.io/component=gateway", "--tail=300", namespace=SYSTEM
    ).stdout
    for match in TAKEN.finditer(gateways):
        if match["key"] == f"{name}.{FUNCTIONS}":
            out |= {k: float(match[k]) for k in ("total", "claim", "specialise")}
            try:
                runtime = wisp.kubectl("logs", match["pod"], namespace=FUNCTIONS).stdout
            except subprocess.CalledProcessError:
                break  # retired already
            load = next((float(m["ms"]) for m in LOAD_MS.finditer(runtime)), None)
            if load is not None:
                out["load"] = load
    return out


def pods_taken(wisp: Wisp, name: str) -> list[dict[str, Any]]:
    """Each gateway's take of a pool pod for ``name`` (as their logs say): the pod, ms from the
    call's arrival to its routing, and the specialisation's ms."""
    gateways = wisp.kubectl(
        "logs", "-l", "app.kubernetes.io/component=gateway", "--tail=1000", namespace=SYSTEM
    ).stdout
    return [
        {"pod": match["pod"], "routed": float(match["total"]), "specialise": float(match["specialise"])}
        for match in TAKEN.finditer(gateways)
        if match["key"] == f"{name}.{FUNCTIONS}"
    ]


def cold_starts(
    wisp: Wisp, example: str | None, pool: str, runs: int
) -> tuple[list[float], list[dict[str, float]]]:
    times = []
    parts = []
    for i in range(runs):
        name = f"{pool}-cold-{i}"
        fresh_function(wisp, example, name)
        pool_full(wisp, pool)
        started = time.perf_counter()
        status, body = wisp.call(name, {"name": "bench"}, timeout=120)
        elapsed = time.perf_counter() - started
        if status != 200:
            raise RuntimeError(f"{name}: {status} {body}")
        times.append(elapsed)
        parts.append(breakdown(wisp, name))
        print(f"{name}: {elapsed * 1000:.0f} ms {parts[-1]}", flush=True)
        retire(wisp, name)
    return times, parts


def pods(wisp: Wisp, selector: str) -> list[dict[str, Any]]:
    out = wisp.kubectl("get", "pods", "-l", selector, "-o", "json", namespace=FUNCTIONS)
    items: list[dict[str, Any]] = json.loads(out.stdout)["items"]
    return items


def is_ready(pod: dict[str, Any]) -> bool:
    conditions = pod["status"].get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


@dataclasses.dataclass
class Burst:
    first: float  # seconds from the burst's start to its first answer
    answered: list[float]  # seconds to each answer, of those answered 200
    errors: int
    taken: list[dict[str, Any]]  # per gateway that took a pool pod for it: the pod, ms routed, specialisation
    throttled_ms: float  # how long the CFS quota held the pool pod it took back during the burst


def bursts(wisp: Wisp, example: str | None, pool: str, calls: int, runs: int) -> list[Burst]:
    """``runs`` bursts of ``calls`` concurrent calls, each to a fresh Function at zero with a full
    pool: one pool pod takes the first calls (as many as its concurrency), the rest wait for it
    or for the Function's own pods."""
    out = []
    for i in range(runs):
        name = f"{pool}-burst-{i}"
        fresh_function(wisp, example, name)
        free = {p["metadata"]["name"]: p["metadata"]["uid"] for p in pool_full(wisp, pool)}
        before = {pod: throttled_ms(uid) for pod, uid in free.items()}
        with concurrent.futures.ThreadPoolExecutor(max_workers=calls) as threads:
            started = time.perf_counter()
            answers = list(threads.map(functools.partial(_timed_call, wisp, name, started), range(calls)))
        answered = sorted(t for status, t in answers if status == 200)
        taken = pods_taken(wisp, name)
        first = answered[0] if answered else float("nan")
        held = sum(throttled_ms(free[pod]) - before[pod] for pod in {t["pod"] for t in taken} if pod in free)
        burst = Burst(first, answered, len(answers) - len(answered), taken, held)
        out.append(burst)
        print(
            f"{name}: first answer {burst.first * 1000:.0f} ms, {burst.errors} errors, "
            f"pool pods taken {taken}, throttled {held:.0f} ms",
            flush=True,
        )
        retire(wisp, name)
    return out


def throttled_ms(uid: str) -> float:
    """How long the CFS quota has held back the pod ``uid``: its pod-level cgroup's cpu.stat
    (cgroup v1's throttled_time in ns, v2's throttled_usec), found from one of its processes'
    /proc/PID/cgroup; NaN when it has none or the file is not there."""
    for pid in pod_pids(uid):
        try:
            lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            _, controllers, path = line.split(":", 2)
            v1 = "cpu" in controllers.split(",")
            if not v1 and controllers:
                continue
            parts = path.split("/")
            marks = uid_marks(uid)
            pod = next((i for i, part in enumerate(parts) if any(mark in part for mark in marks)), None)
            if pod is None:
                continue
            stat = (
                (CGROUP / controllers if v1 else CGROUP) / "/".join(parts[: pod + 1]).lstrip("/") / "cpu.stat"
            )
            if not stat.exists():
                continue
            fields = dict(row.split() for row in stat.read_text().splitlines())
            if "throttled_time" in fields:
                return int(fields["throttled_time"]) / 1e6
            return int(fields.get("throttled_usec", 0)) / 1e3
    return float("nan")


def _timed_call(wisp: Wisp, name: str, started: float, n: int) -> tuple[int, float]:
    """One call of a burst: its status, and its answer's time since the burst started."""
    status, _ = wisp.call(name, {"name": f"burst {n}"}, timeout=120)
    return status, time.perf_counter() - started


def render_bursts(results: dict[str, list[Burst]], calls: int, host: str, load: str) -> str:
    lines = [
        f"## {BURST_HEADING}",
        "",
        f"Measured {datetime.date.today()} on {host}, by `bench/pool.py --burst {calls}`: as in "
        f'"Warm pool (real node)", but each run sends {calls} calls at once (one thread each, from the '
        "host to the gateway's ClusterIP) to a fresh Function at zero with a full pool. The pool pod "
        "the first call specialises takes as many calls as the Function's concurrency; the others wait "
        "for it or for the Function's own pods. Pool pods taken: how many distinct pool pods the "
        "gateway replicas' logs say they specialised for the Function in a burst (each replica the "
        "burst reached takes one or finds one taken); routed / specialisation: from those log lines, "
        "ms from the first held call's arrival at that gateway to its routing to the pool pod, and "
        f"the specialisation's part of it. Machine load during the runs: {load}.",
        "",
        "| pool | calls per burst | runs | errors | first answer p50 / p95 / max "
        "| every answer p50 / p95 / max | pool pods taken per burst "
        "| routed / specialisation (gateway), p50 | pool pod throttled, p50 / max |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for language, runs in results.items():
        firsts = [b.first * 1000 for b in runs]
        every = [t * 1000 for b in runs for t in b.answered]
        taken = [t for b in runs for t in b.taken]
        held = [b.throttled_ms for b in runs]
        counts = sorted({len({t["pod"] for t in b.taken}) for b in runs})
        timing = (
            f"{statistics.median(t['routed'] for t in taken):.0f} / "
            f"{statistics.median(t['specialise'] for t in taken):.0f} ms"
            if taken
            else "not in the logs"
        )
        lines.append(
            f"| {language} | {calls} | {len(runs)} | {sum(b.errors for b in runs)} "
            f"| **{statistics.median(firsts):.0f}** / {percentile(firsts, 95):.0f} / {max(firsts):.0f} ms "
            f"| {statistics.median(every):.0f} / {percentile(every, 95):.0f} / {max(every):.0f} ms "
            f"| {' or '.join(map(str, counts))} | {timing} "
            f"| {statistics.median(held):.0f} / {max(held):.0f} ms |"
        )
    lines += [
        "",
        "Target: 0 errors, and the first answer within the cold start's bounds (p50 ≤ 100 ms, p95 ≤ 150 ms).",
    ]
    return "\n".join(lines) + "\n"


def retire(wisp: Wisp, name: str, timeout: float = 120) -> None:
    """Let a run finish before the next one starts: the Function's own pod takes over from the
    pool pod (the handover), then the Function is deleted and its pods are gone. Otherwise each
    run's call would share the node's two cores with the previous run's pod starting and
    stopping, and the bench would measure its own churn rather than a cold start."""
    own_ready = False  # seen once: the function may be back at zero before the pool pod is gone

    def handed_over() -> bool:
        nonlocal own_ready
        own_ready = own_ready or any(is_ready(p) for p in pods(wisp, f"wisp.dev/function={name}"))
        return own_ready and not pods(wisp, f"wisp.dev/pool-function={name}")

    deadline = time.monotonic() + timeout
    while not handed_over():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name}: no handover to its own pod in {timeout} s")
        time.sleep(0.2)
    wisp.kubectl("delete", "function", name, "--wait=false", namespace=FUNCTIONS)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pods(wisp, f"wisp.dev/function={name}") and not pods(wisp, f"wisp.dev/pool-function={name}"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{name}: its pods did not go in {timeout} s")


def uid_marks(uid: str) -> tuple[str, str]:
    """How a pod's uid appears in its cgroup path: as it is (the cgroupfs driver) or with
    underscores (the systemd driver's slice names)."""
    return uid, uid.replace("-", "_")


def pod_pids(uid: str) -> list[int]:
    """The processes of a pod (its containers and sandbox), by its uid in their cgroup path."""
    marks = uid_marks(uid)
    pids = []
    for proc_dir in Path("/proc").glob("[0-9]*"):
        try:
            cgroup = (proc_dir / "cgroup").read_text()
        except OSError:
            continue
        if any(mark in cgroup for mark in marks):
            pids.append(int(proc_dir.name))
    return pids


def idle_cost(pods: list[dict[str, Any]], seconds: float) -> tuple[float, float]:
    """Mean RSS (MiB) and CPU (% of one core) per pod over ``seconds``."""
    groups = [pod_pids(p["metadata"]["uid"]) for p in pods]
    hz = 100.0
    before = [sum(ticks(pid) for pid in pids) for pids in groups]
    time.sleep(seconds)
    after = [sum(ticks(pid) for pid in pids) for pids in groups]
    rss = [sum(rss_mib(pid) for pid in pids) for pids in groups]
    cpu = [100 * (a - b) / hz / seconds for a, b in zip(after, before, strict=True)]
    return statistics.mean(rss), statistics.mean(cpu)


def render(
    results: dict[str, list[float]],
    parts: dict[str, list[dict[str, float]]],
    idle: dict[str, tuple[float, float]],
    host: str,
    load: str,
    heading: str = HEADING,
) -> str:
    lines = [
        f"## {heading}",
        "",
        f"Measured {datetime.date.today()} on {host}, by `bench/pool.py`: wisp installed with `helm "
        f'install` on the test suite\'s real node (as in "Real node") with `pool.python`, `pool.node` '
        f"and `pool.java` on, {POOL_SIZE} warm pods each (256Mi, Java 512Mi, CPU limit 1). Each run "
        "applies a fresh Function (the hello examples' handler, 128Mi, or the same as Java sources, "
        "256Mi, JDK 17, at zero), waits until it is Ready and the pool is full, then times one "
        "call from the host to the gateway's ClusterIP: the activator hands a free pool pod the "
        "function's environment and code (and claims it, a conditional label patch, at once), the "
        "runtime imports the handler, the gateway forwards; the Function's own Deployment is scaled up "
        "once the pod took the function, and takes over (docs/warm-pool.md). Each run waits until the "
        "previous one's Function is deleted and its pods are gone. Machine load during the runs: "
        f"{load}.",
        "",
        "| zero → first response through the gateway, warm pool | p50 | p95 | runs | min / max |",
        "|---|---|---|---|---|",
    ]
    for language, times in results.items():
        ms = [t * 1000 for t in times]
        lines.append(
            f"| {language} | **{statistics.median(ms):.0f} ms** | {percentile(ms, 95):.0f} ms "
            f"| {len(ms)} | {min(ms):.0f} / {max(ms):.0f} ms |"
        )
    lines += [
        "",
        f"Target: p50 ≤ 100 ms, p95 ≤ 150 ms (Java: p50 ≤ 250 ms). Peers: {PEERS}. Without the pool "
        'the same path is the "Real node" section\'s figure.',
        "",
        "Where the time went (p50 / p95 over the runs whose logs held it): from the call's arrival at "
        "the gateway to the held call's routing to the pool pod; the specialisation (the POST to the pod, "
        "answered once the handler is loaded) and the claim (an API write, sent at once; the call is "
        "routed once the pod took the function, whether or not the claim is answered yet); the runtime's "
        "own part of the specialisation (writing the code, the environment, the handler's load), which "
        "depends least on the machine's load; the rest of the call is the way in and out through "
        "kube-proxy and the gateway, and the forward to the pod.",
        "",
        "| pool | routed | specialisation (gateway) | claim | handler load (runtime) | runs with logs |",
        "|---|---|---|---|---|---|",
    ]
    for language, rows in parts.items():
        cells = []
        for part in ("total", "specialise", "claim", "load"):
            values = [row[part] for row in rows if part in row]
            cells.append(
                f"{statistics.median(values):.0f} / {percentile(values, 95):.0f} ms" if values else "n/a"
            )
        lines.append(f"| {language} | {' | '.join(cells)} | {sum(1 for row in rows if row)} |")
    lines += [
        "",
        "Idle cost of one free pool pod (its processes, from /proc: the runtime and the pause "
        "container; mean over the pool's pods, 30 s):",
        "",
        "| pool | RSS per pod | CPU per pod (one core) |",
        "|---|---|---|",
    ]
    for language, (rss, cpu) in idle.items():
        lines.append(f"| {language} | {rss:.0f} MiB | {cpu:.2f} % |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--only", choices=sorted(EXAMPLES), action="append", help="languages to measure")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    parser.add_argument(
        "--burst", type=int, metavar="CALLS", help="measure bursts of CALLS concurrent calls at zero instead"
    )
    parser.add_argument("--burst-runs", type=int, default=10, help="bursts per language (with --burst)")
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="a chart value on top of the pools' (e.g. pool.node.resources.requests.cpu=500m)",
    )
    args = parser.parse_args()
    if args.burst:
        measure_bursts(args)
        return
    host = machine()
    languages = args.only or list(EXAMPLES)
    loads: list[float] = []
    results: dict[str, list[float]] = {}
    parts: dict[str, list[dict[str, float]]] = {}
    idle: dict[str, tuple[float, float]] = {}
    with pools_installed(languages, chart_values(args.set)) as wisp:
        for language in languages:
            example, pool = warmed_up(wisp, language)
            idle[language] = idle_cost(pool_full(wisp, pool), 30)
            loads.append(_load())
            results[language], parts[language] = cold_starts(wisp, example, pool, args.runs)
            loads.append(_load())
    load = f"1-minute load {min(loads):.1f} to {max(loads):.1f} on {os.cpu_count()} cores"
    heading = JAVA_HEADING if languages == ["Java"] else HEADING
    section = render(results, parts, idle, host, load, heading)
    print(section)
    if not args.no_docs:
        docs.write_section(heading, section)


@contextlib.contextmanager
def pools_installed(languages: list[str], extra: dict[str, str] | None = None) -> Iterator[Wisp]:
    """The real node with wisp installed and a full warm pool for each of ``languages``, with
    the chart's ``extra`` values on top (``--set``)."""
    node = start_real_node()
    try:
        values = {f"pool.{EXAMPLES[lang][1]}.enabled": "true" for lang in languages}
        values |= {f"pool.{EXAMPLES[lang][1]}.size": str(POOL_SIZE) for lang in languages}
        values |= extra or {}
        wisp = wisp_on(node).install(**values)
        try:
            yield wisp
        finally:
            wisp.uninstall()
    finally:
        node.stop()


def chart_values(pairs: list[str] | None) -> dict[str, str]:
    """``--set KEY=VALUE`` arguments as chart values."""
    values = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set {pair!r}: expected KEY=VALUE")
        values[key] = value
    return values


def warmed_up(wisp: Wisp, language: str) -> tuple[str | None, str]:
    """``language``'s example and pool, after one call through the pool (the gateway's and the
    node's first-call costs paid)."""
    example, pool = EXAMPLES[language]
    fresh_function(wisp, example, f"{pool}-warm-up")
    wisp.call(f"{pool}-warm-up", {"name": "warm-up"}, timeout=120)
    return example, pool


def measure_bursts(args: argparse.Namespace) -> None:
    host = machine()
    languages = args.only or ["Python", "Node.js"]
    loads: list[float] = []
    results: dict[str, list[Burst]] = {}
    with pools_installed(languages, chart_values(args.set)) as wisp:
        for language in languages:
            example, pool = warmed_up(wisp, language)
            loads.append(_load())
            results[language] = bursts(wisp, example, pool, args.burst, args.burst_runs)
            loads.append(_load())
    load = f"1-minute load {min(loads):.1f} to {max(loads):.1f} on {os.cpu_count()} cores"
    section = render_bursts(results, args.burst, host, load)
    print(section)
    if not args.no_docs:
        docs.write_section(BURST_HEADING, section)


def _load() -> float:
    return os.getloadavg()[0]


if __name__ == "__main__":
    main()
