"""The official runtime interface clients the provided runtime's tests run, built once and cached.

* The Go function in ``go/`` on ``github.com/aws/aws-lambda-go`` (from the Go module proxy),
  built with ``go build`` into ``~/.cache/wisp/provided/go-<hash of its source and go version>/``.
* ``awslambdaric`` from PyPI in a virtualenv at ``~/.cache/wisp/provided/awslambdaric-<version>-
  py<X.Y>/`` (its wheel carries the compiled extension, so nothing is built here).
* The Rust function in ``rust/`` on ``lambda_runtime`` (from crates.io, locked by its
  ``Cargo.lock``), built with ``cargo build --release --locked`` (the build's work kept in
  ``~/.cache/wisp/provided/rust-target/``) into ``~/.cache/wisp/provided/rust-<hash>/``.
* ``aws-lambda-java-runtime-interface-client`` from Maven Central (its jar carries the native
  library it uses), its classpath from Maven, and java/src compiled against it with ``javac``
  into ``~/.cache/wisp/provided/java-<hash>/``.

Each is made in a temporary directory and renamed into place, so concurrent test runs do not
see half a build. Without ``go`` (or ``cargo``, or ``mvn`` and ``javac``) on PATH those tests are
skipped.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

GO_SOURCE = Path(__file__).parent / "go"
RUST_SOURCE = Path(__file__).parent / "rust"
JAVA_SOURCE = Path(__file__).parent / "java"
JAVA_RIC_MAIN = "com.amazonaws.services.lambda.runtime.api.client.AWSLambda"
AWSLAMBDARIC_VERSION = "4.2.2"


def cache_root() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    root = base / "wisp" / "provided"
    root.mkdir(parents=True, exist_ok=True)
    return root


def go_bootstrap() -> Path:
    """The Go function's binary, built if its source (or go itself) changed."""

    def build(go: str, work: Path, out: Path) -> None:
        subprocess.run(
            [go, "build", "-mod=readonly", "-trimpath", "-o", str(out / "bootstrap"), "."],
            cwd=work,
            env={**os.environ, "CGO_ENABLED": "0"},
            check=True,
            capture_output=True,
        )

    files = [GO_SOURCE / name for name in ("go.mod", "go.sum", "main.go")]
    return _cached_bootstrap("go", GO_SOURCE, files, ("go", "version"), build)


def rust_bootstrap() -> Path:
    """The Rust function's binary, built if its source (or cargo itself) changed."""
    target_dir = cache_root() / "rust-target"  # the build's work, kept for the next source change

    def build(cargo: str, work: Path, out: Path) -> None:
        subprocess.run(
            [cargo, "build", "--release", "--locked", "--quiet"],
            cwd=work,
            env={**os.environ, "CARGO_TARGET_DIR": str(target_dir)},
            check=True,
            capture_output=True,
        )
        shutil.copy2(target_dir / "release" / "bootstrap", out / "bootstrap")

    files = [RUST_SOURCE / "Cargo.toml", RUST_SOURCE / "Cargo.lock", *sorted(RUST_SOURCE.glob("src/*.rs"))]
    return _cached_bootstrap("rust", RUST_SOURCE, files, ("cargo", "--version"), build)


def _cached_bootstrap(
    name: str,
    source: Path,
    files: list[Path],
    version: tuple[str, str],
    build: Callable[[str, Path, Path], None],
) -> Path:
    """``<cache>/<name>-<hash>/bootstrap``: ``build(tool, work, out)`` run on a copy of
    ``source`` once for each content of ``files`` and version of the tool (``version``: its name
    and the flag that prints its version)."""
    tool = shutil.which(version[0])
    if tool is None:
        raise FileNotFoundError(f"{version[0]} is not on PATH")
    printed = subprocess.run([tool, version[1]], check=True, capture_output=True, text=True).stdout
    digest = hashlib.sha256(printed.encode())
    for path in files:
        digest.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes())
    target = cache_root() / f"{name}-{digest.hexdigest()[:16]}"
    binary = target / "bootstrap"
    if binary.is_file():
        return binary
    with tempfile.TemporaryDirectory(dir=cache_root()) as tmp:
        work = Path(tmp) / "src"
        shutil.copytree(source, work)
        out = Path(tmp) / "out"
        out.mkdir()
        build(tool, work, out)
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


def java_classpath() -> str:
    """The classpath of the Java client and the compiled handler (java/src)."""
    mvn, javac = shutil.which("mvn"), shutil.which("javac")
    if mvn is None or javac is None:
        raise FileNotFoundError("mvn and javac are needed for the Java client")
    version = subprocess.run([javac, "-version"], check=True, capture_output=True, text=True).stdout
    digest = hashlib.sha256(version.encode())
    sources = sorted((JAVA_SOURCE / "src").rglob("*.java"))
    for path in [JAVA_SOURCE / "pom.xml", *sources]:
        digest.update(str(path.relative_to(JAVA_SOURCE)).encode() + b"\0" + path.read_bytes())
    target = cache_root() / f"java-{digest.hexdigest()[:16]}"
    if not (target / "classpath.txt").is_file():
        with tempfile.TemporaryDirectory(dir=cache_root()) as tmp:
            out = Path(tmp) / "out"
            shutil.copytree(JAVA_SOURCE, Path(tmp) / "src")
            subprocess.run(
                [mvn, "-q", "-B", "dependency:build-classpath", f"-Dmdep.outputFile={out / 'classpath.txt'}"],
                cwd=Path(tmp) / "src",
                check=True,
                capture_output=True,
            )
            dependencies = (out / "classpath.txt").read_text().strip()
            subprocess.run(
                [javac, "-cp", dependencies, "-d", str(out / "classes"), *map(str, sources)],
                check=True,
                capture_output=True,
            )
            _move_into_place(out, target)
    return f"{(target / 'classpath.txt').read_text().strip()}:{target / 'classes'}"


def _move_into_place(built: Path, target: Path) -> None:
    try:
        built.rename(target)
    except OSError:
        if not target.exists():  # another run won the race otherwise
            raise
