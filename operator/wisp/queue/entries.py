"""Entry layouts every broker writes the same way: a re-delivery (retry) entry and a dead letter.

A retry entry carries ``m:*`` meta fields (attempt, origin, first enqueue time, last error,
redrives) and the producer's fields as ``f:<name>``, so meta can never clash with user fields. A
dead letter is the producer's fields plus ``wisp.*`` fields saying why, from where and when; an
operator's redrive turns it back into a retry entry. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wisp.queue.broker import Delivery, SubscriptionSpec

META = "m:"
FIELD = "f:"

# What ``dead_letter`` adds to the producer's fields; everything else is the message as it was.
DEAD_LETTER_FIELDS = frozenset(
    {
        "wisp.reason",
        "wisp.error",
        "wisp.attempts",
        "wisp.stream",
        "wisp.id",
        "wisp.subscription",
        "wisp.group",
        "wisp.failed-at",
        "wisp.redrives",
    }
)


def text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def field_name(value: Any) -> str:
    # surrogateescape keeps odd (non-UTF-8) field names byte-exact through retries.
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)


def field_bytes(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


def retry_entry(delivery: Delivery, attempt: int, error: str | None) -> dict[bytes, bytes | str]:
    """The entry that re-delivers ``delivery`` as attempt ``attempt``."""
    entry: dict[bytes, bytes | str] = {
        b"m:attempt": str(attempt),
        b"m:origin-stream": delivery.origin_stream,
        b"m:origin-id": delivery.origin_id,
        b"m:first-ms": str(delivery.first_enqueued_ms),
        b"m:error": error or "",
        b"m:redrives": str(delivery.redrives),
    }
    for name, value in delivery.fields.items():
        entry[FIELD.encode() + field_bytes(name)] = value
    return entry


def dead_letter_entry(
    delivery: Delivery, spec: SubscriptionSpec, reason: str, error: str | None, failed_ms: int
) -> dict[bytes, bytes | str]:
    entry: dict[bytes, bytes | str] = {field_bytes(k): v for k, v in delivery.fields.items()}
    entry.update(
        {
            b"wisp.reason": reason,
            b"wisp.error": error or "",
            b"wisp.attempts": str(delivery.attempt),
            b"wisp.stream": delivery.origin_stream,
            b"wisp.id": delivery.origin_id,
            b"wisp.subscription": spec.label or spec.group,
            b"wisp.group": spec.group,
            b"wisp.failed-at": str(failed_ms),
            b"wisp.redrives": str(delivery.redrives),
        }
    )
    return entry


def redrive_entry(fields: Mapping[str, bytes], now: float) -> dict[bytes, bytes | str]:
    """A retry entry for a dead letter: attempt 1 again, its original stream and id, its age
    counted from the redrive, one more redrive."""
    redrives = int(text(fields.get("wisp.redrives", b"0")) or "0") + 1
    entry: dict[bytes, bytes | str] = {
        b"m:attempt": "1",
        b"m:origin-stream": fields["wisp.stream"],
        b"m:origin-id": fields.get("wisp.id", b""),
        b"m:first-ms": str(int(now * 1000)),
        b"m:error": "",
        b"m:redrives": str(redrives),
    }
    for name, value in fields.items():
        if name not in DEAD_LETTER_FIELDS:
            entry[FIELD.encode() + field_bytes(name)] = value
    return entry


def retried_delivery(
    stream: str,
    entry_id: str,
    fields: Mapping[str, bytes],
    times_delivered: int,
    default_stream: str,
    id_ms: int,
) -> Delivery:
    """A delivery read from a retry entry; each abandoned earlier delivery counts as an attempt."""
    meta = {k[len(META) :]: text(v) for k, v in fields.items() if k.startswith(META)}
    error = meta.get("error")
    return Delivery(
        stream=stream,
        entry_id=entry_id,
        origin_stream=meta.get("origin-stream", default_stream),
        origin_id=meta.get("origin-id", entry_id),
        fields={k[len(FIELD) :]: v for k, v in fields.items() if k.startswith(FIELD)},
        attempt=int(meta.get("attempt", "1")) + times_delivered - 1,
        first_enqueued_ms=int(meta.get("first-ms", id_ms)),
        last_error=error or None,
        redrives=int(meta.get("redrives", "0")),
    )
