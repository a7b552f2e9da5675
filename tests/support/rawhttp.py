"""A raw HTTP/1.1 exchange over a socket: the request goes out byte for byte as written (no
client normalising its path or headers), the answer is parsed just enough to assert on."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

SAFETY_NET = 20.0  # a hung exchange fails the test instead of hanging it; never asserted on


@dataclass(frozen=True)
class RawAnswer:
    status: int
    version: str
    headers: dict[str, str]  # lower-cased names, last value wins
    body: bytes
    interim: tuple[int, ...] = ()  # 1xx statuses seen before the final answer

    def json(self) -> Any:
        return json.loads(self.body)


async def read_answer(reader: asyncio.StreamReader) -> RawAnswer:
    """One final answer (skipping interim 1xx ones) from ``reader``."""
    async with asyncio.timeout(SAFETY_NET):
        return await _read_answer(reader)


async def _read_answer(reader: asyncio.StreamReader) -> RawAnswer:
    interim: list[int] = []
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        version, status_text = lines[0].split(" ", 2)[:2]
        status = int(status_text)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if 100 <= status < 200:
            interim.append(status)
            continue
        break
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        parts: list[bytes] = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    elif status in (204, 304):
        body = b""
    else:
        body = await reader.read()
    return RawAnswer(status, version, headers, body, tuple(interim))


async def exchange(host: str, port: int, request: bytes) -> RawAnswer:
    """Send ``request`` on a new connection and read one answer."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        await writer.drain()
        return await read_answer(reader)
    finally:
        writer.close()


def request_bytes(
    method: str,
    target: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    version: str = "HTTP/1.1",
) -> bytes:
    lines = [f"{method} {target} {version}", "Host: gateway.test", "Connection: close"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
