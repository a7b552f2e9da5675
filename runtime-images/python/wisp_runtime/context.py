"""The ``context`` a handler receives, shaped like AWS Lambda's Python context object.

Attribute for attribute what Lambda's Python runtime gives (``memory_limit_in_mb`` a string,
``invoked_function_arn`` ARN-shaped, ``client_context`` and ``identity`` None unless the call
carried them), plus wisp's ``function_namespace`` and ``request_id``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from typing import Any

from wisp_runtime.lambdaenv import FunctionIdentity
from wisp_runtime.tracing import TraceContext

FUNCTION_LOGGER = logging.getLogger("wisp.function")


class LambdaContext:
    """Per-invocation facts: ids, limits, the time left and a logger tagged with the request id.

    ``deadline`` is on the ``time.monotonic`` clock.
    """

    __slots__ = (
        "client_context",
        "deadline",
        "function_name",
        "function_namespace",
        "function_version",
        "identity",
        "invoked_function_arn",
        "log_group_name",
        "log_stream_name",
        "memory_limit_in_mb",
        "request_id",
        "trace",
    )

    def __init__(
        self,
        *,
        request_id: str,
        function: FunctionIdentity,
        deadline: float,
        client_context: ClientContext | None = None,
        identity: CognitoIdentity | None = None,
    ) -> None:
        self.request_id = request_id
        self.function_name = function.name
        self.function_namespace = function.namespace
        self.function_version = function.version
        self.invoked_function_arn = function.arn
        self.memory_limit_in_mb = function.memory_mb
        self.log_group_name = function.log_group
        self.log_stream_name = function.log_stream
        self.deadline = deadline
        self.client_context = client_context
        self.identity = identity
        self.trace: TraceContext | None = None  # the call's W3C trace context, when it has one

    @property
    def trace_id(self) -> str | None:
        """The call's W3C trace id (32 hex digits), or None when the call carried no trace."""
        return self.trace.trace_id if self.trace is not None else None

    @property
    def traceparent(self) -> str | None:
        """The ``traceparent`` of the call's handler span: pass it on to trace calls it makes."""
        return self.trace.traceparent if self.trace is not None else None

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


class Client:
    """The mobile client of ``client_context`` (Lambda's ``context.client_context.client``)."""

    __slots__ = ("app_package_name", "app_title", "app_version_code", "app_version_name", "installation_id")

    def __init__(self, fields: dict[str, Any]) -> None:
        self.installation_id = fields.get("installation_id")
        self.app_title = fields.get("app_title")
        self.app_version_name = fields.get("app_version_name")
        self.app_version_code = fields.get("app_version_code")
        self.app_package_name = fields.get("app_package_name")


class ClientContext:
    __slots__ = ("client", "custom", "env")

    def __init__(self, fields: dict[str, Any]) -> None:
        client = fields.get("client")
        self.client = Client(client) if isinstance(client, dict) else None
        self.custom = fields.get("custom")
        self.env = fields.get("env")


class CognitoIdentity:
    __slots__ = ("cognito_identity_id", "cognito_identity_pool_id")

    def __init__(self, fields: dict[str, Any]) -> None:
        self.cognito_identity_id = fields.get("cognitoIdentityId", fields.get("cognito_identity_id"))
        self.cognito_identity_pool_id = fields.get(
            "cognitoIdentityPoolId", fields.get("cognito_identity_pool_id")
        )


class ContextHeaderError(ValueError):
    """A client-context or identity header that is not base64-encoded JSON of an object."""


def decode_object(header: str, value: str) -> dict[str, Any]:
    """The JSON object a base64 header carries (a plain JSON object is accepted too)."""
    text = value.strip()
    try:
        if not text.startswith("{"):
            text = base64.b64decode(text, validate=True).decode()
        parsed = json.loads(text)
    except (binascii.Error, ValueError) as exc:
        raise ContextHeaderError(f"{header} is not base64-encoded JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise ContextHeaderError(f"{header} must hold a JSON object")
    return parsed
