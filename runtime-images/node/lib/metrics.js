'use strict';
// The runtime's Prometheus metrics, rendered as text for /metrics.

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

class RuntimeMetrics {
  constructor() {
    this.invocations = new Map();
    this.errors = 0;
    this.inflight = 0;
    this.workerRestarts = 0;
    this.bucketCounts = new Array(BUCKETS.length).fill(0);
    this.durationSum = 0;
    this.durationCount = 0;
  }

  count(status) {
    this.invocations.set(status, (this.invocations.get(status) || 0) + 1);
  }

  observe(seconds) {
    for (let i = 0; i < BUCKETS.length; i += 1) {
      if (seconds <= BUCKETS[i]) {
        this.bucketCounts[i] += 1;
        break;
      }
    }
    this.durationSum += seconds;
    this.durationCount += 1;
  }

  render() {
    const lines = [
      '# HELP wisp_runtime_invocations_total Invocations answered, by HTTP status code.',
      '# TYPE wisp_runtime_invocations_total counter',
    ];
    for (const [code, count] of [...this.invocations].sort((a, b) => a[0] - b[0])) {
      lines.push(`wisp_runtime_invocations_total{code="${code}"} ${count}`);
    }
    lines.push(
      '# HELP wisp_runtime_errors_total Invocations the function failed: an exception, a timeout, ' +
        'an unusable result or a handler that did not load.',
      '# TYPE wisp_runtime_errors_total counter',
      `wisp_runtime_errors_total ${this.errors}`,
      '# HELP wisp_runtime_invocation_duration_seconds Time spent in the handler.',
      '# TYPE wisp_runtime_invocation_duration_seconds histogram',
    );
    let cumulative = 0;
    BUCKETS.forEach((bound, i) => {
      cumulative += this.bucketCounts[i];
      lines.push(`wisp_runtime_invocation_duration_seconds_bucket{le="${bound}"} ${cumulative}`);
    });
    lines.push(
      `wisp_runtime_invocation_duration_seconds_bucket{le="+Inf"} ${this.durationCount}`,
      `wisp_runtime_invocation_duration_seconds_sum ${this.durationSum}`,
      `wisp_runtime_invocation_duration_seconds_count ${this.durationCount}`,
      '# HELP wisp_runtime_inflight_requests Invocations in progress.',
      '# TYPE wisp_runtime_inflight_requests gauge',
      `wisp_runtime_inflight_requests ${this.inflight}`,
      '# HELP wisp_runtime_worker_restarts_total Handler workers replaced after a blocked call or a crash.',
      '# TYPE wisp_runtime_worker_restarts_total counter',
      `wisp_runtime_worker_restarts_total ${this.workerRestarts}`,
    );
    return lines.join('\n') + '\n';
  }
}

module.exports = { RuntimeMetrics };
