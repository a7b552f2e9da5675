"""What Lambda code expects of its process: the function's identity and the reserved variables.

``FunctionIdentity`` holds the per-process facts every ``context`` repeats (ARN, log names,
memory as Lambda's string); ``apply_environment`` puts Lambda's reserved environment variables
(``AWS_REGION``, ``AWS_LAMBDA_FUNCTION_NAME``, ``_HANDLER``, ``LAMBDA_TASK_ROOT``, ...) into
``os.environ`` before the handler module is imported, so module-level code (boto3 clients,
Powertools, Mangum) finds them. docs/lambda.md lists them with their values.
"""

from __future__ import annotations

import os
import sys
import time

from wisp_runtime.config import Settings

LATEST = "$LATEST"
# Set only when the function's own environment does not: a Function may name the region its
# AWS clients talk to, or its time zone.
_OVERRIDABLE = ("AWS_REGION", "AWS_DEFAULT_REGION", "TZ")


class FunctionIdentity:
    """A plain class: a NamedTuple costs a few hundred microseconds of every cold start."""

    __slots__ = ("arn", "log_group", "log_stream", "memory_mb", "name", "namespace", "version")

    def __init__(
        self,
        *,
        name: str,
        namespace: str,
        version: str,
        arn: str,
        memory_mb: str,
        log_group: str,
        log_stream: str,
    ) -> None:
        self.name = name
        self.namespace = namespace
        self.version = version
        self.arn = arn
        self.memory_mb = memory_mb
        self.log_group = log_group
        self.log_stream = log_stream


def function_identity(settings: Settings, now: float, host: str) -> FunctionIdentity:
    """``now`` (epoch seconds) dates the log stream, named after ``host`` (the pod) as Lambda
    names it after the execution environment."""
    name = settings.function_name
    version = settings.function_version or LATEST
    day = time.strftime("%Y/%m/%d", time.gmtime(now))
    qualified = name if version == LATEST else f"{name}:{version}"
    return FunctionIdentity(
        name=name,
        namespace=settings.function_namespace,
        version=version,
        arn=f"arn:aws:lambda:{settings.region}:{settings.account}:function:{qualified}",
        memory_mb=str(settings.memory_mb),
        log_group=f"/aws/lambda/{name}",
        log_stream=f"{day}/[{version}]{host}",
    )


def lambda_environment(settings: Settings, identity: FunctionIdentity) -> dict[str, str]:
    """Lambda's reserved variables for this function (docs/lambda.md)."""
    runtime_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    major, minor = sys.version_info[:2]
    return {
        "AWS_REGION": settings.region,
        "AWS_DEFAULT_REGION": settings.region,
        "TZ": ":UTC",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_python{major}.{minor}",
        "AWS_LAMBDA_FUNCTION_NAME": identity.name,
        "AWS_LAMBDA_FUNCTION_VERSION": identity.version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": identity.memory_mb,
        "AWS_LAMBDA_LOG_GROUP_NAME": identity.log_group,
        "AWS_LAMBDA_LOG_STREAM_NAME": identity.log_stream,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "_HANDLER": settings.handler,
        "LAMBDA_TASK_ROOT": settings.code_dir,
        "LAMBDA_RUNTIME_DIR": runtime_dir,
    }


def apply_environment(variables: dict[str, str]) -> None:
    environ = os.environ
    for name, value in variables.items():
        if name in _OVERRIDABLE:
            environ.setdefault(name, value)
        else:
            environ[name] = value
    if hasattr(time, "tzset"):
        time.tzset()  # TZ is read at start; make time.localtime() follow the value now set
