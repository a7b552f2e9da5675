"""Durations ("30s", "1m30s", "250ms") and memory quantities ("256Mi", "1Gi") as the CRDs spell them."""

from __future__ import annotations

import re

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_MEMORY = re.compile(r"^(\d+)(Mi|Gi|M|G)$")
_MEMORY_UNIT_BYTES = {"Mi": 1024**2, "Gi": 1024**3, "M": 1000**2, "G": 1000**3}
_CPU = re.compile(r"^(?:(\d+)m|(\d+(?:\.\d{1,3})?))$")

# Lambda's model: one full vCPU at 1,769 MB.
MIB_PER_CPU = 1769


def parse_duration(text: str) -> float:
    """Seconds in a Go-style duration such as ``1m30s``; ValueError if malformed."""
    if not _DURATION.match(text):
        raise ValueError(f"{text!r} is not a duration like 30s, 1m30s or 250ms")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))


def parse_memory_bytes(text: str) -> int:
    match = _MEMORY.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a memory quantity like 256Mi or 1Gi")
    return int(match.group(1)) * _MEMORY_UNIT_BYTES[match.group(2)]


def parse_memory_mib(text: str) -> int:
    """Whole MiB in a memory quantity (rounded down)."""
    return parse_memory_bytes(text) // 1024**2


def parse_cpu_millis(text: str) -> int:
    match = _CPU.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a CPU quantity like 500m or 2")
    if match.group(1) is not None:
        return int(match.group(1))
    return round(float(match.group(2)) * 1000)


def cpu_millis_for_memory(memory_mib: int) -> int:
    """CPU that follows memory as in Lambda, never below 50m so tiny functions still start."""
    return max(50, round(memory_mib * 1000 / MIB_PER_CPU))
