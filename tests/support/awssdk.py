"""The AWS SDK for Python, for tests that call wisp the way Lambda users' code calls Lambda.

Not a dependency of wisp: installed from PyPI at a pinned version on first use, into
``~/.cache/wisp/sdk/boto3-<version>-py<X.Y>/`` (``pip install --target``), and put at the end
of ``sys.path`` so that it never shadows the project's own packages.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

BOTO3_VERSION = "1.35.99"
PACKAGES = (f"boto3=={BOTO3_VERSION}", f"botocore=={BOTO3_VERSION}", "jmespath==1.0.1", "s3transfer==0.10.4")


def boto3_path() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "wisp" / "sdk"
    base.mkdir(parents=True, exist_ok=True)
    major, minor = sys.version_info[:2]
    target = base / f"boto3-{BOTO3_VERSION}-py{major}.{minor}"
    if not (target / "boto3").is_dir():
        with tempfile.TemporaryDirectory(dir=base) as tmp:
            built = Path(tmp) / "site"
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--no-deps",
                    "--target",
                    str(built),
                    *PACKAGES,
                ],
                check=True,
                capture_output=True,
            )
            try:
                built.rename(target)
            except OSError:
                if not (target / "boto3").is_dir():  # another run won the race otherwise
                    raise
    if str(target) not in sys.path:
        sys.path.append(str(target))
    return target
