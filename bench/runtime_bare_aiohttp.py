"""The baseline: a bare aiohttp hello world (web app, one route), as a user would write it."""

from __future__ import annotations

import os

from aiohttp import web


async def hello(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"hello": "world"})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


app = web.Application()
app.router.add_get("/healthz", healthz)
app.router.add_post("/", hello)
web.run_app(app, host="127.0.0.1", port=int(os.environ["BENCH_PORT"]), print=None, access_log=None)
