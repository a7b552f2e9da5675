"""The runtime contract's configuration, in one place (see docs/runtime-contract.md).

The Deployment builder and the local launcher (``wisp dev``, the tests' node agent) both derive
a runtime's environment from a Function here, so a function runs the same in both.
"""

from __future__ import annotations

from wisp.api.function import Function
from wisp.api.logconfig import logging_environment
from wisp.api.version import published_as

PORT = 8080
CODE_DIR = "/var/wisp/code"
DEPS_DIR = "/tmp/wisp-deps"
# A pod without a code volume has its code here: a JSON object of file name to content (flat
# names, as a warm pool specialisation carries), which the runtime writes under /tmp at start and
# takes out of the function's environment.
CODE_ENV = "WISP_CODE"
DEFAULT_MAX_BODY_BYTES = 6 * 1024 * 1024

HEALTH_PATH = "/healthz"
LIVENESS_PATH = "/livez"
METRICS_PATH = "/metrics"

# Headers between the gateway and a runtime.
EVENT_HEADER = "X-Wisp-Event"
REQUEST_ID_HEADER = "X-Wisp-Request-Id"
DEADLINE_HEADER = "X-Wisp-Deadline-Ms"
DURATION_HEADER = "X-Wisp-Duration-Ms"
ERROR_HEADER = "X-Wisp-Error"
THROTTLED_HEADER = "X-Wisp-Throttled"
# When an async or queued event was first written to its stream (epoch ms): the start of the
# "queue wait" span. Between the queue's consumers and the gateway only; never sent to a runtime.
ENQUEUED_HEADER = "X-Wisp-Enqueued-Ms"
# On an answer: its body is a stream (chunked, flushed as the handler produces it), limited by
# the Function's spec.streaming instead of its timeout and the gateway's response size limit.
STREAM_HEADER = "X-Wisp-Stream"

# The JSON log line (its ``event`` field) a runtime prints once it listens, with ``port`` and
# ``handlerLoaded``: how the local launcher learns readiness without polling.
LISTENING_EVENT = "wisp.runtime.listening"


def runtime_environment(
    fn: Function,
    *,
    code_dir: str = CODE_DIR,
    deps_dir: str = DEPS_DIR,
    port: int = PORT,
    host: str = "0.0.0.0",
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    region: str = "",
    account_id: str = "",
    exit_on_load_failure: bool = False,
) -> dict[str, str]:
    """The ``WISP_*`` variables a runtime server reads, for this Function. ``region`` and
    ``account_id`` are the installation's (Lambda's ARN and ``AWS_REGION``), set only when it
    has them: the runtime's defaults are the Function's own ``AWS_REGION`` or ``us-east-1``,
    and the namespace. ``exit_on_load_failure``: in a pod, a handler that fails to load ends the
    runtime (the kubelet restarts it; its termination message says why); elsewhere it stays up
    and ``/healthz`` says why."""
    spec = fn.spec
    lambda_env = {"WISP_REGION": region, "WISP_ACCOUNT_ID": account_id}
    name, version = published_as(fn.name) if fn.kind == "FunctionVersion" else (fn.name, "")
    return {
        "WISP_FUNCTION_NAME": name,
        **({"WISP_FUNCTION_VERSION": version} if version else {}),
        "WISP_FUNCTION_NAMESPACE": fn.namespace,
        "WISP_HANDLER": spec.handler,
        "WISP_CODE_DIR": code_dir,
        "WISP_DEPS_DIR": deps_dir,
        "WISP_TIMEOUT_SECONDS": _seconds(spec.timeout),
        "WISP_MEMORY_MB": str(spec.memory_mib),
        "WISP_CONCURRENCY": str(spec.concurrency),
        "WISP_MAX_BODY_BYTES": str(max_body_bytes),
        "WISP_STACK_TRACES": "true" if spec.stack_traces else "false",
        "WISP_HOST": host,
        "WISP_PORT": str(port),
        **{name: value for name, value in lambda_env.items() if value},
        **logging_environment(spec.logging),
        **({"WISP_EXIT_ON_LOAD_FAILURE": "true"} if exit_on_load_failure else {}),
    }


def _seconds(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:g}"
