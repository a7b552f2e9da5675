"""The kubelet's log endpoint, for the test node agent: ``kubectl logs`` and ``wisp logs`` work.

The API server proxies ``pods/log`` to ``https://<node InternalIP>:<kubeletEndpoint>/containerLogs/
{namespace}/{pod}/{container}``; this serves that path from the files the node agent's runtime
processes write, with ``tailLines`` and ``follow`` as the kubelet has them. The node's address
is the host end of the pod network (the API server refuses to proxy to loopback).
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from tests.cluster.pki import CertificateAuthority

LogPath = Callable[[str, str], Path | None]
FIND_LOG: web.AppKey[LogPath] = web.AppKey("find_log")


async def _container_logs(request: web.Request) -> web.StreamResponse:
    find = request.app[FIND_LOG]
    path = find(request.match_info["namespace"], request.match_info["pod"])
    if path is None or not path.exists():
        raise web.HTTPNotFound(text="container not found")
    tail = request.query.get("tailLines")
    follow = request.query.get("follow") in ("true", "1")
    response = web.StreamResponse(headers={"Content-Type": "text/plain"})
    await response.prepare(request)
    with path.open("rb") as handle:
        lines = deque(handle, maxlen=int(tail)) if tail else list(handle)
        for line in lines:
            await response.write(line)
        while follow:
            line = handle.readline()
            if line:
                await response.write(line)
            else:
                await asyncio.sleep(0.2)
    return response


async def start_log_server(address: str, workdir: Path, find: LogPath) -> tuple[web.AppRunner, int]:
    """Serve container logs over HTTPS on ``address``; returns the runner and the port."""
    ca = CertificateAuthority(workdir, "kubelet-ca")
    pair = ca.issue("kubelet", "wisp-test-node", server_ips=(address,), client=False)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pair.cert, pair.key)
    app = web.Application()
    app[FIND_LOG] = find
    app.router.add_get("/containerLogs/{namespace}/{pod}/{container}", _container_logs)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, address, 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, int(port)
