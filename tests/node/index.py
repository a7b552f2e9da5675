"""A package index a company would run, reachable from pods (they never reach the internet): a
PEP 503 simple index of pinned wheels, downloaded once into the cache and served on the node's
IP for as long as a test module needs it."""

from __future__ import annotations

import functools
import http.server
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.node.node import CACHE, NODE_IP


class QuietFiles(http.server.SimpleHTTPRequestHandler):
    """Serves the index's files; records each path asked for instead of logging it."""

    requested: list[str] = []

    def log_message(self, format: str, *args: Any) -> None:
        QuietFiles.requested.append(self.path)


@contextmanager
def company_index(requirements: list[str]) -> Iterator[str]:
    """Serve ``requirements`` (``name==version``, each a wheel for any Python 3) as a simple
    index; yields its URL for ``PIP_INDEX_URL``."""
    root = CACHE / "node" / "index"
    simple = root / "simple"
    for requirement in requirements:
        project = requirement.split("==")[0].lower().replace("_", "-")
        target = simple / project
        version = requirement.split("==")[1]
        if not any(target.glob(f"*-{version}-*.whl")):
            target.mkdir(parents=True, exist_ok=True)
            download = ["python3", "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
            subprocess.run([*download, "--dest", str(target), requirement], check=True, timeout=300)
    handler = functools.partial(QuietFiles, directory=str(root))
    server = http.server.ThreadingHTTPServer((NODE_IP, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{NODE_IP}:{server.server_address[1]}/simple/"
    finally:
        server.shutdown()
        server.server_close()
