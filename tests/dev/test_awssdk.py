"""The AWS SDK for ``wisp dev``'s functions (wisp.dev.awssdk): which code counts as using it, and
a function that imports it answering with the locked version, installed once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.dev.process import WispDev
from wisp.dev import awssdk
from wisp.launcher import runtime_images_dir

USES = [
    # language, file, content, uses the SDK
    ("python", "main.py", "import boto3\n", True),
    ("python", "main.py", "import json, boto3\n", True),
    ("python", "main.py", "import os.path as p, botocore.session\n", True),
    ("python", "app/db.py", "from botocore.config import Config\n", True),
    ("python", "main.py", "    import boto3  # lazily\n", True),
    ("python", "main.py", "# we used to import boto3\nx = 'boto3'\n", False),
    ("python", "main.py", "import boto3_helpers\n", False),
    ("python", "README.md", "import boto3\n", False),
    ("python", "node_modules/x.py", "import boto3\n", False),
    ("node", "index.js", "const { S3Client } = require('@aws-sdk/client-s3');\n", True),
    ("node", "index.mjs", 'import { DynamoDBClient } from "@aws-sdk/client-dynamodb";\n', True),
    ("node", "lib/lazy.cjs", "const sdk = await import('@aws-sdk/client-sqs');\n", True),
    ("node", "index.js", "// see @aws-sdk/client-s3\nconst s = '@aws-sdk/client-s3';\n", False),
    ("node", "node_modules/a/index.js", "require('@aws-sdk/client-s3')\n", False),
    ("java", "Main.java", "import software.amazon.awssdk.services.s3.S3Client;\n", False),
]


@pytest.mark.parametrize(("language", "name", "content", "expected"), USES)
def test_which_code_uses_the_sdk(
    tmp_path: Path, language: str, name: str, content: str, expected: bool
) -> None:
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / name).write_text(content)
    assert awssdk.uses_sdk(language, tmp_path) is expected


def test_the_install_is_keyed_by_the_lock(tmp_path: Path) -> None:
    python = awssdk.sdk_dir("python", tmp_path)
    node = awssdk.sdk_dir("node", tmp_path)
    assert python.parent == tmp_path / "aws-sdk" and python.name.startswith("python-")
    assert node.name == "node_modules" and node.parent.name.startswith("node-")
    assert (runtime_images_dir() / "python" / "aws-sdk-requirements.txt").is_file()


def test_off_by_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WISP_DEV_AWS_SDK", "0")
    assert not awssdk.enabled()
    monkeypatch.delenv("WISP_DEV_AWS_SDK")
    assert awssdk.enabled()


FUNCTIONS = {
    "sdk-python.yaml": """\
apiVersion: wisp.dev/v1alpha1
kind: Function
metadata: {name: sdk-python}
spec:
  runtime: python3.11
  handler: main.handler
  code:
    inline: |
      import boto3, botocore

      def handler(event, context):
          s3 = boto3.client("s3", region_name="eu-west-1")
          return {"boto3": boto3.__version__, "botocore": botocore.__version__,
                  "region": s3.meta.region_name, "from": boto3.__file__}
""",
    "sdk-node.yaml": """\
apiVersion: wisp.dev/v1alpha1
kind: Function
metadata: {name: sdk-node}
spec:
  runtime: nodejs22
  handler: index.handler
  code:
    inline: |
      const { S3Client } = require('@aws-sdk/client-s3');
      exports.handler = async () => {
        const s3 = new S3Client({ region: 'eu-west-1' });
        return { region: await s3.config.region(), from: require.resolve('@aws-sdk/client-s3') };
      };
""",
    "plain.yaml": """\
apiVersion: wisp.dev/v1alpha1
kind: Function
metadata: {name: plain}
spec:
  runtime: python3.11
  handler: main.handler
  code:
    inline: |
      def handler(event, context):
          import importlib.util
          return {"boto3": importlib.util.find_spec("boto3") is not None}
""",
}


@pytest.mark.redis
def test_a_function_that_imports_the_sdk_gets_the_locked_one(tmp_path: Path) -> None:
    folder = tmp_path / "functions"
    folder.mkdir()
    for name, manifest in FUNCTIONS.items():
        (folder / name).write_text(manifest)
    # The SDK install is kept across test runs, as a user's is across wisp dev runs.
    cache = Path.home() / ".cache" / "wisp" / "test-dev-aws-sdk"
    dev = WispDev(folder, tmp_path / "wisp-dev.log", env={"WISP_DEV_CACHE": str(cache)})
    dev.start(timeout=600)
    try:
        locked = (runtime_images_dir() / "python" / "aws-sdk-requirements.txt").read_text()
        boto3 = re.search(r"^boto3==(\S+)", locked, re.M)
        assert boto3 is not None
        python = dev.call("/function/sdk-python", {}, timeout=600)
        assert python.status == 200, python.body
        assert python.json()["boto3"] == boto3.group(1)
        assert python.json()["region"] == "eu-west-1"
        assert python.json()["from"].startswith(str(cache / "aws-sdk"))
        node = dev.call("/function/sdk-node", {}, timeout=600)
        assert node.status == 200, node.body
        assert node.json()["region"] == "eu-west-1"
        assert node.json()["from"].startswith(str(cache / "aws-sdk"))
        # A function that does not import it is not given it (nor kept waiting for it).
        assert dev.call("/function/plain", {}).json() == {"boto3": False}
    finally:
        dev.stop()
