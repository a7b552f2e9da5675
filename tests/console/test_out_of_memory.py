"""The console's function rows carry the Function's OOM kill count (its page shows it)."""

from __future__ import annotations

from tests.gateway.conftest import (  # noqa: F401 (fixtures)
    GatewayFactory,
    fast_path,
    gateway_factory,
    make_function,
    runtimes,
)
from wisp.console.live import GatewayView
from wisp.gateway.backend import FunctionInfo
from wisp.gateway.static import StaticBackend


async def test_a_function_row_says_how_often_it_ran_out_of_memory(gateway_factory: GatewayFactory) -> None:  # noqa: F811
    hungry, fine = make_function("hungry", memory="64Mi"), make_function("fine")
    backend = StaticBackend()
    backend.set_function(FunctionInfo(hungry, oom_kills=2))
    backend.set_function(FunctionInfo(fine))
    gw = await gateway_factory(backend)
    rows = {row["name"]: row for row in GatewayView(gw.parts, 0.0).functions(0.0)}
    assert (rows["hungry"]["oomKills"], rows["hungry"]["memory"]) == (2, "64Mi")
    assert rows["fine"]["oomKills"] == 0
