"""The ``context`` a handler receives, shaped like AWS Lambda's Python context object."""

from __future__ import annotations

import logging
import time

FUNCTION_LOGGER = logging.getLogger("wisp.function")


class LambdaContext:
    """Per-invocation facts: ids, limits, the time left and a logger tagged with the request id.

    ``deadline`` is on the ``time.monotonic`` clock.
    """

    __slots__ = (
        "deadline",
        "function_name",
        "function_namespace",
        "function_version",
        "invoked_function_arn",
        "log_group_name",
        "log_stream_name",
        "memory_limit_in_mb",
        "request_id",
    )

    def __init__(
        self,
        *,
        request_id: str,
        function_name: str,
        function_namespace: str,
        memory_limit_in_mb: int,
        deadline: float,
    ) -> None:
        self.request_id = request_id
        self.function_name = function_name
        self.function_namespace = function_namespace
        self.memory_limit_in_mb = memory_limit_in_mb
        self.deadline = deadline
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"wisp:{function_namespace}:{function_name}"
        self.log_group_name = f"/wisp/{function_namespace}/{function_name}"
        self.log_stream_name = ""

    @property
    def aws_request_id(self) -> str:
        return self.request_id

    @property
    def logger(self) -> logging.Logger:
        """Records go to the structured log with this call's request id (via the call context)."""
        return FUNCTION_LOGGER

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))

    def __repr__(self) -> str:
        return (
            f"LambdaContext(request_id={self.request_id!r}, "
            f"function_name={self.function_name!r}, "
            f"remaining_ms={self.get_remaining_time_in_millis()})"
        )
