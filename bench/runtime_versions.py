"""Start-up of every runtime version this machine has: spawn → first 200 from ``/healthz``.

    python -m bench.runtime_versions [--runs N] [--no-docs]

For each row of the runtime table (``wisp.api.runtimes``) whose language version is found here
the way ``wisp dev`` finds it (``WISP_PYTHON_X_Y`` / ``pythonX.Y`` with the runtime's
requirements, ``WISP_NODE_N``, ``WISP_JAVA_N`` / ``JAVA_HOME``; see docs/runtimes.md), ``runs``
fresh runtime processes, interleaved across versions so the machine's load falls on all of them
alike, each loading a one-line echo handler with the launcher's command (the images' CMD; for
Java, with the start-up cache ``runtime-images/java/build.sh`` makes for each of those JDKs, as
the image makes its own: the AppCDS archive before JDK 25, the AOT cache from 25). The median and
the spread of the wall time, and the median CPU time of the process (steadier on a shared
machine). Versions not found here are listed as such. Results go to the "Runtime versions"
section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.docs import write_section
from bench.procs import cpu_seconds, free_port, stop
from bench.runtime_client import healthz_status
from bench.runtimes import container_env

from wisp.api.runtimes import Runtime
from wisp.dev.localversions import local_version
from wisp.launcher import runtime_command, runtime_images_dir

HEADING = "Runtime versions"
HANDLERS = {"python": ("main.py", "def handler(event, context):\n    return event\n", "main.handler")}
HANDLERS["node"] = ("index.js", "exports.handler = async (event) => event;\n", "index.handler")
# Compiled for Java 17 into the code dir's classes/ before the runs (compile_java), as a jar
# would bring it: a source file would be compiled at every start.
HANDLERS["java"] = (
    "Echo.java",
    "package bench;\n\npublic class Echo {\n"
    "    public Object handle(Object event) {\n        return event;\n    }\n}\n",
    "bench.Echo::handle",
)
JAVA_DIR = runtime_images_dir() / "java"


@dataclass
class Samples:
    runtime: Runtime
    version: str
    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)


def start_once(runtime: Runtime, code_dir: Path) -> tuple[float, float]:
    _, _, handler = HANDLERS[runtime.language]
    port = free_port()
    env = {"WISP_HANDLER": handler, "WISP_CODE_DIR": str(code_dir), "WISP_PORT": str(port)}
    if runtime.language == "python":
        env["PYTHONPATH"] = str(runtime_images_dir() / "python")
    started = time.perf_counter()
    process = subprocess.Popen(
        runtime_command(runtime),
        env=container_env(env),
        cwd=code_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while healthz_status(port) != 200:
            if process.poll() is not None:
                raise RuntimeError(f"{runtime.value} exited with {process.returncode}")
            time.sleep(0.001)
        wall = (time.perf_counter() - started) * 1000
        return wall, cpu_seconds(process.pid) * 1000
    finally:
        stop(process)


def compile_java(code_dir: Path) -> None:
    """The Java runtime (jar, API, a start-up cache per JDK found) and the handler's classes."""
    subprocess.run(["bash", str(JAVA_DIR / "build.sh")], check=True)
    source = code_dir / HANDLERS["java"][0]
    subprocess.run(["javac", "--release", "17", "-d", str(code_dir / "classes"), str(source)], check=True)
    source.unlink()


def measure(runs: int) -> tuple[list[Samples], list[Runtime]]:
    found: list[Samples] = []
    missing: list[Runtime] = []
    for runtime in Runtime:
        if runtime.language not in HANDLERS:
            continue
        version = local_version(runtime)
        if version == runtime.version:
            found.append(Samples(runtime, version))
        else:
            missing.append(runtime)
    with tempfile.TemporaryDirectory() as tmp:
        dirs = {}
        for language, (name, text, _) in HANDLERS.items():
            dirs[language] = Path(tmp) / language
            dirs[language].mkdir()
            (dirs[language] / name).write_text(text)
        if any(s.runtime.language == "java" for s in found):
            compile_java(dirs["java"])
        for sample in found:  # one unmeasured start each: the page cache, byte-compiled files
            start_once(sample.runtime, dirs[sample.runtime.language])
        for _ in range(runs):
            for sample in found:
                wall, cpu = start_once(sample.runtime, dirs[sample.runtime.language])
                sample.wall_ms.append(wall)
                sample.cpu_ms.append(cpu)
    return found, missing


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def render(found: list[Samples], missing: list[Runtime], runs: int, load_before: float) -> str:
    load = os.getloadavg()[0]
    lines = [
        f"## {HEADING}",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} cores ({cpu_model()}) by"
        " `python -m bench.runtime_versions`"
        f" (1-minute load average {load_before:.2f} before, {load:.2f} at the end: a shared machine,"
        " so compare rows with each"
        " other): each version's runtime process, spawn → first 200 from `/healthz`, an echo handler,"
        f" {runs} fresh processes per version interleaved. A fresh interpreter each time (no fork"
        " server); the Python runtime from its development tree, not byte-compiled in an image.",
        "",
        "| runtime | interpreter here | start → ready, median | min / max | CPU time, median |",
        "|---|---|---|---|---|",
    ]
    for s in found:
        lines.append(
            f"| `{s.runtime.value}` | {s.runtime.language} {s.version}"
            f" | {statistics.median(s.wall_ms):.0f} ms"
            f" | {min(s.wall_ms):.0f} / {max(s.wall_ms):.0f} ms | {statistics.median(s.cpu_ms):.0f} ms |"
        )
    for runtime in missing:
        lines.append(f"| `{runtime.value}` | not on this machine | — | — | — |")
    lines += [
        "",
        "The interpreters come from different builds (Debian's, pyenv's, the official Node.js ones,"
        " Debian's OpenJDK 17 and Temurin 25; where each comes from here:"
        " [runtimes.md](runtimes.md#tests)), so a row compares a build as well as a language version."
        " Java starts with the shipped JVM flags and the start-up cache its image makes (AppCDS"
        " archive on 17 and 21, AOT cache on 25); its first call and the flags:"
        " [Java runtime](#java-runtime).",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--no-docs", action="store_true", help="print only")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    found, missing = measure(args.runs)
    section = render(found, missing, args.runs, load_before)
    print(section)
    if not args.no_docs:
        write_section(HEADING, section, Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md")


if __name__ == "__main__":
    main()
