"""A custom wisp runtime in one file: what any image must serve to run as ``runtime: custom``.

Standard library only, to show the contract rather than a framework. It "runs" a built-in
function (it greets the caller) and serves, on ``WISP_HOST:WISP_PORT`` (default 0.0.0.0:8080):

* ``GET /healthz`` and ``GET /livez``: 200 ``{"status": "ok"}``;
* ``GET /metrics``: ``wisp_runtime_invocations_total`` in Prometheus text;
* every other request, and any request with ``X-Wisp-Event``: an invocation, answered with
  ``X-Wisp-Request-Id`` and ``X-Wisp-Duration-Ms``; past ``WISP_CONCURRENCY`` calls in flight,
  429; past ``WISP_MAX_BODY_BYTES``, 413; bad JSON, 400; one JSON log line per call on stdout.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FUNCTION = os.environ.get("WISP_FUNCTION_NAME", "function")
CONCURRENCY = int(os.environ.get("WISP_CONCURRENCY", "100"))
MAX_BODY = int(os.environ.get("WISP_MAX_BODY_BYTES", str(6 * 1024 * 1024)))
PROBES = {"/healthz", "/livez", "/metrics"}


class Stats:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.inflight = 0
        self.counts: dict[int, int] = {}


STATS = Stats()


def greet(event: object) -> object:
    """The function this image runs."""
    name = event.get("name", "world") if isinstance(event, dict) else "world"
    return {"hello": name}


def log(message: str, request_id: str | None = None, **fields: object) -> None:
    record = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "level": "INFO",
        "requestId": request_id,
        "function": FUNCTION,
        "message": message,
        **fields,
    }
    print(json.dumps(record), flush=True)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass  # one structured line per call instead

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path in PROBES and "X-Wisp-Event" not in self.headers:
            if path == "/metrics":
                with STATS.lock:
                    lines = [
                        f'wisp_runtime_invocations_total{{code="{code}"}} {count}'
                        for code, count in STATS.counts.items()
                    ]
                self.reply(200, ("\n".join(lines) + "\n").encode(), "text/plain; version=0.0.4")
            else:
                self.reply(200, b'{"status":"ok"}')
            return
        self.invoke()

    def do_POST(self) -> None:
        self.invoke()

    do_PUT = do_PATCH = do_DELETE = do_POST

    def invoke(self) -> None:
        request_id = self.headers.get("X-Wisp-Request-Id") or str(uuid.uuid4())
        with STATS.lock:
            admitted = STATS.inflight < CONCURRENCY
            STATS.inflight += admitted
        if not admitted:
            self.error(
                429,
                "TooManyRequests",
                "too many calls in flight",
                request_id,
                {"Retry-After": "1", "X-Wisp-Throttled": "runtime"},
            )
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self.close_connection = True
                self.error(413, "RequestTooLarge", f"body larger than {MAX_BODY} bytes", request_id)
                return
            body = self.rfile.read(length)
            try:
                event = json.loads(body) if body.strip() else {}
            except ValueError as exc:
                self.error(400, "InvalidEventJSON", str(exc), request_id)
                return
            started = time.perf_counter()
            result = greet(event)
            millis = (time.perf_counter() - started) * 1000
            self.reply(
                200,
                json.dumps(result).encode(),
                request_id=request_id,
                extra={"X-Wisp-Duration-Ms": f"{millis:.3f}"},
            )
            log("invocation finished", request_id, status=200, durationMs=round(millis, 3))
        finally:
            with STATS.lock:
                STATS.inflight -= 1

    def error(
        self, status: int, error_type: str, message: str, request_id: str, extra: dict[str, str] | None = None
    ) -> None:
        body = {"errorType": error_type, "errorMessage": message, "requestId": request_id}
        self.reply(status, json.dumps(body).encode(), request_id=request_id, extra=extra)

    def reply(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        request_id: str | None = None,
        extra: dict[str, str] | None = None,
    ) -> None:
        if request_id is not None:
            with STATS.lock:
                STATS.counts[status] = STATS.counts.get(status, 0) + 1
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if request_id is not None:
            self.send_header("X-Wisp-Request-Id", request_id)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


def main() -> None:
    host = os.environ.get("WISP_HOST", "0.0.0.0")
    server = ThreadingHTTPServer((host, int(os.environ.get("WISP_PORT", "8080"))), Handler)
    port = server.server_address[1]
    # Optional: wisp's local launcher reads this line to learn the port without polling.
    log(f"listening on {host}:{port}", event="wisp.runtime.listening", port=port, handlerLoaded=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
