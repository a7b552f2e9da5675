"""The AWS SDK for ``wisp dev``'s functions, as Lambda's runtimes and wisp's images carry it.

Lambda's Python runtimes have boto3 and its Node.js runtimes the AWS SDK for JavaScript v3, so
Lambda code imports them without listing them; wisp's images carry the same, locked
(``runtime-images/python/aws-sdk-requirements.txt``, ``runtime-images/node/aws-sdk``). Locally a
function that uses the SDK gets that same locked copy: installed once, the first time a function
needs it, into ``<cache>/aws-sdk/<language>-<digest of the lock>`` (pip with the lock's hashes, or
``npm ci``), and given to the runtime as ``WISP_AWS_SDK_DIR``, after the function's own
dependencies, as in a pod (a function's own copy wins). Functions that never name the SDK pay
nothing; ``WISP_DEV_AWS_SDK=0`` turns it off.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

from wisp.launcher import LaunchError, base_environment, python_for, runtime_images_dir

LogSink = Callable[[str], None] | None

# What in a function's code means it uses the SDK (an import of it, in any of the usual forms).
_USES = {
    "python": re.compile(
        # "from boto3.x import y", or "import boto3" with other names before it ("import a, boto3")
        rb"^[ \t]*(?:from[ \t]+(?:boto3|botocore)\b"
        rb"|import[ \t]+(?:[\w.]+(?:[ \t]+as[ \t]+\w+)?[ \t]*,[ \t]*)*(?:boto3|botocore)\b)",
        re.M,
    ),
    "node": re.compile(rb"""(?:require\s*\(\s*|from\s+|import\s*\(\s*)['"]@aws-sdk/"""),
}
_SUFFIXES = {"python": (".py",), "node": (".js", ".mjs", ".cjs")}
_SKIP_DIRS = {"node_modules", ".venv", "venv", "__pycache__", ".git", "target"}
_MAX_FILES = 2000  # a folder this large is scanned no further
_MAX_BYTES = 1 << 20  # nor is a file this large

_locks: dict[Path, asyncio.Lock] = {}


def enabled() -> bool:
    return os.environ.get("WISP_DEV_AWS_SDK", "1").strip().lower() not in ("0", "false", "no", "off")


def _sources(code_dir: Path, suffixes: tuple[str, ...]) -> Iterator[Path]:
    seen = 0
    for root, dirs, files in os.walk(code_dir):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
        for name in files:
            if name.endswith(suffixes):
                seen += 1
                if seen > _MAX_FILES:
                    return
                yield Path(root) / name


def uses_sdk(language: str, code_dir: Path) -> bool:
    """Whether code in ``code_dir`` imports the AWS SDK of ``language`` (python or node)."""
    pattern = _USES.get(language)
    if pattern is None:
        return False
    for path in _sources(code_dir, _SUFFIXES[language]):
        try:
            if path.stat().st_size <= _MAX_BYTES and pattern.search(path.read_bytes()):
                return True
        except OSError:
            continue
    return False


def _lock_files(language: str) -> list[Path]:
    images = runtime_images_dir()
    if language == "python":
        return [images / "python" / "aws-sdk-requirements.txt"]
    return [images / "node" / "aws-sdk" / "package.json", images / "node" / "aws-sdk" / "package-lock.json"]


def sdk_dir(language: str, cache_dir: Path) -> Path:
    """Where the locked SDK of ``language`` is installed (whether or not it is yet)."""
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in _lock_files(language))).hexdigest()[:16]
    target = cache_dir / "aws-sdk" / f"{language}-{digest}"
    return target / "node_modules" if language == "node" else target


async def ensure(language: str, python_version: str, cache_dir: Path, log_sink: LogSink = None) -> Path:
    """The SDK's directory for ``WISP_AWS_SDK_DIR``, installed first if it is not yet (once for
    every function that asks at the same time). Raises ``LaunchError`` if the install fails."""
    wanted = sdk_dir(language, cache_dir)
    root = wanted.parent if language == "node" else wanted
    lock = _locks.setdefault(root, asyncio.Lock())
    async with lock:
        if wanted.is_dir():
            return wanted
        staging = root.with_name(root.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        if log_sink is not None:
            what = "boto3" if language == "python" else "the AWS SDK for JavaScript v3"
            log_sink(f"installing {what} once, from its lock, as Lambda's runtime carries it ({root})")
        if language == "python":
            (requirements,) = _lock_files(language)
            command = [
                python_for(python_version),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ]
            command += ["--require-hashes", "--no-deps", "--target", str(staging), "-r", str(requirements)]
        else:
            for path in _lock_files(language):
                shutil.copy(path, staging / path.name)
            command = ["npm", "ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund", "--silent"]
        await _run(command, staging, log_sink)
        shutil.rmtree(root, ignore_errors=True)
        staging.rename(root)
        return wanted


async def _run(command: list[str], cwd: Path, log_sink: LogSink) -> None:
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=str(cwd),
            env=base_environment(install=True),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
    except OSError as exc:
        raise LaunchError(f"installing the AWS SDK: cannot run {command[0]}: {exc}") from None
    output, _ = await process.communicate()
    if process.returncode != 0:
        lines = output.decode(errors="replace").strip().splitlines()
        if log_sink is not None:
            for line in lines[-20:]:
                log_sink(line)
        tail = lines[-1] if lines else ""
        raise LaunchError(f"installing the AWS SDK failed (exit {process.returncode}): {tail}")
