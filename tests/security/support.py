"""A secured gateway under test: the gateway app with the security extension, a StaticBackend,
a StaticSecretSource, and one real Python runtime process (started through wisp.launcher)
serving every test Function."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer

from wisp.api import contract
from wisp.api.function import Function, Runtime, parse_function
from wisp.api.trigger import Trigger, parse_trigger
from wisp.gateway.app import Extension, make_app
from wisp.gateway.backend import Endpoint, FunctionInfo
from wisp.gateway.config import GatewayConfig
from wisp.gateway.state import COMPONENTS, Components
from wisp.gateway.static import StaticBackend
from wisp.launcher import LaunchSpec, RuntimeProcess, start_runtime
from wisp.security.extension import SECURITY, Security, security_extension
from wisp.security.secrets import StaticSecretSource
from wisp.security.settings import SecuritySettings

HANDLER = textwrap.dedent(
    """
    import json, time

    def handler(event, context):
        if isinstance(event, dict) and "httpMethod" in event:
            body = event.get("body") or ""
            return {"statusCode": 200, "headers": {"Content-Type": "application/json"},
                    "body": json.dumps({"path": event["path"], "headers": event["headers"],
                                        "bodyLength": len(body), "base64": event["isBase64Encoded"]})}
        if isinstance(event, dict) and isinstance(event.get("sleep"), (int, float)):
            time.sleep(min(float(event["sleep"]), 5))
        return {"echo": event}
    """
)


def function(name: str, access: dict[str, Any] | None = None, **spec: Any) -> Function:
    body: dict[str, Any] = {"runtime": "python3.12", "handler": "main.handler", "code": {"inline": HANDLER}}
    if access is not None:
        body["access"] = access
    body.update(spec)
    return parse_function({"metadata": {"name": name, "namespace": "default"}, "spec": body})


def trigger(name: str, fn: str, path: str) -> Trigger:
    return parse_trigger(
        {"metadata": {"name": name, "namespace": "default"}, "spec": {"function": fn, "http": {"path": path}}}
    )


async def start_echo_runtime(work: Path) -> RuntimeProcess:
    code = work / "code"
    code.mkdir(parents=True, exist_ok=True)
    fn = function("echo")
    for name, text in fn.spec.code_files().items():
        (code / name).write_text(text)
    env = contract.runtime_environment(fn, code_dir=str(code), host="127.0.0.1", port=0)
    process = await start_runtime(
        LaunchSpec(
            Runtime.PYTHON312, code, env=env, host="127.0.0.1", port=0, log_sink=str(work / "runtime.log")
        )
    )
    await process.wait_ready()
    return process


@dataclass
class SecuredGateway:
    server: TestServer
    app: web.Application
    backend: StaticBackend
    secrets: StaticSecretSource
    session: aiohttp.ClientSession
    endpoint: Endpoint
    clock: list[float] = field(default_factory=lambda: [1000.0])

    @property
    def parts(self) -> Components:
        return self.app[COMPONENTS]

    @property
    def security(self) -> Security:
        return self.app[SECURITY]

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    def add(self, fn: Function, *triggers: Trigger) -> Function:
        self.backend.set_function(FunctionInfo(fn))
        self.backend.set_endpoints(fn.key, (self.endpoint,))
        for t in triggers:
            self.backend.set_trigger(t)
        return fn

    async def call(
        self, path: str, *, method: str = "POST", **kwargs: Any
    ) -> tuple[int, Any, dict[str, str]]:
        async with self.session.request(method, self.url(path), **kwargs) as resp:
            text = await resp.text()
            try:
                body: Any = await resp.json(content_type=None)
            except ValueError:
                body = text
            return resp.status, body, dict(resp.headers)


async def make_secured_gateway(
    endpoint: Endpoint,
    settings: SecuritySettings | None = None,
    extensions: Sequence[Extension] = (),
    *,
    fast_path: bool = True,
    **config: Any,
) -> SecuredGateway:
    chosen = settings or SecuritySettings()
    secrets = StaticSecretSource()
    backend = StaticBackend()
    cfg = replace(GatewayConfig(host="127.0.0.1", pod_name="test"), **config)
    app = make_app(
        cfg,
        backend,
        autoscale=False,
        extensions=[security_extension(chosen, secrets), *extensions],
        fast_path=fast_path,
    )
    server = TestServer(app, host="127.0.0.1", **chosen.limits.server_settings())
    await server.start_server()
    session = aiohttp.ClientSession()
    gw = SecuredGateway(server, app, backend, secrets, session, endpoint)
    gw.security.guard.clock = lambda: gw.clock[0]
    return gw


Clock = Callable[[], float]
