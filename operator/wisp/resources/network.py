"""The NetworkPolicy of a Function's pods (``spec.network``, Lambda's VpcConfig).

Ingress: the gateway's pods (always), plus what ``spec.network.ingress`` declares. Egress, when
``spec.network.egress`` is set: DNS (port 53, UDP and TCP, to anywhere: cluster DNS, node-local
caches and upstream resolvers alike), the gateway's invocation port (calling another Function
through the gateway is the platform's own path, and the gateway checks those calls itself),
plus what it declares. NetworkPolicies add up, so the chart's namespace baseline
(deny-by-default, ``networkPolicy.denyByDefault``, which allows the same DNS and gateway) and
this one together allow exactly the union.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wisp.api.function import Function
from wisp.resources.names import Names, child_metadata, selector_labels

DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


@dataclass(frozen=True)
class GatewayPeer:
    """Where the gateway's pods are: their namespace, labels and invocation port (from the chart)."""

    namespace: str = "wisp-system"
    labels: Mapping[str, str] = field(
        default_factory=lambda: {"app.kubernetes.io/name": "wisp", "app.kubernetes.io/component": "gateway"}
    )
    port: int = 8080  # the pods' port, not the Service's: policies see the pod after the Service

    def as_peer(self) -> dict[str, Any]:
        return {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": self.namespace}},
            "podSelector": {"matchLabels": dict(self.labels)},
        }

    def egress_rule(self) -> dict[str, Any]:
        """To the gateway's invocation port, and none of its other ports (the admin port's)."""
        return {"to": [self.as_peer()], "ports": [{"protocol": "TCP", "port": self.port}]}


def make_network_policy(fn: Function, gateway: GatewayPeer) -> dict[str, Any] | None:
    """The policy, or None when the Function declares no ``spec.network``."""
    network = fn.spec.network
    if network is None:
        return None
    spec: dict[str, Any] = {
        "podSelector": {"matchLabels": selector_labels(fn)},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": [gateway.as_peer()]}, *(dict(rule) for rule in network.ingress)],
    }
    if network.egress is not None:
        spec["policyTypes"].append("Egress")
        declared = (dict(rule) for rule in network.egress)
        spec["egress"] = [{"ports": DNS_PORTS}, gateway.egress_rule(), *declared]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": child_metadata(fn, Names.of(fn).network_policy),
        "spec": spec,
    }
