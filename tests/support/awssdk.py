"""The AWS SDKs, for tests that call wisp the way Lambda users' code calls Lambda.

Not dependencies of wisp: installed at pinned versions on first use and cached under
``~/.cache/wisp/sdk/``. The SDK for Python from PyPI (``pip install --target``), put at the
end of ``sys.path`` so that it never shadows the project's own packages; the SDK for
JavaScript v3's Lambda client from npm, run by ``node`` from ``JS_INVOKE`` below.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

BOTO3_VERSION = "1.35.99"
CLIENT_LAMBDA_VERSION = "3.1178.0"
NPM_INSTALL = ("npm", "install", "--no-audit", "--no-fund", "--silent")
ROOT = Path(__file__).resolve().parents[2]
PYTHON_IMAGE_SDK = ROOT / "runtime-images" / "python" / "aws-sdk-requirements.txt"
NODE_IMAGE_SDK = ROOT / "runtime-images" / "node" / "aws-sdk"
PACKAGES = (f"boto3=={BOTO3_VERSION}", f"botocore=={BOTO3_VERSION}", "jmespath==1.0.1", "s3transfer==0.10.4")


def _cache() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "wisp" / "sdk"
    base.mkdir(parents=True, exist_ok=True)
    return base


def boto3_path() -> Path:
    base = _cache()
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


# Invokes with @aws-sdk/client-lambda; argv[2]: JSON {endpoint, keyId, secret, request}; prints
# the answer with the payload decoded as text.
JS_INVOKE = """
const { LambdaClient, InvokeCommand } = require('@aws-sdk/client-lambda');
const options = JSON.parse(process.argv[2]);
const client = new LambdaClient({
  endpoint: options.endpoint, region: 'us-east-1', maxAttempts: 1,
  credentials: { accessKeyId: options.keyId, secretAccessKey: options.secret },
});
const request = { ...options.request, Payload: Buffer.from(options.request.Payload || '') };
client.send(new InvokeCommand(request)).then(
  (out) => console.log(JSON.stringify({ StatusCode: out.StatusCode, FunctionError: out.FunctionError,
    ExecutedVersion: out.ExecutedVersion, Payload: Buffer.from(out.Payload || []).toString('utf8') })),
  (err) => console.log(JSON.stringify({ error: err.name,
    status: err.$metadata && err.$metadata.httpStatusCode })),
);
"""


def client_lambda_dir() -> Path:
    """A directory whose ``node_modules`` holds @aws-sdk/client-lambda (from npm, once)."""
    target = _cache() / f"client-lambda-{CLIENT_LAMBDA_VERSION}"
    if (target / "node_modules" / "@aws-sdk" / "client-lambda").is_dir():
        return target
    with tempfile.TemporaryDirectory(dir=_cache()) as tmp:
        built = Path(tmp) / "js"
        built.mkdir()
        subprocess.run(
            [*NPM_INSTALL, "--prefix", str(built), f"@aws-sdk/client-lambda@{CLIENT_LAMBDA_VERSION}"],
            check=True,
            capture_output=True,
        )
        (built / "invoke.js").write_text(JS_INVOKE)
        try:
            built.rename(target)
        except OSError:
            if not (target / "node_modules").is_dir():
                raise
    return target


def js_invoke_command(endpoint: str, key_id: str, secret: str, request: Mapping[str, object]) -> list[str]:
    """The command that invokes with the SDK for JavaScript; it prints one JSON line."""
    script = client_lambda_dir() / "invoke.js"
    options = {"endpoint": endpoint, "keyId": key_id, "secret": secret, "request": dict(request)}
    return ["node", str(script), json.dumps(options)]


def _built_once(target: Path, build: Callable[[Path], None]) -> Path:
    """``target``, built by ``build(into)`` into a fresh directory first if it is not there yet."""
    if target.is_dir():
        return target
    with tempfile.TemporaryDirectory(dir=_cache()) as tmp:
        built = Path(tmp) / "out"
        build(built)
        try:
            built.rename(target)
        except OSError:
            if not target.is_dir():  # another run won the race otherwise
                raise
    return target


def image_python_sdk() -> Path:
    """The AWS SDK for Python exactly as the Python runtime image installs it (its hashed
    requirements, ``pip install --target``): what ``WISP_AWS_SDK_DIR`` names in the image."""
    digest = hashlib.sha256(PYTHON_IMAGE_SDK.read_bytes()).hexdigest()[:12]

    def build(into: Path) -> None:
        command = [sys.executable, "-m", "pip", "install", "-q", "--require-hashes", "--no-deps"]
        command += ["--target", str(into), "-r", str(PYTHON_IMAGE_SDK)]
        subprocess.run(command, check=True, capture_output=True)

    return _built_once(_cache() / f"image-sdk-python-{digest}", build)


def image_node_sdk() -> Path:
    """The node_modules of the AWS SDK for JavaScript v3 exactly as the Node.js runtime image
    installs it (``npm ci`` from its lock): what ``WISP_AWS_SDK_DIR`` names in the image."""
    lock = NODE_IMAGE_SDK / "package-lock.json"
    digest = hashlib.sha256(lock.read_bytes()).hexdigest()[:12]

    def build(into: Path) -> None:
        into.mkdir()
        for name in ("package.json", "package-lock.json"):
            shutil.copy(NODE_IMAGE_SDK / name, into / name)
        command = ["npm", "ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund", "--silent"]
        subprocess.run(command, cwd=into, check=True, capture_output=True)

    return _built_once(_cache() / f"image-sdk-node-{digest}", build) / "node_modules"
