"""The runtime's settings, read once from the ``WISP_*`` environment (docs/runtime-contract.md).

Names and defaults mirror ``wisp.api.contract`` on the platform side; the runtime cannot import
that package (it runs in a pod without it), so the two are kept in sync by the contract tests.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NamedTuple, TypeVar

EVENT_HEADER = "X-Wisp-Event"
REQUEST_ID_HEADER = "X-Wisp-Request-Id"
DEADLINE_HEADER = "X-Wisp-Deadline-Ms"
DURATION_HEADER = "X-Wisp-Duration-Ms"
ERROR_HEADER = "X-Wisp-Error"
THROTTLED_HEADER = "X-Wisp-Throttled"
# On an answer: its body is a stream (chunked, flushed as the handler produces it), limited by
# the Function's spec.streaming instead of its timeout and the gateway's response size limit.
STREAM_HEADER = "X-Wisp-Stream"
# Lambda's optional invocation facts, base64-encoded JSON (as Lambda's Invoke API takes them).
CLIENT_CONTEXT_HEADER = "X-Wisp-Client-Context"
IDENTITY_HEADER = "X-Wisp-Identity"
# "1": the handler's return value is the answer, as JSON, never shaped into an HTTP response
# (Lambda's Invoke API returns the payload itself).
RAW_RESULT_HEADER = "X-Wisp-Raw-Result"
# "1": the answer carries the call's log lines too (base64 of their last 4 KB, same header).
LOG_TAIL_HEADER = "X-Wisp-Log-Tail"
# Every request header starting with this is wisp's own and never reaches a handler.
WISP_HEADER_PREFIX = "x-wisp-"

# Values of ERROR_HEADER.
ERROR_UNHANDLED = "Unhandled"
ERROR_TIMEOUT = "Timeout"

HEALTH_PATH = "/healthz"
LIVENESS_PATH = "/livez"
METRICS_PATH = "/metrics"

# The runtime announces itself on stdout with this ``event`` field once it listens, so a local
# launcher learns the bound port and the handler's state without polling.
LISTENING_EVENT = "wisp.runtime.listening"

# Where a container's last words go: the kubelet shows this file's text as the terminated
# container's ``message`` in the pod's status (the Kubernetes default terminationMessagePath).
TERMINATION_LOG = "/dev/termination-log"


class SettingsError(ValueError):
    """An environment variable the runtime cannot use."""


class Settings(NamedTuple):
    function_name: str = "function"
    function_namespace: str = "default"
    function_version: str = "$LATEST"  # a published version's number (WISP_FUNCTION_VERSION)
    handler: str = ""
    code_dir: str = "/var/wisp/code"
    deps_dir: str = "/tmp/wisp-deps"
    # Lambda's layout (docs/lambda.md): layers' contents under /opt (``python/`` on sys.path),
    # and the AWS SDK the image ships, last on sys.path so a function's own copy wins.
    layers_dir: str = "/opt"
    aws_sdk_dir: str = ""
    timeout: float = 30.0
    memory_mb: int = 256
    concurrency: int = 100
    max_body_bytes: int = 6 * 1024 * 1024
    stack_traces: bool = False
    host: str = "0.0.0.0"
    port: int = 8080
    # Lambda parity (docs/lambda.md): the region reported to handlers and in ARNs, and the ARN's
    # account part (empty: the function's namespace).
    region: str = "us-east-1"
    account_id: str = ""
    # In a pod: a handler that fails to load ends the runtime (exit 1, the reason in the pod's
    # termination message), so the kubelet restarts it and the pod's status says why. Elsewhere
    # (``wisp dev``) the runtime stays up and ``/healthz`` says why.
    exit_on_load_failure: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        base = cls()
        return cls(
            function_name=env.get("WISP_FUNCTION_NAME", base.function_name),
            function_namespace=env.get("WISP_FUNCTION_NAMESPACE", base.function_namespace),
            function_version=env.get("WISP_FUNCTION_VERSION") or base.function_version,
            handler=env.get("WISP_HANDLER", "").strip(),
            # Absolute: the runtime changes into the code dir before importing from it.
            code_dir=os.path.abspath(env.get("WISP_CODE_DIR", base.code_dir)),
            deps_dir=os.path.abspath(env.get("WISP_DEPS_DIR", base.deps_dir)),
            layers_dir=os.path.abspath(env.get("WISP_LAYERS_DIR") or base.layers_dir),
            aws_sdk_dir=env.get("WISP_AWS_SDK_DIR", "").strip(),
            timeout=_number(env, "WISP_TIMEOUT_SECONDS", base.timeout, float, minimum=0.001),
            memory_mb=_number(env, "WISP_MEMORY_MB", base.memory_mb, int, minimum=1),
            concurrency=_number(env, "WISP_CONCURRENCY", base.concurrency, int, minimum=1),
            max_body_bytes=_number(env, "WISP_MAX_BODY_BYTES", base.max_body_bytes, int, minimum=0),
            stack_traces=_flag(env, "WISP_STACK_TRACES"),
            host=env.get("WISP_HOST", base.host),
            port=_number(env, "WISP_PORT", base.port, int, minimum=0),
            region=(env.get("WISP_REGION") or env.get("AWS_REGION") or base.region).strip(),
            account_id=env.get("WISP_ACCOUNT_ID", "").strip(),
            exit_on_load_failure=_flag(env, "WISP_EXIT_ON_LOAD_FAILURE"),
        )

    @property
    def account(self) -> str:
        """The account part of the function's ARN: the configured id, else the namespace."""
        return self.account_id or self.function_namespace


T = TypeVar("T", int, float)


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "false").strip().lower() in ("1", "true", "yes")


def _number(env: Mapping[str, str], name: str, default: T, kind: type[T], *, minimum: T) -> T:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a valid {kind.__name__}") from None
    if value < minimum:
        raise SettingsError(f"{name}={raw!r} must be at least {minimum}")
    return value
