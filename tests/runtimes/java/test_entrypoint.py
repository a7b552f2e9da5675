"""The Java image's entrypoint (runtime-images/java/entrypoint.sh): Lambda's reserved environment
variables, which a JVM cannot set for itself, then the runtime with the shipped flags.

Run here as the image runs it, with ``WISP_JAVA_DIR`` pointing at a folder laid out as the
image's ``/opt/wisp``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.runtimes.java.javabuild import JAVA_DIR
from tests.runtimes.java.process import JavaRuntime, start_runtime

pytestmark = pytest.mark.java

ENTRYPOINT = JAVA_DIR / "entrypoint.sh"


@pytest.fixture
def image_dir(java_build: tuple[Path, Path | None], tmp_path: Path) -> Path:
    """A folder shaped like the image's /opt/wisp (the archive is left out: it is only valid
    beside the jar it was made with, and the runtime starts without it)."""
    opt = tmp_path / "opt-wisp"
    opt.mkdir()
    (opt / "jvm.options").symlink_to(JAVA_DIR / "jvm.options")
    (opt / "wisp-runtime.jar").symlink_to(java_build[0])
    return opt


def fake_java(tmp_path: Path) -> dict[str, str]:
    """A PATH whose ``java`` writes its arguments and environment to ``java.json``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    java = bin_dir / "java"
    out = tmp_path / "java.json"
    java.write_text(
        "#!/usr/bin/env python3\n"
        "import json, os, sys\n"
        f"with open({str(out)!r}, 'w') as out:\n"
        "    json.dump({'args': sys.argv[1:], 'env': dict(os.environ)}, out)\n"
    )
    java.chmod(0o755)
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}"}


def run_entrypoint(tmp_path: Path, env: dict[str, str]) -> dict[str, object]:
    base = {"PATH": os.environ["PATH"], "HOSTNAME": "orders-7d9f-abcde"}
    subprocess.run(
        ["sh", str(ENTRYPOINT)], env={**base, **env, **fake_java(tmp_path)}, check=True, timeout=30
    )
    result: dict[str, object] = json.loads((tmp_path / "java.json").read_text())
    return result


def test_lambda_variables_from_the_wisp_settings(tmp_path: Path) -> None:
    run = run_entrypoint(
        tmp_path,
        {
            "WISP_FUNCTION_NAME": "orders",
            "WISP_MEMORY_MB": "512",
            "WISP_HANDLER": "example.Handler::handleRequest",
            "WISP_CODE_DIR": "/var/wisp/code",
            "WISP_REGION": "eu-west-1",
            "WISP_JAVA_FEATURE": "21",
            "WISP_JAVA_DIR": "/opt/wisp",
            "WISP_JAVA_OPTS": "-XX:TieredStopAtLevel=4 -Xss512k",
        },
    )

    env = run["env"]
    assert isinstance(env, dict)
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_java21"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "orders"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/orders"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\]orders-7d9f-abcde", env["AWS_LAMBDA_LOG_STREAM_NAME"])
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert env["_HANDLER"] == "example.Handler::handleRequest"
    assert env["LAMBDA_TASK_ROOT"] == "/var/wisp/code"
    assert env["LAMBDA_RUNTIME_DIR"] == "/opt/wisp"
    assert env["TZ"] == ":UTC"
    assert run["args"] == [
        "@/opt/wisp/jvm.options",
        "-XX:SharedArchiveFile=/opt/wisp/wisp-runtime.jsa",
        "-XX:TieredStopAtLevel=4",
        "-Xss512k",
        "-jar",
        "/opt/wisp/wisp-runtime.jar",
    ]


def test_a_published_versions_variables_name_it(tmp_path: Path) -> None:
    """Version 3's pods (docs/releases.md): Lambda's version variable and log stream say 3."""
    env = run_entrypoint(tmp_path, {"WISP_FUNCTION_NAME": "orders", "WISP_FUNCTION_VERSION": "3"})["env"]

    assert isinstance(env, dict)
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "orders"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "3"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[3\]orders-7d9f-abcde", env["AWS_LAMBDA_LOG_STREAM_NAME"])
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/orders"  # one group for every version


def test_the_functions_own_region_and_zone_are_kept(tmp_path: Path) -> None:
    env = run_entrypoint(tmp_path, {"AWS_REGION": "ap-south-1", "TZ": "Europe/Paris"})["env"]

    assert isinstance(env, dict)
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "ap-south-1"
    assert env["TZ"] == "Europe/Paris"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "function"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"


def test_an_aot_cache_is_used_where_the_image_made_one(tmp_path: Path) -> None:
    """A JDK 25+ image makes an AOT cache instead of the AppCDS archive (Dockerfile)."""
    opt = tmp_path / "opt-wisp"
    opt.mkdir()
    (opt / "wisp-runtime.aot").write_bytes(b"")
    args = run_entrypoint(tmp_path, {"WISP_JAVA_DIR": str(opt)})["args"]

    assert isinstance(args, list)
    assert args[:2] == [f"@{opt}/jvm.options", f"-XX:AOTCache={opt}/wisp-runtime.aot"]


def jdk_25() -> Path | None:
    """A JDK 25+ here: WISP_JAVA_25's, else the newest of /usr/lib/jvm from 25 on."""
    configured = os.environ.get("WISP_JAVA_25")
    if configured:
        return Path(configured).resolve().parent
    homes = sorted(
        (p for p in Path("/usr/lib/jvm").glob("*") if re.search(r"(?:^|-)(2[5-9]|[3-9]\d)(?:-|$)", p.name)),
        key=lambda p: p.name,
    )
    homes = [p for p in homes if (p / "bin" / "java").is_file()]
    return homes[-1] / "bin" if homes else None


@pytest.fixture
def aot_image_dir(image_dir: Path) -> tuple[Path, Path]:
    """The image's /opt/wisp on JDK 25 with the AOT cache its Dockerfile makes (same command)."""
    jdk_bin = jdk_25()
    if jdk_bin is None:
        pytest.skip("no JDK 25 here (WISP_JAVA_25, /usr/lib/jvm)")
    subprocess.run(
        [
            str(jdk_bin / "java"),
            f"@{image_dir / 'jvm.options'}",
            f"-XX:AOTCacheOutput={image_dir / 'wisp-runtime.aot'}",
            "-jar",
            str(image_dir / "wisp-runtime.jar"),
            "--train",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        timeout=120,
    )
    return image_dir, jdk_bin


def test_the_runtime_starts_from_its_aot_cache_on_jdk_25(
    aot_image_dir: tuple[Path, Path], aws_handlers: Callable[[str], Path], tmp_path: Path
) -> None:
    """With -XX:AOTMode=on a cache the JVM cannot use ends the start: this one is used."""
    opt, jdk_bin = aot_image_dir
    code = tmp_path / "code"
    code.mkdir()
    (code / "handlers.jar").symlink_to(aws_handlers("basic"))
    env = {
        "PATH": f"{jdk_bin}:{os.environ['PATH']}",
        "WISP_JAVA_DIR": str(opt),
        "WISP_HANDLER": "example.Handler",
        "WISP_CODE_DIR": str(code),
        "WISP_JAVA_FEATURE": "25",
        "WISP_MEMORY_MB": "256",
        "WISP_JAVA_OPTS": "-XX:AOTMode=on",
    }
    runtime = start_runtime(["sh", str(ENTRYPOINT)], env, tmp_path / "stderr.log")
    try:
        reply = runtime.invoke({})
        assert reply.status == 200, reply.body
    finally:
        runtime.stop()


def test_defaults_without_any_setting(tmp_path: Path) -> None:
    env = run_entrypoint(tmp_path, {})["env"]

    assert isinstance(env, dict)
    assert env["AWS_REGION"] == "us-east-1"
    assert env["LAMBDA_TASK_ROOT"] == "/var/wisp/code"


@pytest.fixture(params=["", "3"], ids=["the function's own pod", "version 3's pod"])
def through_entrypoint(
    image_dir: Path, aws_handlers: Callable[[str], Path], tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[JavaRuntime, str]]:
    """The runtime started by the entrypoint, and the published version it serves (or "")."""
    version: str = request.param
    code = tmp_path / "code"
    code.mkdir()
    (code / "handlers.jar").symlink_to(aws_handlers("basic"))
    env = {
        "WISP_JAVA_DIR": str(image_dir),
        "WISP_HANDLER": "example.Handler",
        "WISP_CODE_DIR": str(code),
        "WISP_FUNCTION_NAME": "java-basic",
        "WISP_MEMORY_MB": "384",
        "WISP_JAVA_FEATURE": "17",
        "HOSTNAME": "java-basic-pod",
        **({"WISP_FUNCTION_VERSION": version} if version else {}),
    }
    runtime = start_runtime(["sh", str(ENTRYPOINT)], env, tmp_path / "stderr.log")
    yield runtime, version
    runtime.stop()


def test_the_java_basic_sample_sees_lambdas_environment(through_entrypoint: tuple[JavaRuntime, str]) -> None:
    """AWS's java-basic Handler logs System.getenv() and the context: both as on Lambda, in a
    published version's pods too (its number, the ARN qualified with it)."""
    runtime, version = through_entrypoint
    reply = runtime.invoke({}, headers={"X-Wisp-Request-Id": "req-env-1"})

    assert reply.status == 200
    messages = [r["message"] for r in runtime.records() if r.get("requestId") == "req-env-1"]
    env = json.loads(next(m for m in messages if m.startswith("ENVIRONMENT")).split(": ", 1)[1])
    context = json.loads(next(m for m in messages if m.startswith("CONTEXT")).split(": ", 1)[1])
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == context["functionName"] == "java-basic"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "384"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_java17"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"] == context["logStreamName"]
    expected = version or "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == context["functionVersion"] == expected
    assert context["logStreamName"].endswith(f"[{expected}]java-basic-pod")
    qualifier = f":{version}" if version else ""
    assert context["invokedFunctionArn"] == f"arn:aws:lambda:us-east-1:default:function:java-basic{qualifier}"
