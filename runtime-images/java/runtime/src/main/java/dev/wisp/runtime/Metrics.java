package dev.wisp.runtime;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.DoubleAdder;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.IntSupplier;

/**
 * The runtime's Prometheus metrics (names fixed by the contract), kept in lock-free adders and
 * rendered in the text exposition format by {@link #render()}.
 */
final class Metrics {

    /** Prometheus client defaults, so dashboards line up with the other runtimes. */
    private static final double[] BUCKETS = {
        0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0
    };

    private final Map<Integer, LongAdder> invocations = new ConcurrentHashMap<>();
    private final LongAdder errors = new LongAdder();
    private final LongAdder[] bucketCounts = new LongAdder[BUCKETS.length + 1];
    private final DoubleAdder durationSum = new DoubleAdder();
    private final IntSupplier inflight;

    /** @param inflight reads the number of calls holding a concurrency permit */
    Metrics(IntSupplier inflight) {
        this.inflight = inflight;
        for (int i = 0; i < bucketCounts.length; i++) {
            bucketCounts[i] = new LongAdder();
        }
    }

    /** Counts an invocation answered with {@code status}. */
    void countInvocation(int status) {
        invocations.computeIfAbsent(status, k -> new LongAdder()).increment();
    }

    /** Counts a handler failure (exception or timeout). */
    void countError() {
        errors.increment();
    }

    /** Records how long a handler ran. */
    void observeDuration(double seconds) {
        durationSum.add(seconds);
        int i = 0;
        while (i < BUCKETS.length && seconds > BUCKETS[i]) {
            i++;
        }
        bucketCounts[i].increment();
    }

    String render() {
        StringBuilder out = new StringBuilder(2048);
        out.append("# HELP wisp_runtime_invocations_total Invocations answered, by HTTP status.\n");
        out.append("# TYPE wisp_runtime_invocations_total counter\n");
        for (Map.Entry<Integer, LongAdder> entry : new TreeMap<>(invocations).entrySet()) {
            out.append("wisp_runtime_invocations_total{code=\"").append(entry.getKey()).append("\"} ")
                    .append(entry.getValue().sum()).append(".0\n");
        }
        out.append("# HELP wisp_runtime_errors_total Invocations whose handler failed or timed out.\n");
        out.append("# TYPE wisp_runtime_errors_total counter\n");
        out.append("wisp_runtime_errors_total ").append(errors.sum()).append(".0\n");
        out.append("# HELP wisp_runtime_invocation_duration_seconds Time spent in the handler.\n");
        out.append("# TYPE wisp_runtime_invocation_duration_seconds histogram\n");
        long cumulative = 0;
        for (int i = 0; i < bucketCounts.length; i++) {
            cumulative += bucketCounts[i].sum();
            String le = i < BUCKETS.length ? Double.toString(BUCKETS[i]) : "+Inf";
            out.append("wisp_runtime_invocation_duration_seconds_bucket{le=\"").append(le).append("\"} ")
                    .append(cumulative).append(".0\n");
        }
        out.append("wisp_runtime_invocation_duration_seconds_count ").append(cumulative).append(".0\n");
        out.append("wisp_runtime_invocation_duration_seconds_sum ").append(durationSum.sum()).append('\n');
        out.append("# HELP wisp_runtime_inflight_requests Calls in flight (holding a concurrency slot).\n");
        out.append("# TYPE wisp_runtime_inflight_requests gauge\n");
        out.append("wisp_runtime_inflight_requests ").append(inflight.getAsInt()).append(".0\n");
        return out.toString();
    }
}
