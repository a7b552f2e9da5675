"""The official runtime interface clients the provided runtime's tests run, built once and cached.

* The Go function in ``go/`` on ``github.com/aws/aws-lambda-go`` (from the Go module proxy),
  built with ``go build`` into ``~/.cache/wisp/provided/go-<hash of its source and go version>/``.
* ``awslambdaric`` from PyPI in a virtualenv at ``~/.cache/wisp/provided/awslambdaric-<version>-
  py<X.Y>/`` (its wheel carries the compiled extension, so nothing is built here).

Each is made in a temporary directory and renamed into place, so concurrent test runs do not
see half a build. Without ``go`` on PATH the Go tests are skipped.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

GO_SOURCE = Path(__file__).parent / "go"
AWSLAMBDARIC_VERSION = "4.2.2"


def cache_root() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    root = base / "wisp" / "provided"
    root.mkdir(parents=True, exist_ok=True)
    return root


def go_bootstrap() -> Path:
    """The Go function's binary, built if its source (or go itself) changed."""
    go = shutil.which("go")
    if go is None:
        raise FileNotFoundError("go is not on PATH")
    version = subprocess.run([go, "version"], check=True, capture_output=True, text=True).stdout
    digest = hashlib.sha256(version.encode())
    for name in ("go.mod", "go.sum", "main.go"):
        digest.update(name.encode() + b"\0" + (GO_SOURCE / name).read_bytes())
    target = cache_root() / f"go-{digest.hexdigest()[:16]}"
    binary = target / "bootstrap"
    if binary.is_file():
        return binary
    with tempfile.TemporaryDirectory(dir=cache_root()) as tmp:
        work = Path(tmp) / "src"
        shutil.copytree(GO_SOURCE, work)
        out = Path(tmp) / "out"
        out.mkdir()
        env = {**os.environ, "CGO_ENABLED": "0"}
        subprocess.run(
            [go, "build", "-mod=readonly", "-trimpath", "-o", str(out / "bootstrap"), "."],
            cwd=work,
            env=env,
            check=True,
            capture_output=True,
        )
        _move_into_place(out, target)
    return binary


def awslambdaric_python() -> Path:
    """A Python with awslambdaric installed (from PyPI, once)."""
    major, minor = sys.version_info[:2]
    target = cache_root() / f"awslambdaric-{AWSLAMBDARIC_VERSION}-py{major}.{minor}"
    python = target / "bin" / "python"
    if python.is_file():
        return python
    with tempfile.TemporaryDirectory(dir=cache_root()) as tmp:
        venv = Path(tmp) / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                f"awslambdaric=={AWSLAMBDARIC_VERSION}",
            ],
            check=True,
            capture_output=True,
        )
        # A virtualenv's scripts name its path; the interpreter finds its site-packages from its
        # own location, so ``bin/python`` keeps working after the move.
        _move_into_place(venv, target)
    return python


def _move_into_place(built: Path, target: Path) -> None:
    try:
        built.rename(target)
    except OSError:
        if not target.exists():  # another run won the race otherwise
            raise
