"""Batches for queue Triggers with a ``batchWindow``: one call for several messages, and
Lambda's partial batch response.

The function gets ``{"Records": [event, ...]}`` (each a ``wisp.queue`` event as a single delivery
would carry it, ``id`` its entry id). It may answer ``{"batchItemFailures": [{"itemIdentifier":
"<id>"}, ...]}``: only those items count as failed (each is retried or dead-lettered on its own);
the others are acknowledged. As Lambda does, an answer naming an item that is not in the batch, or
an error status, fails the whole batch. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

from wisp.api import contract
from wisp.queue.events import ATTEMPT_HEADER, JSON_HEADERS

BATCH_HEADER = "X-Wisp-Batch-Size"


def batch_body(events: Sequence[bytes]) -> bytes:
    """The batch event from the single events' JSON bodies (no re-encoding)."""
    return b'{"Records": [' + b", ".join(events) + b"]}"


def batch_headers(first_request_id: str, size: int, attempt: int) -> dict[str, str]:
    return {
        **JSON_HEADERS,
        contract.REQUEST_ID_HEADER: f"{first_request_id}+{size - 1}" if size > 1 else first_request_id,
        ATTEMPT_HEADER: str(attempt),
        BATCH_HEADER: str(size),
    }


def failed_items(succeeded: bool, body: bytes, ids: Collection[str]) -> set[str]:
    """The ids of the batch's items that failed, given the call's outcome and answer."""
    everything = set(ids)
    if not succeeded:
        return everything
    try:
        answer: Any = json.loads(body) if body.strip() else None
    except ValueError:
        return set()  # a plain answer: the whole batch succeeded
    if not isinstance(answer, dict) or "batchItemFailures" not in answer:
        return set()
    failures = answer["batchItemFailures"]
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return everything
    named = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(identifier, str) or identifier not in everything:
            return everything  # Lambda: an unknown or empty identifier fails the whole batch
        named.add(identifier)
    return named
