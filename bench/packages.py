"""Time to first response of a new version whose code is a 50 MB package, on the real node.

wisp installed with ``helm install`` on the test suite's real node (tests/node/), a CNCF
distribution registry on the node's IP (tests/support/registry.py), the chart told to speak plain
HTTP to it. Each run makes a folder with a fresh 50 MB of random bytes (so nothing is cached
anywhere) beside the handler, and ``wisp deploy --package --no-wait`` zips it, pushes it and applies
the Function, which has ``spec.publish: true``. Timed from the moment the deploy command returns
to the first answer of the new version through the gateway (``/function/NAME:N``): the operator
publishes version N and renders its Deployment, the activator scales it from zero, the pod's init
step fetches the 50 MB from the registry, checks its sha256 and unpacks it, the runtime starts.
The same with a 1 KB package shows what the package's size costs. Writes the "Code packages
(real node)" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from bench import docs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.node import machine  # noqa: E402
from tests.node.chart import FUNCTIONS, Wisp, wisp_on  # noqa: E402
from tests.node.node import NODE_IP, start_real_node  # noqa: E402
from tests.support.registry import Registry  # noqa: E402

from wisp.packages.push import package_folder, push_archive  # noqa: E402
from wisp.packages.registry import Repository  # noqa: E402

NAME = "pkg-bench"
WISP = str(ROOT / ".venv" / "bin" / "wisp")
HANDLER = """import os


def handler(event, context):
    return {"files": sorted(os.listdir(os.path.dirname(__file__)))}
"""


def folder(root: Path, size: int) -> Path:
    root.mkdir(parents=True)
    (root / "main.py").write_text(HANDLER)
    (root / "data").mkdir()
    (root / "data" / "blob.bin").write_bytes(os.urandom(size))
    manifest = {
        "apiVersion": "wisp.dev/v1alpha1",
        "kind": "Function",
        "metadata": {"name": NAME},
        "spec": {
            "runtime": "python3.11",
            "handler": "main.handler",
            "memory": "256Mi",
            "publish": True,
            "access": {"public": True},
            "scale": {"min": 0, "max": 1, "idleTimeout": "5s"},
        },
    }
    (root / "function.yaml").write_text(yaml.safe_dump(manifest))
    return root


def latest_version(wisp: Wisp) -> int:
    out = wisp.kubectl(
        "get", "fn", NAME, "-o", "jsonpath={.status.latestVersion}", namespace=FUNCTIONS, check=False
    )
    return int(out.stdout or 0)


def fetch_seconds(wisp: Wisp, version: int) -> float | None:
    """The init step's run time, from the version's pod status (the kubelet's 1 s resolution)."""
    pods = json.loads(
        wisp.kubectl(
            "get", "pods", "-l", f"wisp.dev/function={NAME}-v{version}", "-o", "json", namespace=FUNCTIONS
        ).stdout
    )["items"]
    for pod in pods:
        for status in pod["status"].get("initContainerStatuses") or ():
            done = (status.get("state") or {}).get("terminated") or {}
            if status["name"] == "fetch-code" and done.get("startedAt") and done.get("finishedAt"):
                start = datetime.datetime.fromisoformat(done["startedAt"].replace("Z", "+00:00"))
                end = datetime.datetime.fromisoformat(done["finishedAt"].replace("Z", "+00:00"))
                return (end - start).total_seconds()
    return None


def one_run(wisp: Wisp, registry: Registry, size: int, scratch: Path) -> dict[str, Any]:
    before = latest_version(wisp)
    src = folder(scratch / f"run-{time.monotonic_ns()}", size)
    env = {**os.environ, "KUBECONFIG": str(wisp.kubectl.kubeconfig), "NO_COLOR": "1"}
    started = time.monotonic()
    subprocess.run(
        [WISP, "deploy", str(src), "-n", FUNCTIONS, "--package", "--plain-http", "--no-wait",
         "--repository", registry.repository("bench/fns")],
        check=True, capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    applied = time.monotonic()
    version = before + 1
    # The operator publishes the version and the gateway's watch learns of it: until then the
    # qualifier is a 404, which is part of the time to a first answer.
    while True:
        status, body = wisp.call(f"{NAME}:{version}", {}, timeout=300)
        if status != 404 or time.monotonic() - applied > 120:
            break
        time.sleep(0.1)
    answered = time.monotonic()
    if status != 200:
        raise RuntimeError(f"version {version} answered {status}: {body}")
    return {
        "deploy": applied - started,
        "first": answered - applied,
        "fetch": fetch_seconds(wisp, version),
    }


def render(results: dict[str, list[dict[str, Any]]], before: str, after: str) -> str:
    today = datetime.date.today().isoformat()
    lines = [
        "### Time to first answer of a new version (real node)",
        "",
        f"Measured {today} by `python -m bench.packages` on the shared test machine (other engineers' "
        "builds and tests ran at the same time, so these are upper bounds): "
        f"{before} before, 1-minute load {after} after.",
        "",
        "wisp installed with `helm install` on the suite's real node (containerd 2, runc, kubelet), a "
        "CNCF distribution v3.1.2 registry on the node's IP, no node cache (the chart's default). "
        "Each run: a fresh folder (`main.py` + random bytes, so nothing is cached anywhere), "
        "`wisp deploy --package --no-wait` (zip, push, apply; the Function has `spec.publish: true`), "
        "then one call of the new version `/function/NAME:N` through the gateway's ClusterIP. "
        "*First answer* is from the deploy command's return to that call's answer: the operator "
        "publishes the version and renders its Deployment, the activator scales it from zero, the "
        "init step fetches, checks (sha256) and unpacks the package, the Python runtime starts. "
        "*Init step* is the `fetch-code` container's run time from the pod's status (1 s resolution).",
        "",
        "| package | runs | `wisp deploy` (zip + push + apply) "
        "| first answer of the new version, median (min to max) | init step, median |",
        "|---|---|---|---|---|",
    ]
    for label, runs in results.items():
        first = [r["first"] for r in runs]
        deploy = [r["deploy"] for r in runs]
        fetch = [r["fetch"] for r in runs if r["fetch"] is not None]
        fetch_text = f"{statistics.median(fetch):.0f} s" if fetch else "n/a"
        lines.append(
            f"| {label} | {len(runs)} | {statistics.median(deploy):.1f} s | "
            f"{statistics.median(first):.1f} s ({min(first):.1f} to {max(first):.1f}) | {fetch_text} |"
        )
    return "\n".join(lines) + "\n"


def local_steps(runs: int, scratch: Path) -> list[dict[str, float]]:
    """The package's own steps on this machine, registry on loopback: zip a folder with 50 MB of
    random bytes, push it, and ``wisp fetch-code`` it (fetch + sha256 + unpack) with an empty
    cache and again from the cache, as a pod's init step runs."""
    registry = Registry(scratch / "local-registry").start()
    results = []
    try:
        for i in range(runs):
            src = folder(scratch / f"local-{i}", 50 * 1024 * 1024)
            started = time.monotonic()
            archive = package_folder(src, scratch / f"local-{i}.zip")
            zipped = time.monotonic()
            code = push_archive(
                archive, Repository.parse(registry.repository("bench"), plain_http=True), title="a.zip"
            )
            pushed = time.monotonic()
            fetch = [WISP, "fetch-code", "--digest", code["digest"], "--repository", code["repository"],
                     "--plain-http", registry.address, "--cache", str(scratch / f"cache-{i}")]  # fmt: skip
            timings = {"zip": zipped - started, "push": pushed - zipped}
            for step in ("cold", "cached"):
                into = scratch / f"code-{i}-{step}"
                into.mkdir()
                began = time.monotonic()
                subprocess.run([*fetch, "--into", str(into)], check=True, capture_output=True, timeout=300)
                timings[step] = time.monotonic() - began
            results.append(timings)
            print(timings, flush=True)
    finally:
        registry.stop()
    return results


def render_local(results: list[dict[str, float]], before: str, after: str) -> str:
    def cell(step: str) -> str:
        values = [r[step] for r in results]
        return f"{statistics.median(values):.2f} s ({min(values):.2f} to {max(values):.2f})"

    return "\n".join(
        [
            "### The package's own steps (this machine, registry on loopback)",
            "",
            f"Measured {datetime.date.today().isoformat()} by `python -m bench.packages --local` on the "
            f"shared test machine (other engineers' builds and tests ran at the same time): {before} before, "
            f"1-minute load {after} after. A folder with `main.py` and 50 MB of random bytes (a 50 MB zip), "
            "a CNCF distribution v3.1.2 registry on 127.0.0.1, `wisp fetch-code` as the init step runs it "
            "(a new process: Python start, fetch, sha256, unpack). Median (min to max) of "
            f"{len(results)} runs.",
            "",
            "| step | time |",
            "|---|---|",
            f"| zip the folder (`wisp deploy --package`) | {cell('zip')} |",
            f"| push to the registry | {cell('push')} |",
            f"| init step, empty node cache: fetch + check + unpack | {cell('cold')} |",
            f"| init step, package in the node cache: check + unpack | {cell('cached')} |",
            "",
        ]
    )


def kept_local() -> str:
    """The ``--local`` subsection already in docs/benchmarks.md, kept under the node's figures."""
    text = docs.DOCS.read_text() if docs.DOCS.exists() else ""
    found = re.search(r"^### The package's own steps.*?(?=^## |\Z)", text, re.S | re.M)
    return found.group(0) if found else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--local", action="store_true", help="only the package's own steps, no node")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    if args.local:
        before = machine()
        with tempfile.TemporaryDirectory() as tmp:
            local = render_local(local_steps(args.runs, Path(tmp)), before, f"{os.getloadavg()[0]:.2f}")
        print(local)
        if not args.no_docs:
            docs.write_section("Code packages", "## Code packages\n\n" + local)
        return
    node = start_real_node()
    before = machine()  # once the node is ours: waiting for its lock is no part of the run
    results: dict[str, list[dict[str, Any]]] = {}
    try:
        wisp = wisp_on(node).install()
        with tempfile.TemporaryDirectory() as tmp:
            registry = Registry(Path(tmp) / "registry", host=NODE_IP).start()
            try:
                wisp.configure(json_values={"functions.packages.plainHttp": [registry.address]})
                for label, size in (("50 MB (zip of random bytes)", 50 * 1024 * 1024), ("1 KB", 1024)):
                    results[label] = [one_run(wisp, registry, size, Path(tmp)) for _ in range(args.runs)]
                    print(label, results[label], flush=True)
            finally:
                registry.stop()
                wisp.uninstall()
    finally:
        node.stop()
    section = render(results, before, f"{os.getloadavg()[0]:.2f}")
    print(section)
    if not args.no_docs:
        docs.write_section("Code packages", "## Code packages\n\n" + section + "\n" + kept_local())


if __name__ == "__main__":
    main()
