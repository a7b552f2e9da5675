"""How wisp's streams, groups and entries map onto NATS JetStream: pure naming and encoding.

* Every wisp stream name (an async stream ``wisp:async:default:hello``, a queue trigger's
  ``orders``, a dead-letter stream ``orders.dead``) is one subject under the prefix of wisp's one
  JetStream stream: ``wisp.orders``. A name that is not a plain subject (wildcards, spaces, empty
  tokens) is percent-encoded, so different names never share a subject.
* A consumer group on a stream is one durable pull consumer, named from the group and stream.
* An entry (a map of fields to bytes) travels as the message body in a length-prefixed layout,
  marked by the ``Wisp-Fields`` header. A message published by anyone else (``nats pub``) reads
  as the ``data`` field plus one field per header, the queue layout docs/events.md describes.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from collections.abc import Mapping

FIELDS_HEADER = "Wisp-Fields"
FIELDS_VERSION = "1"
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_:\-]+(\.[A-Za-z0-9_:\-]+)*")
_SAFE_CHAR = re.compile(r"[A-Za-z0-9_:\-]")
_LENGTH = struct.Struct(">I")


def subject(prefix: str, stream: str) -> str:
    """The subject of wisp stream ``stream``."""
    if _PLAIN_NAME.fullmatch(stream):
        return f"{prefix}.{stream}"
    # '%' never occurs in a plain name, so an encoded one cannot collide with it.
    encoded = "".join(
        c if _SAFE_CHAR.fullmatch(c) else "".join(f"%{b:02X}" for b in c.encode()) for c in stream
    )
    return f"{prefix}.{encoded}"


def _percent(char: str) -> str:
    return "".join(f"%{b:02X}" for b in char.encode("utf-8", "surrogateescape"))


def consumer_name(group: str, stream: str) -> str:
    """A durable consumer name (letters, digits, ``_``, ``-``): readable, unique per pair."""
    readable = re.sub(r"[^A-Za-z0-9_-]", "_", f"{group}__{stream}")[:48]
    digest = hashlib.sha256(f"{group}\0{stream}".encode()).hexdigest()[:12]
    return f"{readable}-{digest}"


def kv_key(name: str) -> str:
    """A KV key for any text (``wisp:idempotency:...``, an invocation id): base64url."""
    return base64.urlsafe_b64encode(name.encode("utf-8", "surrogateescape")).decode().rstrip("=")


def keys_bucket(stream: str, ttl: float) -> str:
    """The KV bucket of once-only keys that live ``ttl`` seconds (the bucket's max age)."""
    return f"{stream}-keys-{max(1, round(ttl))}"


def records_bucket(stream: str) -> str:
    return f"{stream}-records"


def encode_fields(fields: Mapping[str, bytes] | Mapping[bytes, bytes | str]) -> bytes:
    parts: list[bytes] = []
    for name, value in fields.items():
        raw_name = name if isinstance(name, bytes) else name.encode("utf-8", "surrogateescape")
        raw_value = value if isinstance(value, bytes) else value.encode()
        parts += (_LENGTH.pack(len(raw_name)), raw_name, _LENGTH.pack(len(raw_value)), raw_value)
    return b"".join(parts)


def decode_fields(data: bytes, headers: Mapping[str, str] | None) -> dict[str, bytes]:
    """The entry a message carries; raises ValueError on a truncated wisp layout."""
    if headers and headers.get(FIELDS_HEADER) == FIELDS_VERSION:
        fields: dict[str, bytes] = {}
        at = 0
        while at < len(data):
            name, at = _take(data, at)
            value, at = _take(data, at)
            fields[name.decode("utf-8", "surrogateescape")] = value
        return fields
    foreign = {k: v.encode() for k, v in (headers or {}).items() if not k.startswith("Nats-")}
    foreign["data"] = data
    return foreign


def _take(data: bytes, at: int) -> tuple[bytes, int]:
    """One length-prefixed part at ``at``, and where the next one starts."""
    if at + _LENGTH.size > len(data):
        raise ValueError("truncated entry")
    (size,) = _LENGTH.unpack_from(data, at)
    start = at + _LENGTH.size
    if start + size > len(data):
        raise ValueError("truncated entry")
    return data[start : start + size], start + size


def stream_sequence(reply: str) -> int:
    """The stream sequence of a delivery, from its acknowledgement subject
    (``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>...``, or the form with a domain)."""
    tokens = reply.split(".")
    return int(tokens[5] if len(tokens) == 9 else tokens[7])
