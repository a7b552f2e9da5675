"""Callbacks: an async invocation's final record POSTed to the caller's ``X-Callback-Url``.

A callback is an event of its own, not part of the delivery it reports on. When an invocation
with a callback URL succeeds or finally fails, its settlement also appends a callback message to
``wisp:callbacks`` in the same atomic step (``callback_message``, carried by the
``RecordUpdate``). A consumer of that stream (``CallbackEvents`` with ``CallbackInvoker``, run by
the ``QueueManager`` like any other consumer) sends it, with its own bound on concurrent sends,
its own timeout per attempt, retries with backoff, and a dead-letter stream. So a callback
endpoint that never answers holds callback slots only: the function's deliveries go on, and a
crash after the settlement still sends the callback (at-least-once, like the invocation).

Callbacks go through ``wisp.security.ssrf``: loopback, link-local, private and cluster-internal
destinations are refused unless ``WISP_CALLBACK_ALLOW`` permits them, DNS answers are checked
and pinned, and redirects are not followed. Logs show callback URLs without their user info
or secret query values (``redact_url``); the URL as given is kept only in the broker's messages.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

import aiohttp

from wisp.queue.broker import Delivery, RecordUpdate
from wisp.queue.events import HOPS_HEADER, INVOCATION_HEADER, Rejection, Request, parse_hops
from wisp.queue.invoker import InvocationResult
from wisp.queue.policy import DeadLetterReason, Decision
from wisp.security.redact import redact_url
from wisp.security.ssrf import CallbackPolicy, CallbackRefused, guarded_session

log = logging.getLogger(__name__)

STATUS_HEADER = "X-Wisp-Function-Status"


def callback_message(
    url: str,
    invocation_id: str,
    function_status: str,
    document: Mapping[str, Any],
    traceparent: str = "",
    hops: int = 1,
) -> dict[str, bytes]:
    """The entry queued on the callbacks stream: where to POST, the record to send, the
    invocation's trace context (the callback carries the caller's trace) and its place in its
    chain of calls (sent as ``X-Wisp-Hops``: a receiver that submits to wisp again passes it on,
    and the recursion guard counts the loop)."""
    entry = {
        "url": url.encode(),
        "invocation": invocation_id.encode(),
        "status": function_status.encode(),
        "body": json.dumps(dict(document)).encode(),
        "hops": str(hops).encode(),
    }
    if traceparent:
        entry["traceparent"] = traceparent.encode()
    return entry


class CallbackEvents:
    """The ``EventKind`` of the callbacks stream: each message becomes one POST."""

    def request(self, delivery: Delivery) -> Request | Rejection:
        try:
            url = delivery.fields["url"].decode()
            invocation_id = delivery.fields["invocation"].decode()
            status = delivery.fields.get("status", b"").decode()
        except (KeyError, UnicodeDecodeError) as exc:
            return Rejection(DeadLetterReason.MALFORMED, f"not a callback entry: {exc!r}")
        headers = {
            "Content-Type": "application/json",
            INVOCATION_HEADER: invocation_id,
            STATUS_HEADER: status,
            HOPS_HEADER: str(parse_hops(delivery.fields.get("hops"))),
        }
        traceparent = delivery.fields.get("traceparent", b"").decode("ascii", "replace")
        if traceparent:
            headers["traceparent"] = traceparent
        return Request(delivery.fields.get("body", b"{}"), headers, invocation_id, url, target=url)

    def record(
        self, request: Request, delivery: Delivery, result: InvocationResult, decision: Decision
    ) -> RecordUpdate | None:
        return None


class CallbackInvoker:
    """The ``Invoker`` of the callbacks consumer: the target is the callback URL.

    Whatever the endpoint does becomes a status ``decide`` understands: 2xx done; 400/413/415/422
    and a destination the SSRF guard refuses are final (dead-lettered at once); anything else,
    including 429 and a timeout, is a failed attempt (a callback is not deferred like a throttled
    function: the endpoint's own overload must not keep it forever)."""

    def __init__(self, *, timeout: float, policy: CallbackPolicy | None = None) -> None:
        self._timeout = timeout
        self.policy = policy if policy is not None else callback_policy_from_env()
        self._session: aiohttp.ClientSession | None = None

    async def __call__(self, url: str, body: bytes, headers: Mapping[str, str]) -> InvocationResult:
        if self._session is None:
            self._session = guarded_session(self.policy, timeout=self._timeout)
        started = time.perf_counter()
        invocation = headers.get(INVOCATION_HEADER, "")
        try:
            async with self._session.post(
                url, data=body, headers=dict(headers), allow_redirects=False
            ) as response:
                status = response.status
        except CallbackRefused as exc:
            log.warning("callback of %s to %s refused: %s", invocation, redact_url(url), exc)
            return InvocationResult(status=400, error=f"callback refused: {exc}")
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            problem = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
            log.warning("callback of %s to %s failed: %s", invocation, redact_url(url), problem)
            return InvocationResult(status=502, duration=time.perf_counter() - started, error=problem)
        duration = time.perf_counter() - started
        if 200 <= status < 300:
            return InvocationResult(status=status, duration=duration)
        log.warning("callback of %s to %s answered HTTP %d", invocation, redact_url(url), status)
        return InvocationResult(
            status=503 if status == 429 else status, duration=duration, error=f"callback: HTTP {status}"
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def callback_policy_from_env() -> CallbackPolicy:
    """What ``WISP_CALLBACK_ALLOW`` lets callbacks reach despite the guard."""
    return CallbackPolicy.parse(os.environ.get("WISP_CALLBACK_ALLOW"))
