"""Fixtures of the real-node tier: ``real_node`` (one per session) and, for the tests in this
directory, the suite's control-plane fixtures (``kubeconfig``, ``kubectl``, ``namespace``, ...)
bound to the node's own control plane, whose API server listens on the node's bridge."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.cluster.controlplane import ControlPlane
from tests.node.node import NodeUnavailable, RealNode, leftovers, start_real_node


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "node: needs the real node (containerd, runc, kubelet; root)")


@pytest.fixture(scope="session")
def real_node() -> Iterator[RealNode]:
    try:
        node = start_real_node()
    except NodeUnavailable as exc:
        if os.environ.get("WISP_SKIP_NODE"):
            pytest.skip(f"real node unavailable: {exc}")
        raise
    yield node
    node.stop()
    left = leftovers()
    assert not left, f"the node left things behind: {left}"


@pytest.fixture(scope="session")
def control_plane(real_node: RealNode) -> ControlPlane:
    assert real_node.plane is not None
    return real_node.plane
