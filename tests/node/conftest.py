"""Fixtures of the real-node tier: ``real_node`` (one per session), ``node_kubectl`` bound to the
node's own control plane (whose API server listens on the node's bridge), ``wisp`` (the chart
installed with helm, one per session) and ``restricted``, a fresh namespace there that enforces
the ``restricted`` Pod Security Standard. They have names of
their own: the suite's ``kubectl``/``namespace`` stay bound to the suite's control plane."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.cluster.fixtures import Kubectl
from tests.node.chart import Wisp, wisp_on
from tests.node.node import NodeUnavailable, RealNode, start_real_node

_INSTALLED = pytest.StashKey[Wisp]()


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
    left = node.stop()
    assert not left, f"the node left things behind: {left}"


@pytest.fixture(scope="session")
def node_kubectl(real_node: RealNode) -> Kubectl:
    assert real_node.plane is not None
    return Kubectl(real_node.plane.kubectl_binary, real_node.kubeconfig)


@pytest.fixture(scope="session")
def wisp(real_node: RealNode, request: pytest.FixtureRequest) -> Iterator[Wisp]:
    """The chart installed once for the session's modules; uninstalled (and checked) at its end."""
    installed = wisp_on(real_node, helm_major=int(os.environ.get("WISP_HELM_MAJOR", "3"))).install()
    request.config.stash[_INSTALLED] = installed
    yield installed
    del request.config.stash[_INSTALLED]
    left = installed.uninstall()
    assert not left, f"helm uninstall left wisp objects behind: {left}"


@pytest.fixture(scope="module", autouse=True)
def _functions_do_not_outlive_their_module(request: pytest.FixtureRequest) -> Iterator[None]:
    """Modules share the session's install and its functions namespace: what one applied must
    not be found by the next under the same name (a Function left at ``min: 1`` has pods)."""
    yield
    if (installed := request.config.stash.get(_INSTALLED, None)) is not None:
        installed.forget_functions()


@pytest.fixture
def restricted(node_kubectl: Kubectl) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    node_kubectl("create", "namespace", name)
    node_kubectl("label", "namespace", name, "pod-security.kubernetes.io/enforce=restricted")
    yield name
    node_kubectl("delete", "namespace", name, "--wait=false")
