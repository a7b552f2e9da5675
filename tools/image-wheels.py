"""Download the wheels an image's offline ``pip install`` needs, for that image's Python.

Reads the hashed requirement files the Dockerfiles install (exported from uv.lock), evaluates
their environment markers for the image's interpreter (given as JSON by ``--environment``, as
printed by ``--print-environment`` inside the image) rather than the host's, and has the host's
pip download exactly those pinned wheels, hashes checked, into a directory that the image build
mounts for ``pip install --no-index --find-links``. The wheels are chosen for the image's Python
version, ABI and C library (``--python-version``, ``--abi``, ``--platform``), so a base whose
Python is not the host's (Debian trixie's 3.13, forky's 3.14) gets wheels it can install.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
from pathlib import Path

# Not a marker: the image's C library ("glibc 2.41"), printed with the markers for the wheels'
# platform tags and removed before markers are evaluated.
LIBC = "wisp_libc"


def print_environment() -> None:
    """This interpreter's environment markers (run inside the image, standard library only)."""
    version = platform.python_version()
    markers = {
        "implementation_name": sys.implementation.name,
        "implementation_version": version,
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_python_implementation": platform.python_implementation(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": version,
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    }
    libc, libc_version = platform.libc_ver()
    markers[LIBC] = f"{libc} {libc_version}"
    print(json.dumps(markers))


def target_options(environment: dict[str, str]) -> list[str]:
    """pip download's options that pick wheels for the interpreter ``environment`` describes."""
    version = environment["python_version"]
    options = ["--python-version", version]
    if environment["implementation_name"] == "cpython":
        options += ["--implementation", "cp", "--abi", "cp" + version.replace(".", ""), "--abi", "abi3"]
    options += ["--abi", "none"]
    libc, _, libc_version = environment.get(LIBC, "").partition(" ")
    machine = environment["platform_machine"]
    if libc == "glibc" and libc_version:
        # Every manylinux this glibc runs, newest first (pip does not count older ones in).
        legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
        for minor in range(int(libc_version.split(".")[1]), 4, -1):
            options += ["--platform", f"manylinux_2_{minor}_{machine}"]
            if minor in legacy:
                options += ["--platform", f"{legacy[minor]}_{machine}"]
    options += ["--platform", f"linux_{machine}"]
    return options


def requirements(path: Path) -> list[str]:
    """One string per requirement (continuation lines joined), comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", path.read_text())
    return [
        line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


def applies(requirement: str, environment: dict[str, str]) -> bool:
    from packaging.markers import Marker  # only on the host

    spec = requirement.split(" --hash", 1)[0]
    if ";" not in spec:
        return True
    return Marker(spec.split(";", 1)[1].strip()).evaluate(environment)


def strip_marker(requirement: str) -> str:
    spec, _, hashes = requirement.partition(" --hash")
    return spec.split(";", 1)[0].strip() + (" --hash" + hashes if hashes else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--print-environment", action="store_true", help="print this Python's markers")
    parser.add_argument("--environment", help="JSON of the image's environment markers")
    parser.add_argument("--dest", type=Path)
    parser.add_argument("requirements", nargs="*", type=Path)
    args = parser.parse_args()
    if args.print_environment:
        print_environment()
        return 0
    environment = json.loads(args.environment)
    target = target_options(environment)
    environment.pop(LIBC, None)
    # One download per file: each is one image's consistent set, and two images may pin
    # different versions of a package (the runtime image's AWS SDK holds python-dateutil below
    # 3, the wisp image does not); both wheels then sit in the directory, each install picks its
    # own by hash.
    for path in args.requirements:
        wanted = [strip_marker(r) for r in requirements(path) if applies(r, environment)]
        if not wanted:
            continue
        with tempfile.NamedTemporaryFile("w", suffix=".txt") as filtered:
            filtered.write("\n".join(wanted) + "\n")
            filtered.flush()
            pip = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"]
            pip += ["--no-deps", "--only-binary=:all:", *target]
            pip += ["--dest", str(args.dest), "-r", filtered.name]
            code = subprocess.run(pip, check=False).returncode
            if code != 0:
                return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
