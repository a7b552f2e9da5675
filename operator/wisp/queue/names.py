"""Names of the streams and keys the event path keeps in the broker, in one place.

Users see some of them (the async stream of a function, dead-letter streams) in ``redis-cli``
and in docs/events.md; the rest are wisp's private bookkeeping under the ``wisp:`` prefix.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from wisp.api.names import split_key

ASYNC_GROUP = "wisp-async"
# Callbacks of async invocations, queued as their invocations settle, sent by their own consumers.
CALLBACK_STREAM = "wisp:callbacks"
CALLBACK_GROUP = "wisp-callbacks"
CALLBACK_DEAD_LETTER = "wisp:callbacks:dead"
CALLBACK_LABEL = "callbacks"


def split_function_key(key: str) -> tuple[str, str]:
    name, namespace = split_key(key)
    return name, namespace or "default"


def qualified_target(function_key: str, qualifier: str) -> str:
    """What a consumer's invoker is called with: the function key, or ``key:qualifier`` when the
    event names a version or alias (``hello.default:prod``). Keys are DNS labels: no ``:``."""
    return f"{function_key}:{qualifier}" if qualifier else function_key


def split_target(target: str) -> tuple[str, str]:
    """``qualified_target`` undone: ``(function key, qualifier)``, the qualifier "" for $LATEST."""
    key, _, qualifier = target.partition(":")
    return key, qualifier


def async_stream(function_key: str) -> str:
    name, namespace = split_function_key(function_key)
    return f"wisp:async:{namespace}:{name}"


def async_dead_letter(function_key: str) -> str:
    return async_stream(function_key) + ":dead"


def async_label(function_key: str) -> str:
    """The ``trigger`` label of an async invocation stream's metrics."""
    return f"async:{function_key}"


def retry_stream(stream: str, group: str) -> str:
    """A subscription's private stream of re-deliveries (never seen by the stream's other groups)."""
    return f"wisp:retry:{group}:{stream}"


def delayed_set(stream: str, group: str) -> str:
    """Sorted set of re-deliveries waiting for their backoff, scored by due time (ms)."""
    return f"wisp:delayed:{group}:{stream}"


def delayed_payload_prefix(stream: str, group: str) -> str:
    return f"wisp:delayed-entry:{group}:{stream}:"


def record_key(invocation_id: str) -> str:
    return f"wisp:invocation:{invocation_id}"


def idempotency_key(function_key: str, key: str) -> str:
    """Holds the first invocation id submitted with a producer's ``Idempotency-Key``; hashed, so
    any key (long, odd bytes) makes a well-formed Redis key."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()
    return f"wisp:idempotency:{function_key}:{digest}"


def tick_id(trigger_key: str, tick: datetime) -> str:
    """The id of one schedule tick, e.g. ``nightly.default@20250101T0300Z``."""
    return f"{trigger_key}@{tick.strftime('%Y%m%dT%H%MZ')}"


def tick_key(tick_id: str) -> str:
    return f"wisp:tick:{tick_id}"
