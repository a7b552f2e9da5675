"""Pod addresses for the test node agent: a network namespace joined to the host by a veth.

The API server refuses loopback addresses in Endpoints and EndpointSlices, so pods cannot simply
listen on 127.x. Instead every pod gets its own address in a 10.x.0.0/16 (the first x in
200-249 that no interface of the host uses, so concurrent runs never share a subnet) on the
namespace's end of a veth pair; the host end carries 10.x.0.1, so the gateway (on the host)
reaches each pod over a real link, as it would reach a pod IP in a cluster. The namespace and its
addresses belong to the test run and are removed when it ends; those of a run that was killed
before it could clean up are removed by the next one. Needs root (CAP_NET_ADMIN) and iproute2.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from dataclasses import dataclass, field

NAME_PREFIX = "wisp-pods-"


def _ip_output(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False).stdout


def _reap_stale_networks() -> None:
    """Remove the pod networks of test runs whose process is gone (killed before cleanup)."""
    for line in _ip_output("netns", "list").splitlines():
        name = line.split(" ", 1)[0]
        pid = name.removeprefix(NAME_PREFIX)
        if name.startswith(NAME_PREFIX) and pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            PodNetwork(name=name, pid=int(pid)).teardown()


def _free_prefix() -> str:
    """The first 10.x (x in 200-249) whose /16 no host interface carries."""
    used = _ip_output("-o", "-4", "addr", "show")
    for x in range(200, 250):
        if f" 10.{x}." not in used:
            return f"10.{x}"
    raise PodNetworkUnavailable("no free 10.x.0.0/16 for the pod network (x in 200-249)")


class PodNetworkUnavailable(RuntimeError):
    pass


def _ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise PodNetworkUnavailable(f"ip {' '.join(args)}: {proc.stderr.strip()}")


@dataclass
class PodNetwork:
    name: str = field(default_factory=lambda: f"{NAME_PREFIX}{os.getpid()}")
    pid: int = field(default_factory=os.getpid)
    prefix: str = ""  # chosen by setup()
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(10))

    @property
    def host_link(self) -> str:
        return f"wph{self.pid % 100000}"

    @property
    def pod_link(self) -> str:
        return f"wpp{self.pid % 100000}"

    @property
    def host_address(self) -> str:
        """The host's end of the pod network (the node's address)."""
        return f"{self.prefix}.0.1"

    @property
    def wrapper(self) -> tuple[str, ...]:
        """Prefix that runs a command inside the pods' namespace."""
        return ("ip", "netns", "exec", self.name)

    def setup(self) -> PodNetwork:
        if shutil.which("ip") is None:
            raise PodNetworkUnavailable("iproute2 (ip) is not installed")
        self.teardown()
        _reap_stale_networks()
        self.prefix = self.prefix or _free_prefix()
        _ip("netns", "add", self.name)
        try:
            _ip("link", "add", self.host_link, "type", "veth", "peer", "name", self.pod_link)
            _ip("link", "set", self.pod_link, "netns", self.name)
            _ip("addr", "add", f"{self.host_address}/16", "dev", self.host_link)
            _ip("link", "set", self.host_link, "up")
            _ip("netns", "exec", self.name, "ip", "link", "set", "lo", "up")
            _ip("netns", "exec", self.name, "ip", "link", "set", self.pod_link, "up")
        except PodNetworkUnavailable:
            self.teardown()
            raise
        return self

    def allocate(self) -> str:
        """A new pod address, configured in the namespace."""
        n = next(self._counter)
        address = f"{self.prefix}.{n // 250}.{n % 250 + 2}"
        _ip("netns", "exec", self.name, "ip", "addr", "add", f"{address}/16", "dev", self.pod_link)
        return address

    def teardown(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, check=False)
        subprocess.run(["ip", "link", "del", self.host_link], capture_output=True, check=False)
