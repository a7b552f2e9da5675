"""``make bench``: every benchmark, one after the other, each writing its section of
docs/benchmarks.md (with the date and the machine). Each runs in its own process so that one
benchmark's servers and warm caches cannot flatter the next."""

from __future__ import annotations

import subprocess
import sys
import time

BENCHMARKS = [
    ("runtimes", "Python and Node.js runtimes: warm overhead, cold start"),
    ("runtime_provided", "provided runtime: Lambda's runtime interface clients, warm overhead, cold start"),
    ("runtime_java", "Java runtime: cold start with and without CDS, warm overhead"),
    ("gateway", "gateway: added latency, throughput, CPU per call, cold-start wait, step load"),
    ("events", "events: async throughput vs sync, enqueue to handler start"),
    ("brokers", "event brokers: Redis and NATS JetStream (one server, a 3-server cluster)"),
    ("events_brokers", "events through the gateway on each broker: submits, end to end, 1 and 2 gateways"),
    ("dev", "wisp dev: cold start of the Python hello example, start to all ready"),
    (
        "node",
        "real node: zero to first response (Python, Node.js, Java); Deployment 0→N; idle cost",
    ),
    ("pool", "warm pool on the real node: zero to first response via a pool pod; a pool pod's idle cost"),
    ("specialise", "warm pool, runtime side: a generic runtime's specialisation and first call, local"),
]


def main(argv: list[str]) -> int:
    wanted = set(argv) or {name for name, _ in BENCHMARKS}
    failed = []
    for name, what in BENCHMARKS:
        if name not in wanted:
            continue
        print(f"== {what}", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, "-m", f"bench.{name}"])
        print(f"== {name}: exit {code} after {time.monotonic() - started:.0f} s", flush=True)
        if code != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
