"""``python -m wisp_runtime.deps``: the init step that installs a function's dependencies.

If ``requirements.txt`` is in ``WISP_CODE_DIR``, ``pip install --target`` puts its packages in
``WISP_DEPS_DIR`` (the runtime adds that directory to ``sys.path``). Binary wheels, native
libraries included, work as they would in a virtualenv. The install goes to a sibling
directory first and replaces ``WISP_DEPS_DIR`` only when it succeeded; a stamp with the hash of
``requirements.txt`` lets a repeated run (``wisp dev`` restarting a function) skip the install.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys

from wisp_runtime.config import Settings, SettingsError
from wisp_runtime.logs import LogWriter

STAMP = ".wisp-requirements.sha256"


def requirements_digest(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def install(code_dir: str, deps_dir: str, log: LogWriter) -> int:
    requirements = os.path.join(code_dir, "requirements.txt")
    if not os.path.isfile(requirements):
        log.log("INFO", "no requirements.txt: nothing to install")
        return 0
    digest = requirements_digest(requirements)
    stamp = os.path.join(deps_dir, STAMP)
    if os.path.isfile(stamp):
        with open(stamp, encoding="utf-8") as handle:
            if handle.read().strip() == digest:
                log.log("INFO", f"dependencies already installed in {deps_dir}")
                return 0
    staging = f"{deps_dir.rstrip('/')}.staging-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--target",
        staging,
        "--requirement",
        requirements,
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
    ]
    log.log("INFO", f"installing {requirements} into {deps_dir}", command=command)
    result = subprocess.run(command, check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in result.stdout.splitlines():
        if line.strip():
            log.log("INFO" if result.returncode == 0 else "ERROR", line, stream="pip")
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        log.log("ERROR", f"pip install failed with exit code {result.returncode}")
        return result.returncode
    with open(os.path.join(staging, STAMP), "w", encoding="utf-8") as handle:
        handle.write(digest + "\n")
    replace_dir(staging, deps_dir)
    log.log("INFO", f"dependencies installed in {deps_dir}")
    return 0


def replace_dir(staging: str, target: str) -> None:
    """Makes ``target`` hold what ``staging`` holds, even if ``target`` is a mount point."""
    shutil.rmtree(target, ignore_errors=True)  # a mount point keeps existing, emptied
    try:
        os.rename(staging, target)
        return
    except OSError:
        pass
    os.makedirs(target, exist_ok=True)
    for name in os.listdir(staging):
        shutil.move(os.path.join(staging, name), os.path.join(target, name))
    os.rmdir(staging)


def main() -> int:
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"invalid configuration: {exc}", file=sys.stderr)
        return 2
    log = LogWriter(settings.function_name)
    return install(settings.code_dir, settings.deps_dir, log)


if __name__ == "__main__":
    raise SystemExit(main())
