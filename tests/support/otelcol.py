"""A real OpenTelemetry Collector for the tracing tests, and the sink it exports to.

The collector (``otelcol/``: the collector's own OTLP receiver, batch processor and exporters,
built from the Go module proxy by ``otelcol/build.sh``, cached) receives spans over OTLP/HTTP
and passes them on over OTLP/HTTP, JSON-encoded, to ``SpanSink``: a small HTTP server in the
test that keeps every span it gets. What the test reads has been parsed, batched and
re-encoded by the collector, so spans it would reject never reach the test.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.support import wait
from tests.support.net import free_port

BUILD = Path(__file__).parent / "otelcol" / "build.sh"

CONFIG = """
receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:{receiver}
processors:
  batch:
    timeout: 50ms
exporters:
  otlphttp:
    endpoint: http://127.0.0.1:{sink}
    encoding: json
    compression: none
    retry_on_failure:
      enabled: false
  debug:
    verbosity: basic
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlphttp, debug]
"""


@dataclass
class SpanSink:
    """Spans the collector exported, flattened: each one's OTLP JSON plus ``service``."""

    spans: list[dict[str, Any]] = field(default_factory=list)

    async def receive(self, request: web.Request) -> web.Response:
        document = await request.json()
        for resource_spans in document.get("resourceSpans", []):
            resource = {
                a["key"]: next(iter(a["value"].values()))
                for a in resource_spans.get("resource", {}).get("attributes", [])
            }
            for scope in resource_spans.get("scopeSpans", []):
                for span in scope.get("spans", []):
                    self.spans.append({**span, "service": resource.get("service.name")})
        return web.json_response({})

    def trace(self, trace_id: str) -> list[dict[str, Any]]:
        return [s for s in self.spans if s["traceId"] == trace_id]

    def named(self, name: str) -> list[dict[str, Any]]:
        return [s for s in self.spans if s["name"] == name]

    async def wait_for(
        self, trace_id: str, names: set[str], timeout: float = 20.0
    ) -> dict[str, dict[str, Any]]:
        """The trace's spans by name once every one of ``names`` arrived."""

        def arrived() -> dict[str, dict[str, Any]] | None:
            by_name = {s["name"]: s for s in self.trace(trace_id)}
            return by_name if names <= by_name.keys() else None

        found: dict[str, dict[str, Any]] = await wait.eventually(
            arrived, f"spans {sorted(names)} of trace {trace_id}", timeout
        )
        return found


@dataclass
class Collector:
    endpoint: str  # the OTLP/HTTP base URL to configure wisp with
    sink: SpanSink


def collector_binary() -> Path:
    try:
        out = subprocess.run([str(BUILD)], check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as exc:
        if exc.returncode == 3:
            pytest.skip(exc.stderr.strip())
        raise AssertionError(f"building the OpenTelemetry Collector failed:\n{exc.stderr}") from None
    return Path(out.stdout.strip())


@pytest.fixture(scope="session")
def otelcol_binary() -> Path:
    return collector_binary()


@pytest.fixture
async def collector(otelcol_binary: Path, tmp_path: Path) -> AsyncIterator[Collector]:
    """A running collector whose exports land in a ``SpanSink``."""
    sink = SpanSink()
    app = web.Application()
    app.router.add_post("/v1/traces", sink.receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sink_port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", sink_port)
    await site.start()
    receiver = free_port()
    config = tmp_path / "otelcol.yaml"
    config.write_text(CONFIG.format(receiver=receiver, sink=sink_port))
    log = (tmp_path / "otelcol.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        str(otelcol_binary), f"--config=file:{config}", stdout=log, stderr=subprocess.STDOUT
    )
    try:
        await wait.eventually(
            lambda: _listening(receiver) or process.returncode is not None, "the collector's receiver"
        )
        if process.returncode is not None:
            raise AssertionError(f"the collector exited:\n{(tmp_path / 'otelcol.log').read_text()}")
        yield Collector(f"http://127.0.0.1:{receiver}", sink)
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
        log.close()
        await runner.cleanup()


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
