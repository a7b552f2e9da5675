"""What a Function's pods may reach, and who may reach them: ``spec.network`` (Lambda's VpcConfig).

The rules keep NetworkPolicy's own shape (``to``/``from`` peers with ``ipBlock``,
``namespaceSelector``, ``podSelector``; ``ports``), so they read as Kubernetes users know them.
``egress`` set (even empty): the pods reach only DNS and what it lists. ``ingress``: callers
allowed besides the gateway, which is always allowed. The operator renders them as the
Function's NetworkPolicy (``wisp.resources.network``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wisp.api.checks import SpecError, _int_in, _typed

MAX_RULES = 32
_PROTOCOLS = ("TCP", "UDP", "SCTP")


@dataclass(frozen=True)
class NetworkSpec:
    """``egress`` None: egress is not restricted by the Function (the namespace's baseline holds)."""

    egress: tuple[Mapping[str, Any], ...] | None = None
    ingress: tuple[Mapping[str, Any], ...] = ()


def _cidr(value: Any, path: str) -> str:
    text = _typed(value, str, path, "a CIDR such as 10.0.0.0/8")
    try:
        return str(ipaddress.ip_network(text, strict=True))
    except ValueError as exc:
        raise SpecError(path, f"{text!r} is not a CIDR: {exc}") from None


def _selector(value: Any, path: str) -> dict[str, Any]:
    _typed(value, Mapping, path, "a label selector (matchLabels, matchExpressions)")
    unknown = set(value) - {"matchLabels", "matchExpressions"}
    if unknown:
        raise SpecError(
            f"{path}.{sorted(unknown)[0]}", "unknown field: a selector has matchLabels, matchExpressions"
        )
    labels = _typed(value.get("matchLabels") or {}, Mapping, f"{path}.matchLabels", "a map")
    for key, label in labels.items():
        _typed(label, str, f"{path}.matchLabels[{key}]", "a string")
    _typed(value.get("matchExpressions") or [], list, f"{path}.matchExpressions", "a list")
    return dict(value)


def _peer(value: Any, path: str) -> dict[str, Any]:
    _typed(value, Mapping, path, "an object (ipBlock, namespaceSelector, podSelector)")
    unknown = set(value) - {"ipBlock", "namespaceSelector", "podSelector"}
    if unknown:
        raise SpecError(
            f"{path}.{sorted(unknown)[0]}",
            "unknown field: a peer has ipBlock, namespaceSelector, podSelector",
        )
    if "ipBlock" in value:
        if len(value) != 1:
            raise SpecError(path, "ipBlock cannot be combined with a selector")
        block = _typed(value["ipBlock"], Mapping, f"{path}.ipBlock", "an object")
        cidr = _cidr(block.get("cidr"), f"{path}.ipBlock.cidr")
        excepts = _typed(block.get("except") or [], list, f"{path}.ipBlock.except", "a list of CIDRs")
        parsed: dict[str, Any] = {"cidr": cidr}
        if excepts:
            parsed["except"] = [_cidr(c, f"{path}.ipBlock.except[{i}]") for i, c in enumerate(excepts)]
        return {"ipBlock": parsed}
    if not value:
        raise SpecError(path, "must set ipBlock, namespaceSelector or podSelector")
    return {
        key: _selector(value[key], f"{path}.{key}")
        for key in ("namespaceSelector", "podSelector")
        if key in value
    }


def _port(value: Any, path: str) -> dict[str, Any]:
    _typed(value, Mapping, path, "an object (port, protocol, endPort)")
    port: dict[str, Any] = {"protocol": value.get("protocol", "TCP")}
    if port["protocol"] not in _PROTOCOLS:
        raise SpecError(f"{path}.protocol", f"Unsupported value {port['protocol']!r}: one of TCP, UDP, SCTP")
    if "port" in value:
        port["port"] = _int_in(value["port"], f"{path}.port", 1, 65535)
    if "endPort" in value:
        if "port" not in value:
            raise SpecError(f"{path}.endPort", "needs port")
        port["endPort"] = _int_in(value["endPort"], f"{path}.endPort", port["port"], 65535)
    return port


def _rules(value: Any, path: str, peers_key: str) -> tuple[Mapping[str, Any], ...]:
    items = _typed(value, list, path, "a list of rules")
    if len(items) > MAX_RULES:
        raise SpecError(path, f"must have at most {MAX_RULES} items")
    rules = []
    for i, item in enumerate(items):
        at = f"{path}[{i}]"
        _typed(item, Mapping, at, f"an object ({peers_key}, ports)")
        unknown = set(item) - {peers_key, "ports"}
        if unknown:
            raise SpecError(f"{at}.{sorted(unknown)[0]}", f"unknown field: a rule has {peers_key}, ports")
        rule: dict[str, Any] = {}
        peers = _typed(item.get(peers_key) or [], list, f"{at}.{peers_key}", "a list of peers")
        if peers:
            rule[peers_key] = [_peer(p, f"{at}.{peers_key}[{j}]") for j, p in enumerate(peers)]
        ports = _typed(item.get("ports") or [], list, f"{at}.ports", "a list of ports")
        if ports:
            rule["ports"] = [_port(p, f"{at}.ports[{j}]") for j, p in enumerate(ports)]
        if not rule:
            raise SpecError(at, f"must set {peers_key} or ports (an empty rule would allow everything)")
        rules.append(rule)
    return tuple(rules)


def parse_network(network: Any) -> NetworkSpec | None:
    if network is None:
        return None
    _typed(network, Mapping, "spec.network", "an object (egress, ingress)")
    egress = network.get("egress")
    return NetworkSpec(
        egress=None if egress is None else _rules(egress, "spec.network.egress", "to"),
        ingress=_rules(network.get("ingress") or [], "spec.network.ingress", "from"),
    )
