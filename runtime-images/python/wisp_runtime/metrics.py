"""The runtime's Prometheus metrics, exposed as text on ``/metrics``.

Hand-rolled on purpose: importing prometheus-client costs tens of milliseconds at every cold
start (measured in bench/runtimes.py's notes), and five series need no library.
"""

from __future__ import annotations

import bisect

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


class RuntimeMetrics:
    def __init__(self) -> None:
        self.invocations: dict[int, int] = {}
        self.errors = 0
        self.inflight = 0
        self.runaway_threads = 0
        self._bucket_counts = [0] * len(BUCKETS)
        self._duration_sum = 0.0
        self._duration_count = 0

    def count(self, status: int) -> None:
        self.invocations[status] = self.invocations.get(status, 0) + 1

    def observe(self, seconds: float) -> None:
        index = bisect.bisect_left(BUCKETS, seconds)
        if index < len(BUCKETS):
            self._bucket_counts[index] += 1
        self._duration_sum += seconds
        self._duration_count += 1

    def render(self) -> str:
        lines = [
            "# HELP wisp_runtime_invocations_total Invocations answered, by HTTP status code.",
            "# TYPE wisp_runtime_invocations_total counter",
        ]
        lines += [
            f'wisp_runtime_invocations_total{{code="{code}"}} {count}'
            for code, count in sorted(self.invocations.items())
        ]
        lines += [
            "# HELP wisp_runtime_errors_total Invocations the function failed: an exception, "
            "a timeout, an unusable result or a handler that did not load.",
            "# TYPE wisp_runtime_errors_total counter",
            f"wisp_runtime_errors_total {self.errors}",
            "# HELP wisp_runtime_invocation_duration_seconds Time spent in the handler.",
            "# TYPE wisp_runtime_invocation_duration_seconds histogram",
        ]
        cumulative = 0
        for bound, count in zip(BUCKETS, self._bucket_counts, strict=True):
            cumulative += count
            lines.append(f'wisp_runtime_invocation_duration_seconds_bucket{{le="{bound:g}"}} {cumulative}')
        lines += [
            f'wisp_runtime_invocation_duration_seconds_bucket{{le="+Inf"}} {self._duration_count}',
            f"wisp_runtime_invocation_duration_seconds_sum {self._duration_sum!r}",
            f"wisp_runtime_invocation_duration_seconds_count {self._duration_count}",
            "# HELP wisp_runtime_inflight_requests Invocations in progress.",
            "# TYPE wisp_runtime_inflight_requests gauge",
            f"wisp_runtime_inflight_requests {self.inflight}",
            "# HELP wisp_runtime_runaway_threads Handler threads still running past their call's timeout.",
            "# TYPE wisp_runtime_runaway_threads gauge",
            f"wisp_runtime_runaway_threads {self.runaway_threads}",
        ]
        return "\n".join(lines) + "\n"
