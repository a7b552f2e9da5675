"""Gateway CPU per request, by route and data path: a short probe beside ``bench/gateway.py``.

    python -m bench.gateway_cpu [--aiohttp-only] [--rounds N]      (from the repository root)

One gateway process (``bench/gateway_server.py``: the real app, static backend) in front of the
bare aiohttp function; ``/function/bench`` and Lambda's Invoke API
(``POST /2015-03-31/functions/bench/invocations``) are each called 2,000 times by one client and
4,000 times by 50 (keep-alive, 64-byte JSON body), ``--rounds`` times; each figure is the median
round's CPU time of the gateway process (``/proc/<pid>/stat``) per call, in µs. Prints one JSON
line with the 1-minute load before and after; writes nothing: figures that are kept go to the
reader's own section of docs/benchmarks.md with the load beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics

import aiohttp
from bench.gateway import PY_ARGS, Processes, load, wait_http
from bench.procs import cpu_seconds, free_port

LOADS = ((1, 2000), (50, 4000))


async def probe(aiohttp_only: bool, rounds: int) -> dict[str, object]:
    procs = Processes()
    load_before = os.getloadavg()[0]
    try:
        bare = free_port()
        procs.start([*PY_ARGS, "bench/gateway_upstream.py", "--port", str(bare)])
        port, admin = free_port(), free_port()
        only = ["--aiohttp-only"] if aiohttp_only else []
        argv = ["bench/gateway_server.py", "--port", str(port), "--admin-port", str(admin)]
        gateway = procs.start([*PY_ARGS, *argv, "--upstream", f"127.0.0.1:{bare}", *only])
        await wait_http(f"http://127.0.0.1:{bare}/healthz")
        await wait_http(f"http://127.0.0.1:{admin}/readyz")
        urls = {
            "function": f"http://127.0.0.1:{port}/function/bench",
            "invoke": f"http://127.0.0.1:{port}/2015-03-31/functions/bench/invocations",
        }
        cpu_us: dict[str, int] = {}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            for url in urls.values():
                await load(session, url, 300, 10)  # warm-up
            for route, url in urls.items():
                for clients, total in LOADS:
                    per_call = []
                    for _ in range(rounds):
                        before = cpu_seconds(gateway.pid)
                        await load(session, url, total, clients)
                        per_call.append((cpu_seconds(gateway.pid) - before) / total * 1e6)
                    cpu_us[f"{route}, {clients} clients"] = round(statistics.median(per_call))
    finally:
        procs.stop_all()
    return {
        "path": "aiohttp" if aiohttp_only else "fast",
        "cpu_us_per_call": cpu_us,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "nproc": os.cpu_count(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--aiohttp-only", action="store_true", help="serve every call with aiohttp")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(probe(args.aiohttp_only, args.rounds))), flush=True)


if __name__ == "__main__":
    main()
