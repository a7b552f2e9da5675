"""Java runtime benchmark: cold start per JVM flag, and warm overhead against a bare JDK server.

    python bench/runtime_java.py [--quick] [--no-docs] [--runs N]    (or bench.runtime_java.run())

1. Cold start. The runtime jar (built by ``runtime-images/java/build.sh``, with its class-data-
   sharing archive) serves a one-line echo handler compiled here with ``javac``. For each set of
   JVM flags, ``runs`` fresh JVMs: spawn → first 200 from ``/healthz`` (the runtime loads the
   handler before it listens, so that is "ready"), then the first call's latency. Medians.
   Archive variants run with ``-Xshare:on`` so an unusable archive fails loudly instead of
   quietly measuring a JVM without it. A bare JDK ``HttpServer`` hello world gives the floor.
2. Warm overhead. One runtime (shipped flags; and with C2 back on) and the bare server, each
   warmed up, then called sequentially over one keep-alive connection with a small JSON event:
   p50/p99, and the runtime's overhead over the bare server.
3. A second JDK (``WISP_BENCH_JAVA_HOME``, or the newest ``/usr/lib/jvm/*`` other than the
   default, when present) runs the shipped configuration too, with an archive trained for it:
   JDK 21+ serves calls from virtual threads. On JDK 25+ the same training run also makes an AOT
   cache (JEP 483, in one step with ``-XX:AOTCacheOutput``, JEP 514), run with ``-XX:AOTMode=on``
   so an unusable cache fails loudly, with the shipped flags and with C2 back on (trained so, to
   keep JEP 515's method profiles), against that JDK's AppCDS archive and no archive at all.

Results go to the "Java runtime" section of docs/benchmarks.md (other sections are left alone).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import http.client
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench import docs
from bench.procs import cpu_seconds, free_port, stop

ROOT = Path(__file__).resolve().parent.parent
JAVA_DIR = ROOT / "runtime-images" / "java"
JAR = JAVA_DIR / "runtime" / "target" / "wisp-runtime.jar"
# build.sh names the archive by the JDK's feature release; this one is the default java's (17).
ARCHIVE_PATTERN = "wisp-runtime-{feature}.jsa"
API_JAR = JAVA_DIR / "api" / "target" / "wisp-runtime-api-0.1.0.jar"
OPTIONS = f"@{JAVA_DIR / 'jvm.options'}"
EVENT = json.dumps({"name": "bench", "items": [1, 2, 3], "nested": {"ok": True}}).encode()

HANDLER_SOURCE = """\
package bench;

import dev.wisp.runtime.Context;
import dev.wisp.runtime.RequestHandler;
import java.util.Map;

public class Echo implements RequestHandler<Map<String, Object>, Map<String, Object>> {
    @Override
    public Map<String, Object> handleRequest(Map<String, Object> event, Context context) {
        return event;
    }
}
"""

BARE_SOURCE = """\
import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.util.concurrent.Executors;

public class Bare {
    public static void main(String[] args) throws Exception {
        System.setProperty("sun.net.httpserver.nodelay", "true");
        HttpServer server = HttpServer.create(
                new InetSocketAddress("127.0.0.1", Integer.parseInt(args[0])), 1024);
        server.createContext("/", exchange -> {
            byte[] in = exchange.getRequestBody().readAllBytes();
            byte[] out = in.length == 0 ? "{}".getBytes() : in;
            exchange.getResponseHeaders().set("Content-Type", "application/json");
            exchange.sendResponseHeaders(200, out.length);
            try (OutputStream body = exchange.getResponseBody()) {
                body.write(out);
            }
        });
        server.setExecutor(Executors.newFixedThreadPool(4));
        server.start();
    }
}
"""


@dataclass(frozen=True)
class Variant:
    name: str
    flags: tuple[str, ...]
    java: str = "java"
    bare: bool = False


@dataclass(frozen=True)
class ColdStart:
    ready_ms: float
    first_call_ms: float
    cpu_ms: float  # user + system CPU time of the JVM from spawn to the first answer

    @property
    def total_ms(self) -> float:
        return self.ready_ms + self.first_call_ms


def java_version(java: str) -> str:
    """``JDK 17.0.15 (OpenJDK Runtime Environment (build 17.0.15+6-Debian-1deb12u1))``."""
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=True).stderr
    line = out.splitlines()[1].strip() if len(out.splitlines()) > 1 else out.strip()
    number = re.search(r"build (\d+(?:\.\d+)*)", line)
    return f"JDK {number.group(1)} ({line})" if number else line


def compile_fixtures(work: Path, javac: str) -> tuple[Path, Path]:
    """The echo handler's code dir and the bare server's classes dir."""
    src = work / "src"
    (src / "bench").mkdir(parents=True)
    (src / "bench" / "Echo.java").write_text(HANDLER_SOURCE)
    (src / "Bare.java").write_text(BARE_SOURCE)
    code = work / "code" / "classes"
    bare = work / "bare"
    subprocess.run(
        [javac, "--release", "17", "-cp", str(API_JAR), "-d", str(code), str(src / "bench" / "Echo.java")],
        check=True,
    )
    subprocess.run([javac, "--release", "17", "-d", str(bare), str(src / "Bare.java")], check=True)
    return code.parent, bare


def command(variant: Variant, port: int, bare_dir: Path) -> list[str]:
    if variant.bare:
        return [variant.java, *variant.flags, "-cp", str(bare_dir), "Bare", str(port)]
    return [variant.java, *variant.flags, "-jar", str(JAR)]


def request(port: int, method: str, path: str, body: bytes = b"") -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body or None, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def wait_ready(port: int, path: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, http.client.HTTPException):
            if request(port, "GET", path) == 200:
                return
        if process.poll() is not None:
            raise RuntimeError(f"the JVM exited with {process.returncode}")
        time.sleep(0.005)
    raise RuntimeError("the server did not become ready")


def start(variant: Variant, code_dir: Path, bare_dir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        **os.environ,
        "WISP_HANDLER": "bench.Echo",
        "WISP_CODE_DIR": str(code_dir),
        "WISP_HOST": "127.0.0.1",
        "WISP_PORT": str(port),
        "WISP_CONCURRENCY": "64",
    }
    process = subprocess.Popen(
        command(variant, port, bare_dir), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return process, port


def cold_start(variant: Variant, code_dir: Path, bare_dir: Path) -> ColdStart:
    began = time.perf_counter()
    process, port = start(variant, code_dir, bare_dir)
    try:
        wait_ready(port, "/" if variant.bare else "/healthz", process)
        ready = time.perf_counter()
        status = request(port, "POST", "/", EVENT)
        done = time.perf_counter()
        cpu = cpu_seconds(process.pid) * 1000
        if status != 200:
            raise RuntimeError(f"{variant.name}: first call answered {status}")
        return ColdStart((ready - began) * 1000, (done - ready) * 1000, cpu)
    finally:
        stop(process)


def cold_starts(variants: list[Variant], runs: int, code_dir: Path, bare_dir: Path) -> dict[str, ColdStart]:
    """Medians over ``runs`` rounds; each round starts every variant once, so a change in the
    machine's load during the benchmark falls on all variants alike."""
    samples: dict[str, list[ColdStart]] = {v.name: [] for v in variants}
    for _ in range(runs):
        for variant in variants:
            samples[variant.name].append(cold_start(variant, code_dir, bare_dir))
    results = {}
    for name, runs_of_variant in samples.items():
        result = ColdStart(
            statistics.median(s.ready_ms for s in runs_of_variant),
            statistics.median(s.first_call_ms for s in runs_of_variant),
            statistics.median(s.cpu_ms for s in runs_of_variant),
        )
        print(
            f"cold {name}: ready {result.ready_ms:.0f} ms, first call {result.first_call_ms:.1f} ms, "
            f"CPU {result.cpu_ms:.0f} ms",
            flush=True,
        )
        results[name] = result
    return results


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def warm(variant: Variant, calls: int, code_dir: Path, bare_dir: Path) -> tuple[float, float]:
    """p50 and p99 (ms) of sequential keep-alive calls after a warm-up of ``calls`` calls."""
    process, port = start(variant, code_dir, bare_dir)
    try:
        wait_ready(port, "/" if variant.bare else "/healthz", process)
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Content-Type": "application/json"}
        latencies: list[float] = []
        for i in range(calls * 2):
            began = time.perf_counter()
            connection.request("POST", "/", body=EVENT, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{variant.name}: warm call answered {response.status}")
            if i >= calls:
                latencies.append((time.perf_counter() - began) * 1000)
        connection.close()
    finally:
        stop(process)
    result = (pct(latencies, 0.5), pct(latencies, 0.99))
    print(f"warm {variant.name}: p50 {result[0]:.3f} ms, p99 {result[1]:.3f} ms", flush=True)
    return result


def other_jdk() -> str | None:
    """A second JDK's home: WISP_BENCH_JAVA_HOME, or the newest one in /usr/lib/jvm."""
    configured = os.environ.get("WISP_BENCH_JAVA_HOME")
    if configured:
        return configured
    default = Path(shutil.which("java") or "java").resolve().parent.parent
    candidates = [
        p
        for p in Path("/usr/lib/jvm").glob("*")
        if (p / "bin" / "java").exists() and not p.is_symlink() and p.resolve() != default
    ]
    feature = re.compile(r"(\d+)")
    candidates.sort(key=lambda p: int(m.group(1)) if (m := feature.search(p.name)) else 0)
    return str(candidates[-1]) if candidates else None


def java_feature(java: str) -> int:
    """The JDK's feature release (17, 21, 25) from ``java -version``."""
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=True).stderr
    found = re.search(r'version "(\d+)', out)
    return int(found.group(1)) if found else 0


def train_aot_cache(java: str, cache: Path, flags: tuple[str, ...] = ()) -> None:
    """An AOT cache for ``java`` (JDK 25+), from the same training run as the CDS archive: the
    JVM records what the run loads, links and profiles and writes the cache when it exits."""
    subprocess.run(
        [java, OPTIONS, *flags, "-Xlog:disable", f"-XX:AOTCacheOutput={cache}", "-jar", str(JAR), "--train"],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,  # the JVM that writes the cache announces its options
    )


def aot_variants(java: str, label: str, work: Path) -> list[Variant]:
    """The AOT cache on ``java`` (labelled ``label``): with the shipped flags, and with C2 back
    on; and that JDK with the shipped flags and no archive, the baseline of both."""
    c1, c2 = work / "second-c1.aot", work / "second-c2.aot"
    train_aot_cache(java, c1)
    train_aot_cache(java, c2, ("-XX:TieredStopAtLevel=4",))
    return [
        Variant(f"shipped `jvm.options`, no archive, on {label}", (OPTIONS,), java),
        Variant(
            f"**shipped + AOT cache** (`-XX:AOTCache`, trained as the archive), on {label}",
            (OPTIONS, "-XX:AOTMode=on", f"-XX:AOTCache={c1}"),
            java,
        ),
        Variant(
            f"shipped + `-XX:TieredStopAtLevel=4` (C2) + AOT cache trained with C2, on {label}",
            (OPTIONS, "-XX:TieredStopAtLevel=4", "-XX:AOTMode=on", f"-XX:AOTCache={c2}"),
            java,
        ),
    ]


def train_archive(java: str, archive: Path) -> None:
    """A CDS archive for ``java`` (an archive only works with the JVM that made it)."""
    subprocess.run(
        [java, OPTIONS, "-Xlog:disable", f"-XX:ArchiveClassesAtExit={archive}", "-jar", str(JAR), "--train"],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores (`nproc`), {cpu}"


def load_average() -> str:
    with contextlib.suppress(OSError):
        return Path("/proc/loadavg").read_text().split()[0]
    return "?"


def render(
    cold: dict[str, ColdStart],
    warm_results: dict[str, tuple[float, float]],
    runs: int,
    calls: int,
    versions: dict[str, str],
) -> str:
    today = datetime.date.today().isoformat()
    lines = [
        "## Java runtime",
        "",
        f"Measured {today} on {machine()}, {versions['default']}, by `make bench` "
        f"(`bench/runtime_java.py`). Handler: a `RequestHandler<Map, Map>` echo; event: a "
        f"{len(EVENT)}-byte JSON object; loopback, one Python client. The machine was shared "
        f"(1-minute load average {versions['load_before']} at the start, "
        f"{versions['load_after']} at the end): compare rows with each other more than with "
        "other sections.",
        "",
        f"### Cold start (median of {runs} fresh JVMs)",
        "",
        '"Ready" is spawn → first 200 from `/healthz` (the runtime loads the handler before it '
        'listens); "first call" is the next request\'s latency; the total is what the first '
        "caller of a scaled-from-zero function waits for the process (the pod's own start and "
        "the gateway come on top). The JVM's CPU time (user + system, from /proc) is the steadier "
        "figure on a busy machine: wall times stretch with the load, CPU time much less.",
        "",
        "| JVM flags | ready | first call | spawn → first answer | JVM CPU time to first answer |",
        "|---|---|---|---|---|",
    ]
    for name, result in cold.items():
        lines.append(
            f"| {name} | {result.ready_ms:.0f} ms | {result.first_call_ms:.1f} ms "
            f"| **{result.total_ms:.0f} ms** | {result.cpu_ms:.0f} ms |"
        )
    bare = warm_results.get("bare JDK HttpServer hello (floor)")
    lines += [
        "",
        f"### Warm overhead ({calls} sequential keep-alive calls after {calls} warm-up calls)",
        "",
        "| server | p50 | p99 | p50 over the bare server |",
        "|---|---|---|---|",
    ]
    for name, (p50, p99) in warm_results.items():
        over = f"+{(p50 - bare[0]) * 1000:.0f} µs" if bare and name != next(iter(warm_results)) else "—"
        lines.append(f"| {name} | {p50:.3f} ms | {p99:.3f} ms | {over} |")
    if "other" in versions:
        lines += ["", f"Second JDK: {versions['other']}.{AOT_NOTE if any('AOT' in n for n in cold) else ''}"]
    lines += [
        "",
        "Flags are explained in docs/runtimes-java.md; the shipped set is `runtime-images/java/jvm.options`.",
        "",
    ]
    return "\n".join(lines)


AOT_NOTE = (
    " Its rows compare the start-up caches a JDK 25 image could carry, each made by the same"
    " training run (`--train`): none, the AppCDS archive (`-XX:ArchiveClassesAtExit`) and the AOT"
    " cache (`-XX:AOTCacheOutput`, JEPs 483 and 514: classes loaded and linked ahead of time), the"
    " cache also with C2 on in training and run (where JEP 515's method profiles serve). The"
    " `java25` images carry the AOT cache with the shipped flags; 17 and 21 the AppCDS archive."
)


def write_section(section: str, path: Path) -> None:
    docs.write_section("Java runtime", section, path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer runs and calls")
    parser.add_argument("--no-docs", action="store_true", help="print, do not write the docs")
    parser.add_argument("--runs", type=int, default=0, help="cold starts per variant")
    args = parser.parse_args()
    run(quick=args.quick, write_docs=not args.no_docs, runs=args.runs)


def run(*, quick: bool = False, write_docs: bool = True, runs: int = 0) -> str:
    """Runs the benchmark; returns the section (and writes it to docs/benchmarks.md)."""
    runs = runs or (3 if quick else 9)
    calls = 1000 if quick else 5000

    subprocess.run([str(JAVA_DIR / "build.sh")], check=True)
    javac = shutil.which("javac") or "javac"
    archive = f"-XX:SharedArchiveFile={JAR.parent / ARCHIVE_PATTERN.format(feature=java_feature('java'))}"
    versions = {"default": java_version("java"), "load_before": load_average()}
    with tempfile.TemporaryDirectory(prefix="wisp-bench-java-") as tmp:
        work = Path(tmp)
        code_dir, bare_dir = compile_fixtures(work, javac)
        variants = [
            Variant("bare JDK HttpServer hello, no flags (floor)", (), bare=True),
            Variant("no flags (JDK default CDS archive only)", ()),
            Variant("`-Xshare:off` (no class data sharing at all)", ("-Xshare:off",)),
            Variant("`-XX:+UseSerialGC`", ("-XX:+UseSerialGC",)),
            Variant("`-XX:TieredStopAtLevel=1`", ("-XX:TieredStopAtLevel=1",)),
            Variant("AppCDS archive only", ("-Xshare:on", archive)),
            Variant("shipped `jvm.options` without the AppCDS archive", (OPTIONS,)),
            Variant("**shipped: `jvm.options` + AppCDS archive**", (OPTIONS, "-Xshare:on", archive)),
        ]
        second = other_jdk()
        if second:
            second_java = str(Path(second) / "bin" / "java")
            versions["other"] = java_version(second_java)
            second_archive = work / "second.jsa"
            train_archive(second_java, second_archive)
            label = versions["other"].split(" (")[0]
            variants.append(
                Variant(
                    f"shipped + its own AppCDS archive, on {label}",
                    (OPTIONS, "-Xshare:on", f"-XX:SharedArchiveFile={second_archive}"),
                    second_java,
                )
            )
            if java_feature(second_java) >= 25:
                variants += aot_variants(second_java, label, work)
        cold = cold_starts(variants, runs, code_dir, bare_dir)

        warm_variants = [
            Variant("bare JDK HttpServer hello (floor)", (), bare=True),
            Variant("wisp runtime, shipped flags (C1 only)", (OPTIONS, archive)),
            Variant(
                "wisp runtime, shipped flags + `-XX:TieredStopAtLevel=4` (C2)",
                (OPTIONS, archive, "-XX:TieredStopAtLevel=4"),
            ),
        ]
        if second:
            label = versions["other"].split(" (")[0]
            warm_variants.append(
                Variant(
                    f"wisp runtime, shipped flags, on {label} (virtual threads)",
                    (OPTIONS, f"-XX:SharedArchiveFile={work / 'second.jsa'}"),
                    second_java,
                )
            )
            if java_feature(second_java) >= 25:
                warm_variants.append(
                    Variant(
                        f"wisp runtime, shipped flags + AOT cache, on {label} (virtual threads)",
                        (OPTIONS, f"-XX:AOTCache={work / 'second-c1.aot'}"),
                        second_java,
                    )
                )
        warm_results = {v.name: warm(v, calls, code_dir, bare_dir) for v in warm_variants}

    versions["load_after"] = load_average()
    section = render(cold, warm_results, runs, calls, versions)
    print(section)
    if write_docs:
        write_section(section, ROOT / "docs" / "benchmarks.md")
    return section


if __name__ == "__main__":
    main()
