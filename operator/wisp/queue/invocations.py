"""Async invocations: accept (publish + record), track (records with a TTL), report (callbacks).

``AsyncInvocations.submit`` is what ``POST /async-function/{name}`` calls: it returns only after
the broker stored the entry. ``AsyncEvents`` is the consumer side: it turns entries into calls
and keeps each invocation's record (``GET /invocations/{id}``) up to date; a final record of an
invocation with a callback URL also queues the callback (sent by ``wisp.queue.callbacks``).
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from wisp.queue import names
from wisp.queue.broker import Broker, Delivery, RecordUpdate
from wisp.queue.callbacks import callback_message
from wisp.queue.events import (
    AsyncMessage,
    MessageKind,
    Rejection,
    Request,
    async_request,
)
from wisp.queue.invoker import InvocationResult
from wisp.queue.policy import Decision, Outcome
from wisp.queue.settings import DeliverySettings
from wisp.security.redact import redact_url

STATUS_BY_OUTCOME = {
    Outcome.ACKED: "succeeded",
    Outcome.DEAD_LETTERED: "failed",
    Outcome.RETRIED: "retrying",
}


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def rfc3339_ms(epoch_ms: int) -> str:
    """``rfc3339`` of a Unix time in milliseconds, without building datetimes (hot path)."""
    seconds, millis = divmod(epoch_ms, 1000)
    return f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(seconds))}.{millis:03d}Z"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_record(
    invocation_id: str,
    function_key: str,
    callback_url: str | None,
    *,
    status: str = "queued",
    attempts: int = 0,
    created_ms: int | None = None,
    qualifier: str = "",
) -> dict[str, str]:
    record = {
        "invocationId": invocation_id,
        "function": function_key,
        "status": status,
        "attempts": str(attempts),
        "createdAt": rfc3339_ms(now_ms() if created_ms is None else created_ms),
    }
    if qualifier:  # the version or alias the producer named
        record["qualifier"] = qualifier
    if callback_url:  # readable by anyone who knows the id: no credentials
        record["callbackUrl"] = redact_url(callback_url)
    return record


def record_document(record: Mapping[str, str]) -> dict[str, Any]:
    """The JSON shape of a record, for ``GET /invocations/{id}`` and callbacks."""
    doc: dict[str, Any] = {
        "invocationId": record.get("invocationId"),
        "function": record.get("function"),
        "status": record.get("status"),
        "attempts": int(record.get("attempts", "0")),
        "createdAt": record.get("createdAt"),
    }
    for key in ("qualifier", "version", "completedAt", "error", "callbackUrl", "idempotencyKey", "reason"):
        if record.get(key):
            doc[key] = record[key]
    if record.get("redrives"):
        doc["redrives"] = int(record["redrives"])
        doc["redrivenAt"] = record.get("redrivenAt", "")
    if "statusCode" in record:
        doc["result"] = {
            "statusCode": int(record["statusCode"]),
            "headers": json.loads(record.get("headers", "{}")),
            "body": record.get("body", ""),
            "isBase64Encoded": record.get("isBase64Encoded") == "true",
            "durationSeconds": float(record.get("durationSeconds", "0")),
            "truncated": record.get("truncated") == "true",
        }
    return doc


def result_fields(result: InvocationResult, max_bytes: int) -> dict[str, str]:
    body = result.body[:max_bytes]
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    return {
        "statusCode": str(result.status),
        "headers": json.dumps(dict(result.headers)),
        "body": text,
        "isBase64Encoded": "true" if encoded else "false",
        "truncated": "true" if len(result.body) > max_bytes else "false",
        "durationSeconds": f"{result.duration:.6f}",
    }


class AsyncInvocations:
    """The accepting side: used by the routes and by schedules."""

    def __init__(
        self, broker: Broker, settings: DeliverySettings, submitted: Callable[[str], None] | None = None
    ) -> None:
        """``submitted`` is told each stream an event was put on (its consumer wakes)."""
        self.broker = broker
        self.settings = settings
        self._submitted = submitted or (lambda stream: None)

    async def submit(
        self,
        function_key: str,
        body: bytes,
        headers: Mapping[str, str],
        callback_url: str | None = None,
        *,
        hops: int = 1,
        idempotency_key: str | None = None,
        qualifier: str = "",
    ) -> str:
        """Store the invocation durably and return its id (``BrokerUnavailable`` if it cannot).

        With ``idempotency_key``, a submit for the same function and key within the idempotency
        window stores nothing and returns the first submit's id. ``hops`` is the event's place in
        a chain of calls (1: from outside; the recursion guard stops it past the limit).
        ``qualifier`` (a version number or alias) is resolved at each delivery, as a call of
        ``/function/NAME:QUALIFIER`` is: an alias moved meanwhile sends the event to its new
        version. The entry goes to the Function's own stream either way."""
        invocation_id = str(uuid.uuid4())
        message = AsyncMessage(
            MessageKind.INVOKE,
            invocation_id,
            function_key,
            body,
            headers,
            callback_url,
            hops=hops,
            qualifier=qualifier,
        )
        record = new_record(invocation_id, function_key, callback_url, qualifier=qualifier)
        stream = names.async_stream(function_key)
        if idempotency_key is None:
            await self.broker.publish(
                stream,
                message.fields(),
                record_id=invocation_id,
                record=record,
                retention=self.settings.retention,
            )
            self._submitted(stream)
            return invocation_id
        record["idempotencyKey"] = idempotency_key
        first = await self.broker.publish_idempotent(
            names.idempotency_key(function_key, idempotency_key),
            self.settings.idempotency_window,
            stream,
            message.fields(),
            record_id=invocation_id,
            record=record,
            retention=self.settings.retention,
        )
        self._submitted(stream)
        return first

    async def submit_tick(
        self, function_key: str, tick_id: str, event_body: bytes, qualifier: str = ""
    ) -> bool:
        """Enqueue a schedule tick unless a replica already did; True if this call enqueued it."""
        message = AsyncMessage(MessageKind.SCHEDULE, tick_id, function_key, event_body, qualifier=qualifier)
        stream = names.async_stream(function_key)
        enqueued = await self.broker.publish_once(
            names.tick_key(tick_id),
            self.settings.tick_ttl,
            stream,
            message.fields(),
            record_id=tick_id,
            record=new_record(tick_id, function_key, None, qualifier=qualifier),
            retention=self.settings.retention,
        )
        if enqueued:
            self._submitted(stream)
        return enqueued

    async def status(self, invocation_id: str) -> dict[str, Any] | None:
        record = await self.broker.record(invocation_id)
        return None if record is None else record_document(record)


class AsyncEvents:
    """The consuming side (an ``EventKind``): requests from entries, records and callbacks."""

    def __init__(self, settings: DeliverySettings) -> None:
        self._settings = settings

    def request(self, delivery: Delivery) -> Request | Rejection:
        return async_request(delivery)

    def record(
        self, request: Request, delivery: Delivery, result: InvocationResult, decision: Decision
    ) -> RecordUpdate | None:
        status = STATUS_BY_OUTCOME.get(decision.outcome)
        if status is None:  # deferred: nothing happened yet as far as the caller is concerned
            return None
        fields = new_record(
            request.invocation_id,
            delivery.fields.get("function", b"").decode(),
            request.callback_url,
            status=status,
            attempts=delivery.attempt,
            created_ms=delivery.first_enqueued_ms,
            qualifier=delivery.fields.get("qualifier", b"").decode(),
        )
        if result.status:  # 0: the function was not called (too old, past the hop limit)
            fields.update(result_fields(result, self._settings.max_result_bytes))
        # Which version ran this attempt (an alias draws again at each delivery); "" when none did.
        fields["version"] = result.version
        fields["error"] = "" if result.succeeded else result.describe_error()
        fields["reason"] = decision.reason.value if decision.reason is not None else ""
        if delivery.redrives:
            fields["redrives"] = str(delivery.redrives)
        if decision.outcome is Outcome.RETRIED:
            return RecordUpdate(request.invocation_id, fields, self._settings.retention)
        fields["completedAt"] = rfc3339_ms(now_ms())
        callback = None
        if request.callback_url:
            callback = callback_message(
                request.callback_url,
                request.invocation_id,
                fields.get("statusCode", "0"),  # 0: never run (too old, past the hop limit)
                record_document(fields),
                next((v for k, v in request.headers.items() if k.lower() == "traceparent"), ""),
                hops=request.hops,
            )
        return RecordUpdate(request.invocation_id, fields, self._settings.retention, callback)
