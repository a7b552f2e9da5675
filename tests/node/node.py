"""A real Kubernetes node for the tests: containerd 2 + runc + the CNI bridge plugin + an upstream
kubelet, kube-scheduler, kube-proxy and CoreDNS, against a control plane of the suite's own kind
(``tests/cluster/controlplane.py``) whose API server listens on the node's bridge.

Everything the node makes on the host is the test run's and goes when it stops:

* network: a bridge ``wispnode0`` with 10.250.0.1/24 (the node IP; pods get 10.250.0.10-250),
  the Service range 10.251.0.0/16 routed onto it so that no ClusterIP packet leaves the machine,
  a FORWARD rule that keeps pods from routing anywhere but the bridge, and kube-proxy's chains;
* a private mount namespace holding containerd, its shims, runc and the kubelet: every overlay,
  tmpfs and network-namespace mount of the node lives and dies with it, and the kernel tunables
  the kubelet insists on writing (vm.overcommit_memory, kernel.panic, ...) are shadowed there by
  files, so the host's are never changed;
* cgroups under ``/wisp-node`` in every cgroup-v1 hierarchy.

One node at a time per machine: a session holds ``/run/wisp-node.lock``; a run that was killed
before it could stop its node left its state directory behind, and the next run, once it holds
the lock, tears that node down from what the directory recorded (pids, never process names).
Needs root, cgroup v1 or v2 with cgroupfs, the binaries of ``build-node.sh`` and the Debian
packages runc, containernetworking-plugins and iptables.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import yaml

from tests.cluster.controlplane import ControlPlane, start_control_plane, write_kubeconfig

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BUILD_SCRIPT = HERE / "build-node.sh"
NETPOL_BUILD_SCRIPT = HERE / "build-netpol.sh"
IMAGES_SCRIPT = ROOT / "tools" / "build-images.sh"
CACHE = Path(os.environ.get("WISP_CACHE_DIR", Path.home() / ".cache" / "wisp"))
STATE = CACHE / "node" / "run"  # the running node's state; gone when it is torn down
LOCK = Path("/run/wisp-node.lock")
IMAGES_LOCK = Path("/run/wisp-images.lock")

NODE_NAME = "wisp-node"
BRIDGE = "wispnode0"
NODE_IP = "10.250.0.1"
POD_CIDR = "10.250.0.0/24"
SERVICE_CIDR = "10.251.0.0/16"
CGROUP_ROOT = "wisp-node"
PAUSE_IMAGE = "localhost/wisp/pause:1"
KUBELET_PORT = 10250
PROXY_HEALTHZ = f"{NODE_IP}:10256"
NO_EGRESS = [
    "FORWARD",
    "-i",
    BRIDGE,
    "!",
    "-o",
    BRIDGE,
    "-m",
    "comment",
    "--comment",
    "wisp-node",
    "-j",
    "DROP",
]
# Values the kubelet's kernel-tunable check wants; shadowed inside the node's mount namespace.
SYSCTLS = {
    "vm/overcommit_memory": "1",
    "vm/panic_on_oom": "0",
    "kernel/panic": "10",
    "kernel/panic_on_oops": "1",
    "kernel/keys/root_maxkeys": "1000000",
    "kernel/keys/root_maxbytes": "25000000",
}


# What the NetworkPolicy engine (kube-router's policy controller) makes in the host's filter table
# and ipsets; removed by name prefix when it stops (its own --cleanup-config would also flush IPVS
# and routes of the other kube-router controllers, which the node does not run).
NETPOL_CHAINS = ("KUBE-ROUTER-", "KUBE-POD-FW-", "KUBE-NWPLCY-")
NETPOL_IPSETS = ("KUBE-SRC-", "KUBE-DST-", "inet6:KUBE-SRC-", "inet6:KUBE-DST-")


class NodeUnavailable(RuntimeError):
    """The node cannot run here (not root, a binary or package missing, a build failed)."""


def _run(*argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        raise NodeUnavailable(f"{' '.join(argv)}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def node_binaries() -> Path:
    """Where kubelet, kube-proxy, containerd, ... are (building them once if needed)."""
    proc = subprocess.run(
        ["bash", str(BUILD_SCRIPT)], capture_output=True, text=True, check=False, timeout=3600
    )
    if proc.returncode != 0:
        raise NodeUnavailable(f"build-node.sh failed: {proc.stderr.strip()[-2000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


def netpol_engine() -> Path:
    """The NetworkPolicy engine's binary (kube-router, built once if needed)."""
    if not shutil.which("ipset"):
        raise NodeUnavailable("missing: ipset, which the NetworkPolicy engine needs (make deps)")
    proc = subprocess.run(
        ["bash", str(NETPOL_BUILD_SCRIPT)], capture_output=True, text=True, check=False, timeout=3600
    )
    if proc.returncode != 0:
        raise NodeUnavailable(f"build-netpol.sh failed: {proc.stderr.strip()[-2000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


def node_images() -> Path:
    """The OCI archives of ``make images`` (built with buildah from Debian-made bases if needed).

    Each checkout writes its own archives, and one build runs at a time on the machine: two
    checkouts building the same tag in the same buildah storage would otherwise push each other's
    image.
    """
    checkout = hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
    env = {
        "WISP_IMAGES_OUT": str(CACHE / "images" / f"oci-{checkout}"),
        **os.environ,
        "WISP_IMAGE_BUILDER": "buildah",
        "WISP_BASES": "debian",
    }
    IMAGES_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with IMAGES_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        proc = subprocess.run(
            ["bash", str(IMAGES_SCRIPT)], capture_output=True, text=True, check=False, timeout=3600, env=env
        )
    if proc.returncode != 0:
        raise NodeUnavailable(f"build-images.sh failed: {proc.stderr.strip()[-2000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


def missing_prerequisites() -> list[str]:
    missing = [] if os.geteuid() == 0 else ["root"]
    for tool in ("runc", "iptables", "ip", "unshare", "nsenter", "mmdebstrap", "buildah"):
        if not shutil.which(tool):
            missing.append(tool)
    if not Path("/usr/lib/cni/bridge").exists():
        missing.append("containernetworking-plugins")
    return missing


def _alive(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return False
    return fields[0] != "Z"


def _stop_pid(pid: int, grace: float = 10) -> None:
    if not _alive(pid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _cgroup_dirs() -> list[Path]:
    base = Path("/sys/fs/cgroup")
    dirs = [c / CGROUP_ROOT for c in base.iterdir() if (c / CGROUP_ROOT).is_dir()] if base.exists() else []
    if (base / CGROUP_ROOT).is_dir():  # cgroup v2
        dirs.append(base / CGROUP_ROOT)
    return dirs


def teardown_state(state: Path, bin_dir: Path | None = None) -> None:
    """Remove every trace of the node recorded in ``state`` (also one of a killed run)."""
    pids = state / "pids"

    def stop(name: str) -> None:
        f = pids / f"{name}.pid"
        if f.exists():
            with contextlib.suppress(ValueError):
                _stop_pid(int(f.read_text()))
            f.unlink()

    stop("kubelet")
    crictl = bin_dir / "crictl" if bin_dir else None
    socket = state / "run" / "containerd.sock"
    if crictl and crictl.exists() and socket.exists():
        # CNI DEL for every sandbox: veths and addresses are released.
        _run(str(crictl), f"--runtime-endpoint=unix://{socket}", "rmp", "-a", "-f", check=False, timeout=60)
    stop("netpol")
    drop_netpol_rules()
    stop("kube-proxy")
    proxy = bin_dir / "kube-proxy" if bin_dir else None
    if proxy and proxy.exists():
        _run(str(proxy), "--cleanup", check=False)
    for table in ("iptables", "ip6tables"):
        # --cleanup leaves KUBE-FIREWALL, which it counts as the kubelet's.
        for chain in ("INPUT", "OUTPUT"):
            while _run(table, "-D", chain, "-j", "KUBE-FIREWALL", check=False).returncode == 0:
                pass
        _run(table, "-F", "KUBE-FIREWALL", check=False)
        _run(table, "-X", "KUBE-FIREWALL", check=False)
    for name in ("coredns", "kube-scheduler", "containerd"):
        stop(name)
    # Shims outlive containerd: find ours by the socket path in their command line, stop by pid.
    for proc_dir in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc_dir / "cmdline").read_bytes()
            exe = os.readlink(proc_dir / "exe")
        except OSError:
            continue
        if exe.endswith("containerd-shim-runc-v2") and str(socket).encode() in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc_dir.name), signal.SIGKILL)
    stop("nsholder")  # every mount of the node goes with its namespace
    # Container processes left in the node's cgroups, then the cgroups themselves.
    for _ in range(50):
        leftover = False
        for d in _cgroup_dirs():
            for procs in d.rglob("cgroup.procs"):
                with contextlib.suppress(OSError):
                    for pid in procs.read_text().split():
                        leftover = True
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(int(pid), signal.SIGKILL)
        if not leftover:
            break
        time.sleep(0.1)
    for d in _cgroup_dirs():
        for sub in sorted((p for p in d.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                sub.rmdir()
        with contextlib.suppress(OSError):
            d.rmdir()
    while _run("iptables", "-D", *NO_EGRESS, check=False).returncode == 0:
        pass
    _run("ip", "link", "del", BRIDGE, check=False)
    _drop_empty_nft_tables()
    for mount_point in ("/run/containerd", "/var/lib/cni"):  # made for the namespace's mounts
        with contextlib.suppress(OSError):
            Path(mount_point).rmdir()  # only if empty: another runtime's stays
    for name in ("kube-controller-manager", "kube-apiserver", "etcd"):
        stop(f"cp-{name}")
    # What a killed run's clients left running against the node (kubectl wait, port-forward):
    # only processes naming this state directory on their command line.
    for proc_dir in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError, ValueError):
            pid = int(proc_dir.name)
            if pid != os.getpid() and str(state).encode() in (proc_dir / "cmdline").read_bytes():
                _stop_pid(pid, grace=2)
    shutil.rmtree(state, ignore_errors=True)


def drop_netpol_rules() -> None:
    """Remove the NetworkPolicy engine's jumps, chains and ipsets (none if it never ran)."""
    saved = _run("iptables-save", "-t", "filter", check=False).stdout
    ours = [
        line[1:].split()[0]
        for line in saved.splitlines()
        if line.startswith(":") and line[1:].startswith(NETPOL_CHAINS)
    ]
    for line in saved.splitlines():
        rule = shlex.split(line)
        jumps_to = rule[rule.index("-j") + 1] if "-j" in rule[:-1] else ""
        if (
            rule[:1] == ["-A"]
            and rule[1] in ("INPUT", "FORWARD", "OUTPUT")
            and jumps_to.startswith(NETPOL_CHAINS)
        ):
            _run("iptables", "-t", "filter", "-D", *rule[1:], check=False)
    for chain in ours:
        _run("iptables", "-t", "filter", "-F", chain, check=False)
    for chain in ours:
        _run("iptables", "-t", "filter", "-X", chain, check=False)
    if shutil.which("ipset"):
        for name in _run("ipset", "list", "-n", check=False).stdout.split():
            if name.startswith(NETPOL_IPSETS):
                _run("ipset", "destroy", name, check=False)


def _drop_empty_nft_tables() -> None:
    """iptables-nft made these tables on first use; drop them again if no rule is left in them."""
    if not shutil.which("nft"):
        return
    for family, table in (
        ("ip", "filter"),
        ("ip", "nat"),
        ("ip", "mangle"),
        ("ip6", "filter"),
        ("ip6", "nat"),
    ):
        out = _run("nft", "-j", "list", "table", family, table, check=False)
        if out.returncode != 0:
            continue
        with contextlib.suppress(ValueError, KeyError):
            if not any("rule" in obj for obj in json.loads(out.stdout)["nftables"]):
                _run("nft", "delete", "table", family, table, check=False)


def leftovers() -> list[str]:
    """What of a node is still on the host (empty after a clean teardown)."""
    found = []
    if _run("ip", "link", "show", BRIDGE, check=False).returncode == 0:
        found.append(f"interface {BRIDGE}")
    found += [f"cgroup {d}" for d in _cgroup_dirs()]
    rules = _run("iptables-save", check=False).stdout
    found += [f"iptables: {line}" for line in rules.splitlines() if "KUBE-" in line or "wisp-node" in line]
    if shutil.which("ipset"):
        sets = _run("ipset", "list", "-n", check=False).stdout.split()
        found += [f"ipset {name}" for name in sets if name.startswith(NETPOL_IPSETS)]
    mounts = Path("/proc/self/mountinfo").read_text()
    found += [f"mount: {line}" for line in mounts.splitlines() if str(STATE) in line]
    for proc_dir in Path("/proc").glob("[0-9]*"):
        with contextlib.suppress(OSError):
            if str(STATE).encode() in (proc_dir / "cmdline").read_bytes() and _alive(int(proc_dir.name)):
                found.append(f"process {proc_dir.name}")
    if STATE.exists():
        found.append(f"state directory {STATE}")
    return found


@dataclass
class RealNode:
    bin_dir: Path
    images_dir: Path
    state: Path = STATE
    plane: ControlPlane | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _lock: IO[str] | None = None

    # -- paths ---------------------------------------------------------------------------------
    @property
    def socket(self) -> Path:
        return self.state / "run" / "containerd.sock"

    @property
    def kubeconfig(self) -> Path:
        assert self.plane is not None
        return self.plane.kubeconfig

    def log(self, name: str) -> Path:
        return self.state / "logs" / f"{name}.log"

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.log(name)
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, lock_timeout: float = 1800) -> RealNode:
        LOCK.parent.mkdir(parents=True, exist_ok=True)
        self._lock = LOCK.open("w")
        deadline = time.monotonic() + lock_timeout
        while True:
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise NodeUnavailable("another test run holds the node for too long") from None
                time.sleep(1)
        if self.state.exists() or leftovers():
            teardown_state(self.state, self.bin_dir)  # a run killed before it could clean up
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        for sub in ("pids", "logs", "run", "cni", "etc", "ns/var-log", "ns/var-lib-cni", "sysctl", "kubelet"):
            (self.state / sub).mkdir(parents=True, exist_ok=True)
        self._network()
        self.plane = start_control_plane(
            workdir=self.state / "cp", address=NODE_IP, service_cidr=SERVICE_CIDR, for_node=True
        )
        for name, proc in self.plane.processes.items():  # so that a killed run's next one stops them
            (self.state / "pids" / f"cp-{name}.pid").write_text(str(proc.pid))
        self._mount_namespace()
        self._containerd()
        self._import_images()
        self._kubelet()
        self._kube_proxy()
        self._coredns()
        self._scheduler()
        self._wait_node_ready()

    def stop(self) -> list[str]:
        """Tear the node down; what it left behind on the host (``leftovers``), looked at while
        the machine's node lock is still held, so a node started next is not taken for it."""
        for proc in self.processes.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
        teardown_state(self.state, self.bin_dir)
        for proc in self.processes.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        self.processes.clear()
        if self.plane is not None:
            self.plane.stop()
        left = leftovers()
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None
        return left

    # -- pieces --------------------------------------------------------------------------------
    def _spawn(self, name: str, argv: list[str], *, in_namespace: bool = False) -> None:
        if in_namespace:
            holder = (self.state / "pids" / "nsholder.pid").read_text().strip()
            argv = ["nsenter", "-t", holder, "-m", f"--wd={self.state}", *argv]
        log = self.log(name).open("ab")
        env = {**os.environ, "PATH": f"{self.bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        log.close()
        self.processes[name] = proc
        (self.state / "pids" / f"{name}.pid").write_text(str(proc.pid))

    def _wait(self, what: str, check: object, timeout: float = 60, process: str | None = None) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if callable(check) and check():
                return
            if process and self.processes[process].poll() is not None:
                raise NodeUnavailable(f"{process} exited: {self.log_tail(process)}")
            time.sleep(0.1)
        raise NodeUnavailable(f"{what} not ready after {timeout}s: {self.log_tail(process or what)}")

    def _network(self) -> None:
        _run("ip", "link", "add", BRIDGE, "type", "bridge")
        _run("ip", "addr", "add", f"{NODE_IP}/24", "dev", BRIDGE)
        _run("ip", "link", "set", BRIDGE, "up")
        _run("ip", "route", "replace", SERVICE_CIDR, "dev", BRIDGE)  # ClusterIPs never leave
        _run("iptables", "-I", NO_EGRESS[0], "1", *NO_EGRESS[1:])  # pods route nowhere else
        # Pod -> ClusterIP -> pod is routed on the bridge (this interface only, gone with it).
        Path(f"/proc/sys/net/ipv4/conf/{BRIDGE}/forwarding").write_text("1")
        conf = {
            "cniVersion": "1.0.0",
            "name": "wisp-node",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": BRIDGE,
                    # The bridge already has the gateway address: the plugin then does not
                    # switch on global IP forwarding.
                    "isGateway": False,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [
                            [
                                {
                                    "subnet": POD_CIDR,
                                    "rangeStart": "10.250.0.10",
                                    "rangeEnd": "10.250.0.250",
                                    "gateway": NODE_IP,
                                }
                            ]
                        ],
                        "routes": [{"dst": "0.0.0.0/0", "gw": NODE_IP}],
                        "dataDir": str(self.state / "cni" / "networks"),
                    },
                }
            ],
        }
        (self.state / "etc" / "cni").mkdir(parents=True, exist_ok=True)
        (self.state / "etc" / "cni" / "10-wisp-node.conflist").write_text(json.dumps(conf, indent=2))

    def _mount_namespace(self) -> None:
        script = ["set -e", "mount --make-rprivate /"]
        for key, value in SYSCTLS.items():
            f = self.state / "sysctl" / key.replace("/", "_")
            f.write_text(value + "\n")
            script.append(f"mount --bind {f} /proc/sys/{key}")
        Path("/var/lib/cni").mkdir(parents=True, exist_ok=True)
        Path("/run/containerd").mkdir(parents=True, exist_ok=True)
        ready = self.state / "run" / "nsholder.ready"
        script += [
            # The node's host-path droppings stay in its state directory: the kubelet's
            # /var/log/pods, libcni's result cache, the shims' sockets.
            f"mount --bind {self.state / 'ns' / 'var-log'} /var/log",
            f"mount --bind {self.state / 'ns' / 'var-lib-cni'} /var/lib/cni",
            "mount -t tmpfs -o mode=0700 tmpfs /run/containerd",
            f"echo ready > {ready}",
            "exec sleep infinity",
        ]
        self._spawn(
            "nsholder",
            ["unshare", "--mount", "--propagation", "private", "--", "bash", "-c", "; ".join(script)],
        )
        self._wait("mount namespace", ready.exists, timeout=10, process="nsholder")

    def _containerd(self) -> None:
        s = self.state
        config = f"""version = 3
root = "{s}/containerd/root"
state = "{s}/containerd/state"
[grpc]
  address = "{self.socket}"
[ttrpc]
  address = "{self.socket}.ttrpc"
[metrics]
  address = ""
[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = "overlayfs"
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = "{PAUSE_IMAGE}"
  [plugins.'io.containerd.cri.v1.runtime']
    enable_selinux = false
    # Without CAP_SYS_RESOURCE (VMs, nested containers) a negative oom_score_adj is EPERM.
    restrict_oom_score_adj = true
    disable_apparmor = true
    netns_mounts_under_state_dir = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = "runc"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = "{shutil.which("runc") or "/usr/sbin/runc"}"
          Root = "{s}/run/runc"
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ["/usr/lib/cni"]
      conf_dir = "{s}/etc/cni"
      max_conf_num = 1
  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
"""
        (s / "etc" / "containerd.toml").write_text(config)
        self._spawn(
            "containerd",
            [str(self.bin_dir / "containerd"), "--config", str(s / "etc" / "containerd.toml")],
            in_namespace=True,
        )
        self._wait(
            "containerd", lambda: self._ctr("version", check=False).returncode == 0, process="containerd"
        )

    def _ctr(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return _run(
            str(self.bin_dir / "ctr"),
            f"--address={self.socket}",
            "-n",
            "k8s.io",
            *args,
            check=check,
            timeout=timeout,
        )

    def _import_images(self) -> None:
        for archive in sorted(self.images_dir.glob("*.oci.tar")):
            self._ctr("images", "import", str(archive))

    def images(self) -> list[str]:
        return self._ctr("images", "list", "-q").stdout.split()

    def _kubelet(self) -> None:
        assert self.plane is not None and self.plane.ca is not None
        pki = self.state / "pki"
        client = self.plane.ca.issue(
            "kubelet-client", f"system:node:{NODE_NAME}", organization="system:nodes"
        )
        kubeconfig = write_kubeconfig(
            self.state / "kubelet.kubeconfig", self.plane.server, self.plane.ca.pair.cert, client, "kubelet"
        )
        serving = self.plane.ca.issue(
            "kubelet-serving",
            f"system:node:{NODE_NAME}",
            client=False,
            server_names=(NODE_NAME,),
            server_ips=(NODE_IP,),
        )
        pki.mkdir(exist_ok=True)
        for controller in (
            "cpu",
            "cpuacct",
            "cpuset",
            "memory",
            "pids",
            "devices",
            "freezer",
            "blkio",
            "systemd",
            "hugetlb",
        ):
            base = Path("/sys/fs/cgroup") / controller
            if base.is_dir():
                (base / CGROUP_ROOT).mkdir(exist_ok=True)
        cpuset = Path("/sys/fs/cgroup/cpuset")
        if cpuset.is_dir():  # a v1 cpuset cgroup has no CPUs or memory nodes until given some
            for f in ("cpuset.cpus", "cpuset.mems"):
                (cpuset / CGROUP_ROOT / f).write_text((cpuset / f).read_text())
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            "failCgroupV1": False,  # 1.35+ refuses cgroup v1 hosts unless told otherwise
            "cgroupDriver": "cgroupfs",
            "cgroupRoot": f"/{CGROUP_ROOT}",
            "cgroupsPerQOS": True,
            "enforceNodeAllocatable": ["pods"],
            "oomScoreAdj": 0,  # no CAP_SYS_RESOURCE needed
            "failSwapOn": False,
            "address": NODE_IP,
            "port": KUBELET_PORT,
            "healthzPort": 0,
            "readOnlyPort": 0,
            "tlsCertFile": str(serving.cert),
            "tlsPrivateKeyFile": str(serving.key),
            "rotateCertificates": False,
            "serverTLSBootstrap": False,
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(self.plane.ca.pair.cert)},
            },
            "authorization": {"mode": "Webhook"},
            "makeIPTablesUtilChains": False,  # keep the kubelet out of the host's iptables
            "clusterDomain": "cluster.local",
            "clusterDNS": [NODE_IP],
            "resolvConf": str(self._resolv_conf()),
            # Nothing can be pulled again here: never collect images.
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "1%",
                "imagefs.available": "1%",
                "nodefs.inodesFree": "1%",
            },
            "syncFrequency": "10s",
            "fileCheckFrequency": "20s",
            "nodeStatusUpdateFrequency": "10s",
            "serializeImagePulls": False,
            "seccompDefault": False,
            "maxPods": 110,
        }
        (self.state / "etc" / "kubelet.yaml").write_text(yaml.safe_dump(config))
        self._spawn(
            "kubelet",
            [
                str(self.bin_dir / "kubelet"),
                f"--config={self.state / 'etc' / 'kubelet.yaml'}",
                f"--kubeconfig={kubeconfig}",
                f"--root-dir={self.state / 'kubelet'}",
                f"--cert-dir={pki}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={NODE_IP}",
                "--v=1",
            ],
            in_namespace=True,
        )

    def _resolv_conf(self) -> Path:
        # Pods resolve through the cluster DNS only (the kubelet adds it as their nameserver).
        path = self.state / "etc" / "resolv.conf"
        path.write_text("options ndots:1\n")
        return path

    def _client_kubeconfig(self, name: str, user: str, organization: str | None = None) -> Path:
        assert self.plane is not None and self.plane.ca is not None
        pair = self.plane.ca.issue(name, user, organization=organization)
        return write_kubeconfig(
            self.state / f"{name}.kubeconfig", self.plane.server, self.plane.ca.pair.cert, pair, name
        )

    def _kube_proxy(self) -> None:
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {
                "kubeconfig": str(self._client_kubeconfig("kube-proxy", "system:kube-proxy"))
            },
            "hostnameOverride": NODE_NAME,
            "mode": "iptables",
            "clusterCIDR": POD_CIDR,
            "detectLocalMode": "ClusterCIDR",
            "bindAddress": NODE_IP,
            "healthzBindAddress": PROXY_HEALTHZ,
            "metricsBindAddress": f"{NODE_IP}:10249",
            "nodePortAddresses": [f"{NODE_IP}/32"],
            "oomScoreAdj": 0,
            # No host-wide sysctl: route_localnet and the conntrack table are left alone.
            "iptables": {
                "localhostNodePorts": False,
                "masqueradeAll": False,
                "syncPeriod": "30s",
                "minSyncPeriod": "0s",
            },
            "conntrack": {
                "maxPerCore": 0,
                "min": 0,
                "tcpEstablishedTimeout": "0s",
                "tcpCloseWaitTimeout": "0s",
            },
        }
        (self.state / "etc" / "kube-proxy.yaml").write_text(yaml.safe_dump(config))
        self._spawn(
            "kube-proxy",
            [str(self.bin_dir / "kube-proxy"), f"--config={self.state / 'etc' / 'kube-proxy.yaml'}", "--v=1"],
        )

    def _coredns(self) -> None:
        assert self.plane is not None
        corefile = self.state / "etc" / "Corefile"
        corefile.write_text(
            f""".:53 {{
    bind {NODE_IP}
    errors
    kubernetes cluster.local in-addr.arpa ip6.arpa {{
        kubeconfig {self.plane.kubeconfig} wisp-test
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 5
}}
"""
        )
        self._spawn("coredns", [str(self.bin_dir / "coredns"), "-conf", str(corefile)])

    def _scheduler(self) -> None:
        kubeconfig = self._client_kubeconfig("kube-scheduler", "system:kube-scheduler")
        self._spawn(
            "kube-scheduler",
            [
                str(self.bin_dir / "kube-scheduler"),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--leader-elect=false",
                "--secure-port=0",
                "--v=1",
            ],
        )

    @contextlib.contextmanager
    def network_policy(self, engine: Path) -> Iterator[None]:
        """NetworkPolicies enforced on the node while the block runs: kube-router's policy
        controller (``engine``, from ``netpol_engine``) as one more node process, in the host's
        network namespace like kube-proxy, filtering what crosses the bridge. At the end (or at the
        node's teardown, if the run is killed) it stops and its chains and ipsets go."""
        log = self.log("netpol")
        self._spawn(
            "netpol",
            [
                str(engine),
                "--run-firewall=true",
                "--run-router=false",
                "--run-service-proxy=false",
                "--enable-ipv6=false",
                f"--kubeconfig={self._client_kubeconfig('netpol', 'wisp-node:netpol', 'system:masters')}",
                f"--hostname-override={NODE_NAME}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--health-port=0",
                "--metrics-port=0",
                "--v=1",
            ],
        )
        try:
            self._wait(
                "NetworkPolicy engine's first sync",
                lambda: log.exists() and "sync iptables took" in log.read_text(errors="replace"),
                timeout=120,
                process="netpol",
            )
            yield
        finally:
            proc = self.processes.pop("netpol")
            _stop_pid(proc.pid)
            proc.wait(timeout=5)
            (self.state / "pids" / "netpol.pid").unlink(missing_ok=True)
            drop_netpol_rules()

    def _wait_node_ready(self) -> None:
        assert self.plane is not None
        kubectl = [self.plane.kubectl_binary, f"--kubeconfig={self.plane.kubeconfig}"]

        def ready() -> bool:
            out = subprocess.run(
                [
                    *kubectl,
                    "get",
                    "node",
                    NODE_NAME,
                    "-o",
                    "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            return out.stdout.strip() == "True"

        self._wait("node Ready", ready, timeout=120, process="kubelet")


def start_real_node() -> RealNode:
    missing = missing_prerequisites()
    if missing:
        raise NodeUnavailable(f"missing: {', '.join(missing)} (make deps)")
    node = RealNode(bin_dir=node_binaries(), images_dir=node_images())
    return node.start()


if __name__ == "__main__":
    import sys

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # Handlers, not a blocked mask: the node's processes would inherit a mask blocking SIGTERM.
    signal.signal(signal.SIGTERM, interrupted)
    real = start_real_node()
    print(f"export KUBECONFIG={real.kubeconfig}", flush=True)
    try:
        while True:
            signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        real.stop()
    sys.exit(0)
