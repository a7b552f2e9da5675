"""The anchors' reference function: a bare aiohttp server answering POST with the sha256 of the
body (what the OpenFaaS figures in the benchmark notes were measured against).

    python bench/gateway_upstream.py --port 18082
"""

from __future__ import annotations

import argparse
import hashlib

import uvloop
from aiohttp import web


async def handle(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response({"sha256": hashlib.sha256(body).hexdigest()})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    web.run_app(
        app,
        host="127.0.0.1",
        port=args.port,
        access_log=None,
        print=lambda *_: print("ready", flush=True),
        loop=uvloop.new_event_loop(),
    )


if __name__ == "__main__":
    main()
