"""Event shapes and message layouts: pure translation between stream entries and function calls.

Producers write queue messages in either of two layouts (docs/events.md): a ``data`` field
holding JSON (other fields become ``attributes``), or plain fields, which become ``data`` as a
map of strings. The gateway writes async invocations and schedule ticks as ``AsyncMessage``
entries. ``queue_request`` and ``async_request`` turn a delivery into the body and headers of a
call to the runtime, or into a ``Rejection`` that goes to the dead-letter stream.
"""

from __future__ import annotations

import base64
import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wisp.api import contract
from wisp.api.tracecontext import TRACEPARENT, TRACESTATE
from wisp.queue import names
from wisp.queue.broker import Delivery
from wisp.queue.policy import DeadLetterReason

JSON_HEADERS = {"Content-Type": "application/json", contract.EVENT_HEADER: "json"}
ATTEMPT_HEADER = "X-Wisp-Attempt"
INVOCATION_HEADER = "X-Wisp-Invocation-Id"
# The recursion guard's hop count: how many calls wisp made in this event's chain, this one
# included (1: an event from outside). A function that calls wisp passes it on; wisp adds one.
HOPS_HEADER = "X-Wisp-Hops"
HOPS_FIELD = "wisp.hops"  # the same count on a queue message wisp wrote (a stream destination)
IDEMPOTENCY_HEADER = "Idempotency-Key"
# Lambda's client context (base64 JSON), which every runtime shows as ``context.client_context``:
# its ``custom`` map carries the idempotency key and the hop count of an async delivery.
CLIENT_CONTEXT_HEADER = "X-Wisp-Client-Context"


class MessageKind(enum.Enum):
    INVOKE = "invoke"
    SCHEDULE = "schedule"


@dataclass(frozen=True)
class Request:
    body: bytes
    headers: Mapping[str, str]
    invocation_id: str = ""
    callback_url: str | None = None
    # What the consumer's invoker is called with instead of its own target (callbacks: the URL;
    # an async invocation of a version or alias: ``key:qualifier``).
    target: str | None = None
    hops: int = 1
    # For outcome destinations: the event as the function received it, and its id.
    payload: bytes = b""
    request_id: str = ""
    # The version or alias an async invocation named ("" for $LATEST or a Trigger's delivery:
    # a queue Trigger's qualifier is its consumer's).
    qualifier: str = ""


@dataclass(frozen=True)
class Rejection:
    reason: DeadLetterReason
    detail: str


def _size(fields: Mapping[str, bytes]) -> int:
    return sum(len(k) + len(v) for k, v in fields.items())


def _utf8(value: bytes, what: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{what} is not UTF-8 text") from None


def queue_message_data(fields: Mapping[str, bytes], max_bytes: int) -> tuple[Any, dict[str, str]] | Rejection:
    """``(data, attributes)`` of a producer's message, or why it cannot be delivered."""
    size = _size(fields)
    if size > max_bytes:
        return Rejection(DeadLetterReason.TOO_LARGE, f"message is {size} bytes, limit {max_bytes}")
    try:
        names = {name: _utf8(name.encode("utf-8", "surrogateescape"), "a field name") for name in fields}
        if "data" not in fields:
            return {names[k]: _utf8(v, f"field {k!r}") for k, v in fields.items()}, {}
        try:
            data = json.loads(_utf8(fields["data"], "field 'data'"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"field 'data' is not JSON: {exc}") from None
        attributes = {names[k]: _utf8(v, f"field {k!r}") for k, v in fields.items() if k != "data"}
    except ValueError as exc:
        return Rejection(DeadLetterReason.MALFORMED, str(exc))
    return data, attributes


def queue_event(
    stream: str, entry_id: str, data: Any, attempt: int, attributes: Mapping[str, str]
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "source": "wisp.queue",
        "stream": stream,
        "id": entry_id,
        "data": data,
        "attempt": attempt,
    }
    if attributes:
        event["attributes"] = dict(attributes)
    return event


def queue_request(delivery: Delivery, max_bytes: int) -> Request | Rejection:
    decoded = queue_message_data(delivery.fields, max_bytes)
    if isinstance(decoded, Rejection):
        return decoded
    data, attributes = decoded
    hops = parse_hops(attributes.get(HOPS_FIELD))
    event = queue_event(delivery.origin_stream, delivery.origin_id, data, delivery.attempt, attributes)
    request_id = f"{delivery.origin_stream}/{delivery.origin_id}"
    headers = {
        **JSON_HEADERS,
        contract.REQUEST_ID_HEADER: request_id,
        ATTEMPT_HEADER: str(delivery.attempt),
        HOPS_HEADER: str(hops),
        contract.ENQUEUED_HEADER: str(delivery.first_enqueued_ms),
    }
    # A producer's trace context travels as message attributes (docs/tracing.md).
    for name in (TRACEPARENT, TRACESTATE):
        if name in attributes:
            headers[name] = attributes[name]
    body = json.dumps(event).encode()
    return Request(body, headers, hops=hops, payload=body, request_id=request_id)


def parse_hops(value: str | bytes | None) -> int:
    """A hop count as written by wisp (1 when absent or unreadable: the chain starts here)."""
    try:
        return max(1, int(value)) if value is not None else 1
    except ValueError:
        return 1


@dataclass(frozen=True)
class AsyncMessage:
    """An async invocation or schedule tick as written to a function's async stream."""

    kind: MessageKind
    invocation_id: str
    function_key: str
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    callback_url: str | None = None
    hops: int = 1
    qualifier: str = ""  # the version or alias the producer named; "" is $LATEST

    def fields(self) -> dict[str, bytes]:
        out = {
            "kind": self.kind.value.encode(),
            "invocation": self.invocation_id.encode(),
            "function": self.function_key.encode(),
            "headers": json.dumps(dict(self.headers)).encode(),
            "body": self.body,
            "hops": str(self.hops).encode(),
        }
        if self.callback_url:
            out["callback"] = self.callback_url.encode()
        if self.qualifier:
            out["qualifier"] = self.qualifier.encode()
        return out

    @classmethod
    def from_fields(cls, fields: Mapping[str, bytes]) -> AsyncMessage:
        """Raises ValueError (or KeyError) on an entry wisp did not write."""
        headers = json.loads(fields.get("headers", b"{}"))
        if not isinstance(headers, dict):
            raise ValueError("headers is not a map")
        callback = fields.get("callback")
        return cls(
            kind=MessageKind(fields["kind"].decode()),
            invocation_id=fields["invocation"].decode(),
            function_key=fields["function"].decode(),
            body=fields.get("body", b""),
            headers={str(k): str(v) for k, v in headers.items()},
            callback_url=callback.decode() if callback else None,
            hops=parse_hops(fields.get("hops")),
            qualifier=fields.get("qualifier", b"").decode(),
        )


def schedule_event_body(trigger: str, tick_id: str, time_rfc3339: str, payload: Any) -> bytes:
    """The schedule event without its ``attempt`` (added at each delivery)."""
    event = {
        "source": "wisp.schedule",
        "trigger": trigger,
        "id": tick_id,
        "time": time_rfc3339,
        "data": payload,
    }
    return json.dumps(event).encode()


def async_context(message: AsyncMessage) -> dict[str, str]:
    """``context.client_context.custom`` of an async delivery: ``idempotencyKey`` when the
    producer sent one, ``hops`` when the call is part of a chain (pass it on as X-Wisp-Hops)."""
    custom: dict[str, str] = {}
    key = next((v for k, v in message.headers.items() if k.lower() == IDEMPOTENCY_HEADER.lower()), None)
    if key:
        custom["idempotencyKey"] = key
    if message.hops > 1:
        custom["hops"] = str(message.hops)
    return custom


def async_request(delivery: Delivery) -> Request | Rejection:
    try:
        message = AsyncMessage.from_fields(delivery.fields)
    except (ValueError, KeyError) as exc:
        return Rejection(DeadLetterReason.MALFORMED, f"not an async invocation entry: {exc!r}")
    body = message.body
    headers = dict(message.headers)
    if message.kind is MessageKind.SCHEDULE:
        event = json.loads(body)
        event["attempt"] = delivery.attempt
        body = json.dumps(event).encode()
        headers.update(JSON_HEADERS)
    headers[contract.REQUEST_ID_HEADER] = message.invocation_id
    headers[ATTEMPT_HEADER] = str(delivery.attempt)
    headers[contract.ENQUEUED_HEADER] = str(delivery.first_enqueued_ms)
    headers[HOPS_HEADER] = str(message.hops)
    custom = async_context(message)
    if custom:
        payload = json.dumps({"custom": custom}).encode()
        headers[CLIENT_CONTEXT_HEADER] = base64.b64encode(payload).decode()
    return Request(
        body,
        headers,
        message.invocation_id,
        message.callback_url,
        hops=message.hops,
        payload=message.body,
        request_id=message.invocation_id,
        target=names.qualified_target(message.function_key, message.qualifier) if message.qualifier else None,
        qualifier=message.qualifier,
    )
