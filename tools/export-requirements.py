"""The hashed requirement files the images install, exported from uv.lock.

    python tools/export-requirements.py --uv PATH [--check]

uv.lock is the one record of wisp's Python dependencies. A Dockerfile cannot run uv against it
without bringing uv into the image, so each image gets a plain requirements file with the same
versions and hashes (``pip install --require-hashes --no-deps -r``):

* ``deploy/requirements.txt`` — the wisp image (operator, gateway): the platform's dependencies.
* ``runtime-images/python/requirements.txt`` — the Python runtime image: only what wisp_runtime
  imports (the ``wisp-runtime`` workspace member's dependencies).
* ``runtime-images/python/build-requirements.txt`` — the build backend (the ``build`` group),
  used by both images to build wisp's own packages without fetching anything unpinned.

With ``--check`` nothing is written; the files that differ from a fresh export are named and the
exit status is 1 (``make lint``), like the CRD drift check.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMON = ["export", "--frozen", "--format", "requirements.txt", "--no-emit-workspace"]
EXPORTS: dict[str, list[str]] = {
    "deploy/requirements.txt": [],
    "runtime-images/python/requirements.txt": ["--package", "wisp-runtime"],
    "runtime-images/python/build-requirements.txt": ["--only-group", "build"],
}


def exported(uv: str, args: list[str]) -> str:
    command = [uv, *COMMON, *args, "--quiet"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"export-requirements: {' '.join(command)} failed:\n{result.stderr}")
    return result.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uv", required=True, help="the uv binary (the Makefile's $(UV))")
    parser.add_argument("--check", action="store_true", help="report drift, write nothing")
    options = parser.parse_args()
    drifted = []
    for path, args in EXPORTS.items():
        target = ROOT / path
        text = exported(options.uv, args)
        if not options.check:
            target.write_text(text)
        elif not target.exists() or target.read_text() != text:
            drifted.append(path)
    if drifted:
        print("out of date with uv.lock (run make requirements):", *drifted, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
