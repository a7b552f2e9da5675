"""Streamed answers through the real gateway from real Python runtime processes: chunks pass
as the handler yields them, a caller's departure closes the handler's generator, and a stream
is bounded by the Function's ``spec.streaming``, not by its call timeout.

The handlers wait on files the test creates (a "gate"), so a test knows the handler is still
running when it reads a chunk, without timing anything.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.gateway.conftest import GatewayFactory, GatewayUnderTest, Runtimes, info, make_function
from tests.support.wait import eventually
from wisp.api.trigger import parse_trigger
from wisp.gateway.static import StaticBackend

HANDLERS = textwrap.dedent(
    """
    import asyncio, os, time

    def _args(event):
        if "httpMethod" in event:
            return event.get("queryStringParameters") or {}
        return event

    def _closed(args, how="closed"):
        with open(args["marker"], "w") as out:
            out.write(how)

    def lines(args):
        how = "closed"
        try:
            yield "first\\n"
            while not os.path.exists(args["gate"]):
                time.sleep(0.02)
            yield b"second\\n"
            yield {"third": 3}
            how = "completed"
        finally:
            _closed(args, how)

    async def tokens(args):
        how = "closed"
        try:
            yield "first\\n"
            while not os.path.exists(args["gate"]):
                await asyncio.sleep(0.02)
            yield "second\\n"
            how = "completed"
        finally:
            _closed(args, how)

    def events(args):
        n = 0
        try:
            while True:
                n += 1
                yield f"id: {n}\\ndata: tick {n}\\n\\n"
                if n >= int(args.get("count", "1000000")):
                    return
                if "every" in args:
                    time.sleep(float(args["every"]))
                while "every" not in args and not os.path.exists(args["gate"] + str(n)):
                    time.sleep(0.02)
        finally:
            _closed(args)

    def drip(args):
        try:
            while True:
                yield "tick\\n"
                time.sleep(0.02)
        finally:
            _closed(args)

    def flood(args):
        try:
            while True:
                yield b"x" * 65536
        finally:
            _closed(args)

    def late(args):
        time.sleep(float(args["sleep"]))
        yield "after the call timeout\\n"

    async def words(event, context):  # the handler itself an async generator
        for word in event["text"].split():
            yield word + " "

    def numbers(event, context):  # the handler itself a generator
        yield from ({"n": n} for n in range(event["count"]))

    def handler(event, context):
        args = _args(event)
        mode = args["mode"]
        if mode == "sse":
            return {"statusCode": 200, "headers": {"Content-Type": "text/event-stream"},
                    "body": events(args)}
        return {"lines": lines, "tokens": tokens, "drip": drip, "flood": flood, "late": late}[mode](args)
    """
)


async def _gateway(
    gateway_factory: GatewayFactory, runtimes: Runtimes, handler: str = "main.handler", **spec: Any
) -> tuple[GatewayUnderTest, StaticBackend]:
    fn = make_function("streamer", handler=handler, code={"inline": HANDLERS}, **spec)
    runtime = await runtimes.start(fn)
    backend = StaticBackend()
    backend.set_function(info(fn))
    backend.set_endpoints(fn.key, (runtime.endpoint,))
    return await gateway_factory(backend), backend


def _args(tmp_path: Path, mode: str, **more: str) -> dict[str, str]:
    return {"mode": mode, "gate": str(tmp_path / "gate"), "marker": str(tmp_path / "closed"), **more}


@pytest.mark.parametrize("mode", ["lines", "tokens"])
async def test_the_first_chunk_arrives_while_the_handler_still_runs(
    gateway_factory: GatewayFactory, runtimes: Runtimes, tmp_path: Path, mode: str
) -> None:
    gw, _ = await _gateway(gateway_factory, runtimes)
    args = _args(tmp_path, mode)
    async with gw.session.post(gw.url("/function/streamer"), json=args) as resp:
        assert resp.status == 200
        assert resp.headers["X-Wisp-Stream"] == "1"
        assert resp.headers.get("Transfer-Encoding") == "chunked"
        assert await resp.content.readline() == b"first\n"
        # The handler cannot go on before the gate exists: this chunk came while it ran.
        assert not (tmp_path / "closed").exists()
        (tmp_path / "gate").touch()
        rest = await resp.read()
    expected = b"second\n" if mode == "tokens" else b'second\n{"third":3}\n'
    assert rest == expected
    assert (tmp_path / "closed").read_text() == "completed"


@pytest.mark.parametrize(
    ("handler", "event", "expected"),
    [
        ("main.words", {"text": "one word at a time"}, b"one word at a time "),
        ("main.numbers", {"count": 3}, b'{"n":0}\n{"n":1}\n{"n":2}\n'),
    ],
)
async def test_a_generator_function_is_a_streaming_handler(
    gateway_factory: GatewayFactory, runtimes: Runtimes, handler: str, event: Any, expected: bytes
) -> None:
    gw, _ = await _gateway(gateway_factory, runtimes, handler)
    async with gw.session.post(gw.url("/function/streamer"), json=event) as resp:
        assert resp.headers["X-Wisp-Stream"] == "1"
        assert resp.headers["Content-Type"] == "application/octet-stream"
        assert await resp.read() == expected


@pytest.mark.parametrize(
    ("mode", "first"),
    [
        ("drip", b"tick\n"),  # a plain generator: closed at its next yield
        ("tokens", b"first\n"),  # an async one waiting in an await: cancelled there, then closed
    ],
)
async def test_a_caller_that_leaves_closes_the_handlers_generator(
    gateway_factory: GatewayFactory, runtimes: Runtimes, tmp_path: Path, mode: str, first: bytes
) -> None:
    gw, _ = await _gateway(gateway_factory, runtimes)
    async with (
        aiohttp.ClientSession() as caller,
        caller.post(gw.url("/function/streamer"), json=_args(tmp_path, mode)) as resp,
    ):
        assert await resp.content.readline() == first
        resp.close()  # the caller goes away mid-stream; the gate never opens
    # Neither generator can end on its own: only being closed runs its finally block.
    await eventually(lambda: (tmp_path / "closed").exists(), "the generator's finally block")
    assert (tmp_path / "closed").read_text() == "closed"
    # The function still answers afterwards.
    (tmp_path / "gate").touch()
    async with gw.session.post(gw.url("/function/streamer"), json=_args(tmp_path, "lines")) as resp:
        assert await resp.read() == b'first\nsecond\n{"third":3}\n'


async def test_server_sent_events_through_a_trigger(
    gateway_factory: GatewayFactory, runtimes: Runtimes, tmp_path: Path
) -> None:
    gw, backend = await _gateway(gateway_factory, runtimes)
    backend.set_trigger(
        parse_trigger(
            {
                "metadata": {"name": "ticks", "namespace": "default"},
                "spec": {"function": "streamer", "http": {"path": "/ticks", "methods": ["GET"]}},
            }
        )
    )
    args = _args(tmp_path, "sse", count="3")
    await eventually(lambda: _routes(gw, "/ticks"), "the trigger's route")
    async with gw.session.get(gw.url("/ticks"), params=args, headers={"Accept": "text/event-stream"}) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "text/event-stream"
        seen = []
        for n in (1, 2, 3):
            event = await _sse_event(resp)
            seen.append(event)
            (tmp_path / f"gate{n}").touch()
        assert await resp.read() == b""
    assert seen == [
        {"id": "1", "data": "tick 1"},
        {"id": "2", "data": "tick 2"},
        {"id": "3", "data": "tick 3"},
    ]


async def test_server_sent_events_through_the_function_route(
    gateway_factory: GatewayFactory, runtimes: Runtimes, tmp_path: Path
) -> None:
    gw, _ = await _gateway(gateway_factory, runtimes)
    args = _args(tmp_path, "sse", count="2")
    async with gw.session.post(gw.url("/function/streamer"), json=args) as resp:
        assert resp.headers["Content-Type"] == "text/event-stream"
        assert await _sse_event(resp) == {"id": "1", "data": "tick 1"}
        (tmp_path / "gate1").touch()
        assert await _sse_event(resp) == {"id": "2", "data": "tick 2"}


async def test_a_stream_outlives_the_call_timeout(
    gateway_factory: GatewayFactory, runtimes: Runtimes, tmp_path: Path
) -> None:
    gw, _ = await _gateway(gateway_factory, runtimes, timeout="1s", streaming={"timeout": "30s"})
    async with gw.session.post(
        gw.url("/function/streamer"), json=_args(tmp_path, "late", sleep="1.5")
    ) as resp:
        assert resp.status == 200
        assert await resp.read() == b"after the call timeout\n"


async def test_a_stream_past_its_timeout_is_cut_with_an_error_event(
    gateway_factory: GatewayFactory, runtimes: Runtimes, tmp_path: Path
) -> None:
    gw, _ = await _gateway(gateway_factory, runtimes, streaming={"timeout": "1s"})
    args = _args(tmp_path, "sse", every="0.05")  # an event every 50 ms, with no end
    async with gw.session.post(gw.url("/function/streamer"), json=args) as resp:
        assert await _sse_event(resp) == {"id": "1", "data": "tick 1"}
        error = await _sse_event(resp)
        while "event" not in error:
            error = await _sse_event(resp)
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()  # cut: no terminating chunk, never a complete-looking answer
    assert error["event"] == "error"
    assert '"errorType": "StreamTimeout"' in error["data"]
    assert "spec.streaming.timeout" in error["data"]
    await eventually(lambda: (tmp_path / "closed").exists(), "the generator's finally block")


async def test_a_stream_past_its_size_limit_is_cut_and_the_handler_told(
    gateway_factory: GatewayFactory, runtimes: Runtimes, tmp_path: Path
) -> None:
    gw, _ = await _gateway(gateway_factory, runtimes, streaming={"maxBytes": "1Mi"})
    received = 0
    async with gw.session.post(gw.url("/function/streamer"), json=_args(tmp_path, "flood")) as resp:
        assert resp.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            async for chunk in resp.content.iter_any():
                received += len(chunk)
    assert received <= 1024 * 1024
    await eventually(lambda: (tmp_path / "closed").exists(), "the generator's finally block")


def _routes(gw: GatewayUnderTest, path: str) -> bool:
    return any(t.http is not None and t.http.path == path for t in gw.parts.registry.triggers.values())


async def _sse_event(resp: aiohttp.ClientResponse) -> dict[str, str]:
    """The next server-sent event's fields."""
    fields: dict[str, str] = {}
    while True:
        line = (await resp.content.readline()).decode()
        if line in ("\n", ""):
            if fields or not line:
                return fields
            continue
        name, _, value = line.rstrip("\n").partition(": ")
        fields[name] = value


NODE_HANDLERS = textwrap.dedent(
    """
    const fs = require('node:fs');
    const { Readable } = require('node:stream');

    function args(event) {
      return event.httpMethod || event.requestContext ? event.queryStringParameters || {} : event;
    }

    const waitFor = (file) => new Promise((resolve) => {
      const poll = setInterval(() => { if (fs.existsSync(file)) { clearInterval(poll); resolve(); } }, 20);
    });

    const streamed = awslambda.streamifyResponse(async (event, responseStream, context) => {
      const a = args(event);
      if (a.mode === 'sse') {
        responseStream = awslambda.HttpResponseStream.from(responseStream, {
          statusCode: 200, headers: { 'Content-Type': 'text/event-stream' },
        });
      }
      responseStream.on('close', () => {
        if (!responseStream.writableFinished) fs.writeFileSync(a.marker, 'closed');
      });
      responseStream.write(a.mode === 'sse' ? 'data: first\\n\\n' : 'first\\n');
      await waitFor(a.gate);
      if (responseStream.destroyed) return;
      responseStream.write('second\\n');
      responseStream.end();
    });

    function readable(event) {
      const a = args(event);
      let n = 0;
      const body = new Readable({
        read() {
          n += 1;
          if (n === 1) this.push('first\\n');
          else if (n === 2) waitFor(a.gate).then(() => { this.push('second\\n'); this.push(null); });
        },
      });
      body.on('close', () => { if (!body.readableEnded) fs.writeFileSync(a.marker, 'closed'); });
      return { statusCode: 201, headers: { 'Content-Type': 'text/plain' }, body };
    }

    exports.handler = streamed;
    exports.readable = readable;
    """
)


async def _node_gateway(
    gateway_factory: GatewayFactory, runtimes: Runtimes, handler: str
) -> tuple[GatewayUnderTest, StaticBackend]:
    fn = make_function(
        "streamer", runtime="nodejs20", handler=f"index.{handler}", code={"inline": NODE_HANDLERS}
    )
    runtime = await runtimes.start(fn)
    backend = StaticBackend()
    backend.set_function(info(fn))
    backend.set_endpoints(fn.key, (runtime.endpoint,))
    return await gateway_factory(backend), backend


@pytest.mark.parametrize(
    ("handler", "status", "content_type"),
    [
        ("handler", 200, "application/octet-stream"),  # awslambda.streamifyResponse
        ("readable", 201, "text/plain"),  # a returned Readable
    ],
)
async def test_node_streams_chunks_while_the_handler_runs(
    gateway_factory: GatewayFactory,
    runtimes: Runtimes,
    tmp_path: Path,
    handler: str,
    status: int,
    content_type: str,
) -> None:
    gw, _ = await _node_gateway(gateway_factory, runtimes, handler)
    async with gw.session.post(gw.url("/function/streamer"), json=_args(tmp_path, "lines")) as resp:
        assert resp.status == status
        assert resp.headers["Content-Type"] == content_type
        assert resp.headers["X-Wisp-Stream"] == "1"
        assert await resp.content.readline() == b"first\n"
        (tmp_path / "gate").touch()
        assert await resp.read() == b"second\n"
    assert not (tmp_path / "closed").exists()


@pytest.mark.parametrize("handler", ["handler", "readable"])
async def test_node_is_told_when_the_caller_leaves(
    gateway_factory: GatewayFactory, runtimes: Runtimes, tmp_path: Path, handler: str
) -> None:
    gw, _ = await _node_gateway(gateway_factory, runtimes, handler)
    async with (
        aiohttp.ClientSession() as caller,
        caller.post(gw.url("/function/streamer"), json=_args(tmp_path, "lines")) as resp,
    ):
        assert await resp.content.readline() == b"first\n"
        resp.close()
    await eventually(lambda: (tmp_path / "closed").exists(), "the response stream's close event")


async def test_node_server_sent_events_through_a_trigger(
    gateway_factory: GatewayFactory, runtimes: Runtimes, tmp_path: Path
) -> None:
    gw, backend = await _node_gateway(gateway_factory, runtimes, "handler")
    backend.set_trigger(
        parse_trigger(
            {
                "metadata": {"name": "ticks", "namespace": "default"},
                "spec": {"function": "streamer", "http": {"path": "/ticks"}},
            }
        )
    )
    await eventually(lambda: _routes(gw, "/ticks"), "the trigger's route")
    async with gw.session.get(gw.url("/ticks"), params=_args(tmp_path, "sse")) as resp:
        assert resp.headers["Content-Type"] == "text/event-stream"
        assert await _sse_event(resp) == {"data": "first"}
        (tmp_path / "gate").touch()
        assert await resp.read() == b"second\n"
