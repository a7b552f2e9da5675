"""A function killed for memory mid-call: the caller is told so, not handed a bare 502.

The runtime process is killed with SIGKILL from inside the handler, as the kernel's OOM killer
does to a container over its limit; the backend (a ``StaticBackend`` told what the pod's status
would say) answers ``failure_cause``. The same path serves HTTP callers and ``Gateway.invoke``
(async invocations and queue deliveries).
"""

from __future__ import annotations

import json
import textwrap

import pytest

from tests.gateway.conftest import GatewayFactory, Runtimes, info, make_function
from wisp.gateway.backend import OUT_OF_MEMORY, FunctionInfo
from wisp.gateway.static import StaticBackend

KILLED = textwrap.dedent(
    """
    import os, signal

    def handler(event, context):
        if event.get("kill"):
            os.kill(os.getpid(), signal.SIGKILL)
        return {"ok": True}
    """
)


@pytest.mark.parametrize("oom", [True, False], ids=["oom-killed", "died-otherwise"])
async def test_a_call_cut_by_an_oom_kill_says_the_function_ran_out_of_memory(
    gateway_factory: GatewayFactory, runtimes: Runtimes, oom: bool
) -> None:
    fn = make_function("hungry", memory="64Mi", code={"inline": KILLED})
    backend = StaticBackend()
    backend.set_function(info(fn))
    sync, invoked = await runtimes.start(fn), await runtimes.start(fn)
    if oom:
        backend.failure_causes = {sync.endpoint.name: OUT_OF_MEMORY, invoked.endpoint.name: OUT_OF_MEMORY}
    backend.set_endpoints(fn.key, (sync.endpoint,))
    gw = await gateway_factory(backend)

    async with gw.session.post(gw.url("/function/hungry"), json={"kill": True}) as resp:
        body = await resp.json()
    assert resp.status == 502
    if oom:
        assert body["errorType"] == "Runtime.OutOfMemory"
        assert "ran out of memory" in body["errorMessage"] and "64Mi" in body["errorMessage"]
    else:
        assert body["errorType"] == "BadGateway"

    # Gateway.invoke: what async invocations and queue deliveries go through.
    gw.parts.registry.endpoints_changed(fn.key, (invoked.endpoint,))
    result = await gw.parts.gateway.invoke(fn.key, b'{"kill": true}')
    assert result.status == 502
    assert json.loads(result.body)["errorType"] == ("Runtime.OutOfMemory" if oom else "BadGateway")


async def test_the_status_count_of_oom_kills_is_a_metric(gateway_factory: GatewayFactory) -> None:
    fn = make_function("hungry", memory="64Mi")
    backend = StaticBackend()
    backend.set_function(FunctionInfo(fn, oom_kills=2))
    gw = await gateway_factory(backend)
    gw.parts.registry.function_upserted(FunctionInfo(fn, oom_kills=3))
    gw.parts.registry.function_upserted(FunctionInfo(fn, oom_kills=3))  # a status write: no change
    async with gw.session.get(gw.admin_url("/metrics")) as resp:
        metrics = await resp.text()
    assert 'wisp_function_oom_kills_total{function="hungry",namespace="default"} 3.0' in metrics
