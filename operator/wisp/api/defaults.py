"""A Function's defaults and the size its code may have, in one place.

The CRD (crds/functions.wisp.dev.yaml) fills these defaults in at ``kubectl apply``; the parser
fills in the same ones for ``wisp dev``, which has no API server. Everything else that shows or
assumes a default (the autoscaler's ``ScaleTarget``, ``wisp describe``, the console's editor)
reads them here; tests/api compares this table with the CRD file, default by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FunctionDefaults:
    """Values as the CRD spells them (quantities and durations as text)."""

    memory: str = "256Mi"
    timeout: str = "30s"
    concurrency: int = 100
    stack_traces: bool = False
    scale_min: int = 0
    scale_max: int = 20
    scale_metric: str = "concurrency"
    scale_target: int = 10
    scale_idle_timeout: str = "60s"
    # A streamed answer's own limits (Lambda's response streaming: 15 minutes, 200 MB).
    streaming_timeout: str = "15m"
    streaming_max_bytes: str = "200Mi"
    # A WebSocket's limits when spec.websocket is set (API Gateway's: 10 minutes idle, 2 hours).
    websocket_idle_timeout: str = "10m"
    websocket_max_duration: str = "2h"
    # The key in a Secret that holds the tokens or the HMAC key (a key's name, not a secret).
    token_secret_key: str = "token"  # noqa: S105
    hmac_secret_key: str = "key"  # noqa: S105
    hmac_tolerance: str = "5m"
    log_format: str = "JSON"

    def by_crd_path(self) -> dict[str, Any]:
        """The defaults keyed by their path under ``spec`` in the CRD schema (``[]``: any item)."""
        return {
            "memory": self.memory,
            "timeout": self.timeout,
            "concurrency": self.concurrency,
            "stackTraces": self.stack_traces,
            "scale.min": self.scale_min,
            "scale.max": self.scale_max,
            "scale.metric": self.scale_metric,
            "scale.target": self.scale_target,
            "scale.idleTimeout": self.scale_idle_timeout,
            "streaming.timeout": self.streaming_timeout,
            "streaming.maxBytes": self.streaming_max_bytes,
            "websocket.idleTimeout": self.websocket_idle_timeout,
            "websocket.maxDuration": self.websocket_max_duration,
            "access.tokenSecrets[].key": self.token_secret_key,
            "access.hmacSecret.key": self.hmac_secret_key,
            "access.hmacSecret.tolerance": self.hmac_tolerance,
            "logging.format": self.log_format,
        }


FUNCTION_DEFAULTS = FunctionDefaults()

# Inline or files code is stored in a ConfigMap, and an object must fit etcd's 1 MiB request
# limit: keep room for the metadata. ``wisp deploy`` refuses a folder past it before sending.
MAX_CODE_BYTES = 1024 * 1024 - 16 * 1024


def code_size(files: dict[str, str]) -> int:
    """Bytes the code takes in a ConfigMap: file names and contents, UTF-8."""
    return sum(len(name.encode()) + len(text.encode()) for name, text in files.items())
