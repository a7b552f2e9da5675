"""Outcome destinations: Lambda's destination records, and where they are appended.

A function's ``spec.async.onSuccess`` / ``onFailure`` (and a queue Trigger's ``onFailure``) name a
Function, a stream or a URL. When a delivery settles, ``outcome_appends`` builds Lambda's
destination record (``version``, ``timestamp``, ``requestContext``, ``requestPayload``,
``responseContext``, ``responsePayload``) and turns it into an ``Append`` that the subscription
writes in the same atomic step as the settlement:

* a Function: an async invocation of it (its own id and record, one hop further in the chain);
* a stream: a message whose ``data`` field is the record (the queue-trigger layout), with the
  hop count in ``wisp.hops``;
* a URL: a message on the callbacks stream, POSTed by the callbacks consumer through the SSRF
  guard with its retries and dead letters.

No I/O: the subscription writes the ``Append``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wisp.api import names as api_names
from wisp.api.asyncspec import Destination, DestinationKind
from wisp.api.version import LATEST
from wisp.queue import names
from wisp.queue.broker import Append, RecordUpdate
from wisp.queue.callbacks import callback_message
from wisp.queue.events import HOPS_FIELD, AsyncMessage, MessageKind, Request
from wisp.queue.invocations import new_record, now_ms, rfc3339_ms
from wisp.queue.invoker import InvocationResult
from wisp.queue.policy import DeadLetterReason, Decision, Outcome

RECORD_VERSION = "1.0"
SUCCESS = "Success"
# Lambda's condition names where it has one; wisp's own reasons otherwise.
CONDITIONS = {
    DeadLetterReason.RETRIES_EXHAUSTED: "RetriesExhausted",
    DeadLetterReason.EVENT_AGE_EXCEEDED: "EventAgeExceeded",
    DeadLetterReason.RECURSION_LIMIT: "RecursiveInvocationLoop",
    DeadLetterReason.REJECTED: "Rejected",
    DeadLetterReason.MALFORMED: "Malformed",
    DeadLetterReason.TOO_LARGE: "TooLarge",
}


@dataclass(frozen=True)
class OutcomeRouting:
    """Where a consumer's outcomes go; ``namespace`` resolves Function destinations."""

    namespace: str
    on_success: Destination | None = None
    on_failure: Destination | None = None
    retention: float = 24 * 3600.0


def function_arn(function_key: str, qualifier: str = "") -> str:
    """Lambda's qualified ``functionArn``, in wisp's terms: ``wisp:<namespace>:function:<name>:<qualifier>``,
    the qualifier being the version or alias the event was invoked with, ``$LATEST`` when none
    (as Lambda's destination records say it)."""
    name, namespace = names.split_function_key(function_key)
    return f"wisp:{namespace}:function:{name}:{qualifier or LATEST}"


def _payload(raw: bytes) -> Any:
    """JSON when it is JSON (as Lambda shows payloads), else the text."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def destination_record(
    *,
    function_key: str,
    request: Request,
    attempts: int,
    condition: str,
    result: InvocationResult | None,
    error: str | None,
    timestamp: str,
    qualifier: str = "",
) -> dict[str, Any]:
    """Lambda's destination record. ``result`` is None when the function was not called (the
    event was too old, past the hop limit, or malformed). ``qualifier`` is what the event named
    (an async call's ``:QUALIFIER``, a Trigger's ``spec.qualifier``; "" for ``$LATEST``); the
    version that ran is ``result.version``."""
    executed = result.version if result is not None and result.version else LATEST
    response_context: dict[str, Any] = {"executedVersion": executed}
    response_payload: Any = None
    if result is not None and result.status:
        response_context["statusCode"] = result.status
        response_payload = _payload(result.body)
    if condition != SUCCESS:
        response_context["functionError"] = "Unhandled" if result is not None and result.status else condition
        if response_payload is None and error:
            response_payload = {"errorType": condition, "errorMessage": error}
    return {
        "version": RECORD_VERSION,
        "timestamp": timestamp,
        "requestContext": {
            "requestId": request.request_id,
            "functionArn": function_arn(function_key, qualifier),
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "requestPayload": _payload(request.payload),
        "responseContext": response_context,
        "responsePayload": response_payload,
    }


def outcome_condition(decision: Decision) -> str | None:
    if decision.outcome is Outcome.ACKED:
        return SUCCESS
    if decision.outcome is Outcome.DEAD_LETTERED and decision.reason is not None:
        return CONDITIONS[decision.reason]
    return None  # retried or deferred: not an outcome yet


def to_append(
    destination: Destination,
    record: Mapping[str, Any],
    *,
    routing: OutcomeRouting,
    hops: int,
    invocation_id: str,
    created: Mapping[str, str],
) -> Append:
    """The message that delivers ``record`` to ``destination``; ``hops`` is the new message's
    (the event's plus one). ``created`` is the new invocation's record (Function destinations)."""
    body = json.dumps(dict(record)).encode()
    if destination.kind is DestinationKind.FUNCTION:
        key = api_names.function_key(destination.target, routing.namespace)
        message = AsyncMessage(
            MessageKind.INVOKE, invocation_id, key, body, {"Content-Type": "application/json"}, hops=hops
        )
        return Append(
            names.async_stream(key),
            message.fields(),
            RecordUpdate(invocation_id, dict(created), routing.retention),
        )
    if destination.kind is DestinationKind.STREAM:
        return Append(destination.target, {"data": body, HOPS_FIELD: str(hops).encode()})
    condition = str(record["requestContext"]["condition"])
    request_id = str(record["requestContext"]["requestId"])
    return Append(names.CALLBACK_STREAM, callback_message(destination.target, request_id, condition, record))


def outcome_append(
    routing: OutcomeRouting,
    function_key: str,
    request: Request,
    attempts: int,
    result: InvocationResult | None,
    decision: Decision,
    error: str | None,
    qualifier: str = "",
) -> tuple[Append, str] | None:
    """The destination message of a final outcome and its condition, if the routing names a
    destination for it (None for retries, deferrals and outcomes without one). ``qualifier`` is
    the version or alias the event was invoked with ("" for ``$LATEST``)."""
    condition = outcome_condition(decision)
    if condition is None:
        return None
    destination = routing.on_success if decision.outcome is Outcome.ACKED else routing.on_failure
    if destination is None:
        return None
    created_ms = now_ms()
    record = destination_record(
        function_key=function_key,
        request=request,
        attempts=attempts,
        condition=condition,
        result=result,
        error=error,
        timestamp=rfc3339_ms(created_ms),
        qualifier=qualifier,
    )
    invocation_id = str(uuid.uuid4())
    key = api_names.function_key(destination.target, routing.namespace)
    append = to_append(
        destination,
        record,
        routing=routing,
        hops=request.hops + 1,
        invocation_id=invocation_id,
        created=new_record(invocation_id, key, None, created_ms=created_ms),
    )
    return append, condition
