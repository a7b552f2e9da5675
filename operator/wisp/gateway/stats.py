"""Per-function usage for ``/system/stats`` (read by the web console).

Keeps totals and a bounded ring of recent (time, duration, error) records per function; the
percentiles over recent windows are computed when the API is read, not per call.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

RECENT = 4096
WINDOWS = (60.0, 300.0)


@dataclass
class FunctionStats:
    invocations: int = 0
    errors: int = 0
    gb_seconds: float = 0.0
    cold_starts: int = 0
    pool_starts: int = 0  # of the cold starts, those a warm pool pod served (docs/warm-pool.md)
    last_call: float | None = None
    recent: deque[tuple[float, float, bool]] = field(default_factory=lambda: deque(maxlen=RECENT))

    def record(self, wall: float, seconds: float, code: int, memory_gib: float) -> None:
        error = code >= 500
        self.invocations += 1
        self.errors += error
        self.gb_seconds += seconds * memory_gib
        self.last_call = wall
        self.recent.append((wall, seconds, error))

    def summary(self, now: float) -> dict[str, Any]:
        windows: dict[str, Any] = {}
        for window in WINDOWS:
            rows = [r for r in self.recent if r[0] > now - window]
            durations = sorted(r[1] for r in rows)
            windows[f"{int(window)}s"] = {
                "invocations": len(rows),
                "errors": sum(1 for r in rows if r[2]),
                "p50Ms": _percentile_ms(durations, 0.50),
                "p95Ms": _percentile_ms(durations, 0.95),
            }
        return {
            "invocations": self.invocations,
            "errors": self.errors,
            "coldStarts": self.cold_starts,
            "poolStarts": self.pool_starts,
            "gbSeconds": round(self.gb_seconds, 6),
            "lastCall": self.last_call,
            "windows": windows,
        }


def _percentile_ms(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, int(q * len(sorted_values)))
    return round(sorted_values[index] * 1000, 3)
