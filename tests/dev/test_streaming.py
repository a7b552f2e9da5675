"""Streaming answers and WebSockets through ``wisp dev``: the same gateway, the local backend
and the security layer it runs by default, with functions started as local processes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import aiohttp

from tests.dev.process import WispDev

FUNCTIONS = """
apiVersion: wisp.dev/v1alpha1
kind: Function
metadata: {name: ticker}
spec:
  runtime: python3.12
  handler: main.handler
  code:
    inline: |
      import os, time
      def handler(event, context):
          query = event.get("queryStringParameters") or {}
          gate = query.get("gate", "")
          def ticks():
              yield "data: tick 1\\n\\n"
              while not os.path.exists(gate):
                  time.sleep(0.02)
              yield "data: tick 2\\n\\n"
          return {"statusCode": 200, "headers": {"Content-Type": "text/event-stream"}, "body": ticks()}
---
apiVersion: wisp.dev/v1alpha1
kind: Trigger
metadata: {name: ticks}
spec:
  function: ticker
  http: {path: /ticks, methods: [GET]}
---
apiVersion: wisp.dev/v1alpha1
kind: Function
metadata: {name: chat}
spec:
  runtime: python3.12
  handler: main.handler
  websocket: {idleTimeout: 5m}
  code:
    inline: |
      def handler(event, context):
          if event["requestContext"]["eventType"] == "MESSAGE":
              return {"statusCode": 200, "body": "echo: " + event["body"]}
          return {"statusCode": 200}
---
apiVersion: wisp.dev/v1alpha1
kind: Trigger
metadata: {name: chat}
spec:
  function: chat
  http: {path: /chat, methods: [GET]}
"""


async def test_server_sent_events_and_a_websocket_through_wisp_dev(
    tmp_path: Path, wisp_dev: Callable[..., WispDev]
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "functions.yaml").write_text(FUNCTIONS)
    dev = wisp_dev(project)
    gate = tmp_path / "gate"
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{dev.url}/ticks", params={"gate": str(gate)}) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "text/event-stream"
            assert await resp.content.readline() == b"data: tick 1\n"
            assert not gate.exists()  # the handler is still waiting: the first event came early
            gate.touch()
            assert await resp.read() == b"\ndata: tick 2\n\n"
        async with session.ws_connect(f"{dev.url}/chat") as ws:
            await ws.send_str("hello")
            assert await ws.receive_str() == "echo: hello"
