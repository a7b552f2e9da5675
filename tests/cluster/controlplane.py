"""A real Kubernetes control plane on loopback for the tests: etcd, kube-apiserver and
kube-controller-manager as local processes, with generated certificates and kubeconfigs.

The binaries come from ``build-controlplane.sh`` (pinned upstream release, built once and cached
under ``~/.cache/wisp/k8s/<version>``); etcd is Debian's ``etcd-server``. Processes are started
once per test session and stopped by pid. Usable on its own:
``python -m tests.cluster.controlplane`` starts one and prints its kubeconfig.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.cluster.pki import CertificateAuthority, KeyPair, service_account_keys

HERE = Path(__file__).resolve().parent
BUILD_SCRIPT = HERE / "build-controlplane.sh"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"


class ControlPlaneUnavailable(RuntimeError):
    """The binaries could not be provided (no Go, no cache, no WISP_K8S_ASSETS)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def binaries_dir() -> Path:
    """Where kube-apiserver/kube-controller-manager/kubectl are (building them if needed)."""
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, check=False, timeout=3600
    )
    if proc.returncode != 0:
        raise ControlPlaneUnavailable(proc.stderr.strip().splitlines()[-1:] or proc.stderr)
    return Path(proc.stdout.strip().splitlines()[-1])


def etcd_binary() -> str:
    for candidate in (os.environ.get("WISP_ETCD"), shutil.which("etcd"), "/usr/bin/etcd"):
        if candidate and Path(candidate).exists():
            return candidate
    raise ControlPlaneUnavailable("etcd not found: install Debian's etcd-server (make deps)")


def write_kubeconfig(path: Path, server: str, ca: Path, client: KeyPair, user: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "wisp-test", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [
            {"name": user, "user": {"client-certificate": str(client.cert), "client-key": str(client.key)}}
        ],
        "contexts": [{"name": "wisp-test", "context": {"cluster": "wisp-test", "user": user}}],
        "current-context": "wisp-test",
    }
    path.write_text(yaml.safe_dump(config))
    return path


@dataclass
class ControlPlane:
    workdir: Path
    bin_dir: Path
    with_controller_manager: bool = True
    # A real node (tests/node/) needs the API server on an address its pods reach (the node's
    # bridge), the `kubernetes` Service's endpoints on it, Node authorization and a client
    # certificate for calls to the kubelet (logs, exec, port-forward).
    address: str = "127.0.0.1"
    service_cidr: str = "10.96.0.0/16"
    for_node: bool = False
    controller_manager_args: tuple[str, ...] = ()  # more flags, after (and so over) the defaults
    server: str = ""
    ca: CertificateAuthority | None = None
    kubeconfig: Path = field(default_factory=Path)
    ca_file: Path = field(default_factory=Path)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def kubectl_binary(self) -> str:
        own = self.bin_dir / "kubectl"
        return str(own) if own.exists() else (shutil.which("kubectl") or "kubectl")

    def start(self) -> ControlPlane:
        pki = self.workdir / "pki"
        pki.mkdir(parents=True, exist_ok=True)
        ca = CertificateAuthority(pki, "ca")
        self.ca = ca
        service_ip = str(next(ipaddress.ip_network(self.service_cidr).hosts()))
        front = CertificateAuthority(pki, "front-proxy-ca")
        serving = ca.issue(
            "apiserver",
            "kube-apiserver",
            client=False,
            server_names=(
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
            server_ips=tuple(dict.fromkeys(("127.0.0.1", self.address, service_ip))),
        )
        admin = ca.issue("admin", "wisp-test-admin", organization="system:masters")
        kcm = ca.issue("controller-manager", "system:kube-controller-manager")
        proxy = front.issue("front-proxy-client", "front-proxy-client")
        sa = service_account_keys(pki)
        self.ca_file = ca.pair.cert

        etcd_port, etcd_peer, api_port, kcm_port = (free_port() for _ in range(4))
        self.server = f"https://{self.address}:{api_port}"
        self.kubeconfig = write_kubeconfig(
            self.workdir / "admin.kubeconfig", self.server, ca.pair.cert, admin, "admin"
        )
        kcm_config = write_kubeconfig(self.workdir / "kcm.kubeconfig", self.server, ca.pair.cert, kcm, "kcm")

        etcd_url = f"http://127.0.0.1:{etcd_port}"
        node_args: list[str] = []
        if self.for_node:
            kubelet_client = ca.issue(
                "apiserver-kubelet-client", "kube-apiserver-kubelet-client", organization="system:masters"
            )
            node_args = [
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",
                f"--kubelet-client-certificate={kubelet_client.cert}",
                f"--kubelet-client-key={kubelet_client.key}",
            ]
        else:
            node_args = ["--authorization-mode=RBAC"]
        if self.address.startswith("127."):
            # A loopback advertise address is not allowed in the `kubernetes` Service's endpoints.
            node_args.append("--endpoint-reconciler-type=none")
        self._spawn(
            "etcd",
            [
                etcd_binary(),
                "--name",
                "wisp-test",
                "--data-dir",
                str(self.workdir / "etcd"),
                "--listen-client-urls",
                etcd_url,
                "--advertise-client-urls",
                etcd_url,
                "--listen-peer-urls",
                f"http://127.0.0.1:{etcd_peer}",
                "--initial-advertise-peer-urls",
                f"http://127.0.0.1:{etcd_peer}",
                "--initial-cluster",
                f"wisp-test=http://127.0.0.1:{etcd_peer}",
                "--listen-metrics-urls",
                "",
                "--log-level",
                "warn",
            ],
        )
        self._spawn(
            "kube-apiserver",
            [
                str(self.bin_dir / "kube-apiserver"),
                f"--etcd-servers={etcd_url}",
                f"--bind-address={self.address}",
                f"--advertise-address={self.address}",
                f"--secure-port={api_port}",
                f"--tls-cert-file={serving.cert}",
                f"--tls-private-key-file={serving.key}",
                f"--client-ca-file={ca.pair.cert}",
                *node_args,
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={sa.cert}",
                f"--service-account-signing-key-file={sa.key}",
                f"--api-audiences={SERVICE_ACCOUNT_ISSUER}",
                f"--service-cluster-ip-range={self.service_cidr}",
                f"--requestheader-client-ca-file={front.pair.cert}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={proxy.cert}",
                f"--proxy-client-key-file={proxy.key}",
                "--allow-privileged=true",
                "--kubelet-preferred-address-types=InternalIP",
                "--profiling=false",
                # Watch caches make watches cheap; one CPU core is plenty for the tests.
                "--max-requests-inflight=800",
                "--max-mutating-requests-inflight=400",
            ],
        )
        self._wait_ready(f"{self.server}/readyz", "kube-apiserver", timeout=90)
        if self.with_controller_manager:
            self._kcm_argv = [
                str(self.bin_dir / "kube-controller-manager"),
                f"--kubeconfig={kcm_config}",
                f"--authentication-kubeconfig={kcm_config}",
                f"--authorization-kubeconfig={kcm_config}",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={sa.key}",
                f"--root-ca-file={ca.pair.cert}",
                f"--cluster-signing-cert-file={ca.pair.cert}",
                f"--cluster-signing-key-file={ca.pair.key}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={kcm_port}",
                f"--service-cluster-ip-range={self.service_cidr}",
                # A real node's not-ready taint is lifted by the node lifecycle controller.
                "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller"
                + ("" if self.for_node else ",-nodelifecycle"),
                "--concurrent-deployment-syncs=10",
                "--concurrent-replicaset-syncs=10",
                "--concurrent-service-endpoint-syncs=10",
                "--endpointslice-updates-batch-period=0s",
                "--profiling=false",
                # Its metrics (work queues, client requests) for the benches, on loopback only.
                "--authorization-always-allow-paths=/healthz,/readyz,/livez,/metrics",
                *self.controller_manager_args,
            ]
            self._kcm_health = f"https://127.0.0.1:{kcm_port}/healthz"
            self._spawn("kube-controller-manager", self._kcm_argv)
            self._wait_ready(self._kcm_health, "kube-controller-manager", timeout=60, insecure=True)
        return self

    @property
    def controller_manager_metrics(self) -> str:
        """The URL of kube-controller-manager's Prometheus metrics (TLS, its own certificate)."""
        return self._kcm_health.removesuffix("/healthz") + "/metrics"

    def restart_controller_manager(self, *extra: str) -> None:
        """kube-controller-manager stopped and started again with ``extra`` flags after its own
        (a bench raising its client's rate once what it measures is done, so its backlog clears)."""
        proc = self.processes.pop("kube-controller-manager")
        proc.terminate()
        proc.wait(timeout=30)
        self._spawn("kube-controller-manager", [*self._kcm_argv, *extra])
        self._wait_ready(self._kcm_health, "kube-controller-manager", timeout=60, insecure=True)

    def _spawn(self, name: str, argv: list[str]) -> None:
        log = (self.workdir / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def _wait_ready(self, url: str, name: str, *, timeout: float, insecure: bool = False) -> None:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        if insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        deadline = time.monotonic() + timeout
        delay = 0.05
        while time.monotonic() < deadline:
            proc = self.processes[name]
            if proc.poll() is not None:
                raise ControlPlaneUnavailable(f"{name} exited: {self.log_tail(name)}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(url, context=context, timeout=2) as resp,
            ):
                if resp.status == 200:
                    return
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)
        raise ControlPlaneUnavailable(f"{name} not ready after {timeout}s: {self.log_tail(name)}")

    def log_tail(self, name: str, lines: int = 20) -> str:
        path = self.workdir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        for name in reversed(list(self.processes)):
            proc = self.processes[name]
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.processes.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.processes.clear()


def controller_rate_flags(qps: int | None) -> tuple[str, ...]:
    """kube-controller-manager's client rate flags: ``qps`` requests a second, bursts of twice
    that; none (its default, 20) for None or 0."""
    return () if not qps else (f"--kube-api-qps={qps}", f"--kube-api-burst={2 * qps}")


def start_control_plane(
    *,
    with_controller_manager: bool = True,
    workdir: Path | None = None,
    address: str = "127.0.0.1",
    service_cidr: str = "10.96.0.0/16",
    for_node: bool = False,
    controller_manager_args: tuple[str, ...] = (),
) -> ControlPlane:
    workdir = workdir or Path(tempfile.mkdtemp(prefix="wisp-k8s-"))
    plane = ControlPlane(
        workdir=workdir,
        bin_dir=binaries_dir(),
        with_controller_manager=with_controller_manager,
        address=address,
        service_cidr=service_cidr,
        for_node=for_node,
        controller_manager_args=controller_manager_args,
    )
    try:
        return plane.start()
    except BaseException:
        plane.stop()
        raise


if __name__ == "__main__":
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)  # so sigwait, not the default, gets them
    plane = start_control_plane()
    print(f"export KUBECONFIG={plane.kubeconfig}", flush=True)
    try:
        signal.sigwait(stop_signals)
    finally:
        plane.stop()
        sys.exit(0)
