"""The proxies wisp's gateway is measured against, in the same run, on the same function:

* **nginx** (Debian's package, ``make bench`` installs it): a reverse proxy with a keep-alive
  upstream, the floor of what one HTTP hop costs;
* **OpenFaaS's gateway** (Go): ``/function/NAME`` forwarded to its provider's URL, here the
  function itself (the hop alone) or of-watchdog in front of it;
* **OpenFaaS's of-watchdog** (Go, ``mode=http``): the process in every OpenFaaS function pod,
  which starts the function and forwards each call to it, so gateway → of-watchdog → function is
  OpenFaaS's whole data path, beside wisp's gateway → runtime → handler.

The OpenFaaS binaries come from the Go module proxy when it serves their modules (``go install``
into the cache), or from ``WISP_BENCH_OPENFAAS_GATEWAY`` and ``WISP_BENCH_OF_WATCHDOG`` (paths to
binaries built from OpenFaaS's own source: both repositories vendor their modules, so
``go build -mod=vendor`` builds them without the proxy). A peer that cannot be had is named in
the report with the reason, never dropped silently.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(os.environ.get("WISP_CACHE", Path.home() / ".cache" / "wisp")) / "peers"

# OpenFaaS's gateway listens on these, whatever it is told.
OPENFAAS_GATEWAY_PORT = 8080
OPENFAAS_METRICS_PORT = 8082


@dataclass(frozen=True)
class Peer:
    """A peer proxy: the binary that runs it, or why there is none."""

    name: str
    binary: str | None
    how: str  # where the binary came from, or why it is missing

    def describe(self) -> str:
        return f"{self.name}: {self.how}"


def find_nginx() -> Peer:
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if found is None:
        return Peer("nginx", None, "not installed (Debian's package `nginx`)")
    return Peer("nginx", found, _version([found, "-v"]))


def find_openfaas(name: str, module: str, env: str, command: str) -> Peer:
    """OpenFaaS's ``command`` from ``$env``, the cache, or the Go module proxy, in that order."""
    given = os.environ.get(env, "")
    if given:
        if not os.access(given, os.X_OK):
            return Peer(name, None, f"not run: ${env} names {given}, which is not an executable")
        return Peer(name, given, f"built from OpenFaaS's source (`${env}`)")
    cached = CACHE / command
    if cached.exists():
        return Peer(name, str(cached), f"{module}, installed from the Go module proxy into {cached}")
    go = shutil.which("go")
    if go is None:
        return Peer(name, None, f"not run: no Go toolchain to build {module}, and ${env} is not set")
    built = subprocess.run(
        [go, "install", f"{module}@latest"],
        env={**os.environ, "GOBIN": str(CACHE)},
        capture_output=True,
        text=True,
        check=False,
        cwd=tempfile.gettempdir(),
    )
    if built.returncode != 0 or not cached.exists():
        reason = " ".join(line.strip() for line in built.stderr.strip().splitlines()) or "no binary"
        return Peer(
            name,
            None,
            f"not run: the Go module proxy did not give {module} ({reason}), and ${env} is not set",
        )
    return Peer(name, str(cached), f"{module}@latest from the Go module proxy")


def find_peers() -> dict[str, Peer]:
    peers = {
        "nginx": find_nginx(),
        "openfaas-gateway": find_openfaas(
            "OpenFaaS gateway", "github.com/openfaas/faas/gateway", "WISP_BENCH_OPENFAAS_GATEWAY", "gateway"
        ),
        "of-watchdog": find_openfaas(
            "OpenFaaS of-watchdog", "github.com/openfaas/of-watchdog", "WISP_BENCH_OF_WATCHDOG", "of-watchdog"
        ),
    }
    gateway = peers["openfaas-gateway"]
    if gateway.binary is not None:
        busy = [port for port in (OPENFAAS_GATEWAY_PORT, OPENFAAS_METRICS_PORT) if not _port_free(port)]
        if busy:
            ports = f"{OPENFAAS_GATEWAY_PORT} and {OPENFAAS_METRICS_PORT}"
            why = f"not run: it listens on {ports}, and {busy} is taken"
            peers["openfaas-gateway"] = Peer(gateway.name, None, why)
    return peers


def nginx_config(workdir: Path, listen: int, upstream: int) -> Path:
    """One worker (as the gateway is one process), access log off, 64 idle upstream connections
    kept alive: nginx's usual reverse-proxy set-up for an HTTP/1.1 keep-alive upstream."""
    conf = workdir / "nginx.conf"
    conf.write_text(
        f"""worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    upstream function {{ server 127.0.0.1:{upstream}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{listen} backlog=4096;
        keepalive_requests 1000000;
        location / {{
            proxy_pass http://function;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""
    )
    return conf


def nginx_argv(binary: str, workdir: Path, listen: int, upstream: int) -> list[str]:
    conf = nginx_config(workdir, listen, upstream)
    return [binary, "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "error.log")]


def openfaas_gateway_env(provider_port: int) -> dict[str, str]:
    """The gateway forwards ``/function/NAME`` to its provider's URL with the path unchanged; the
    provider here is the function (or its watchdog) itself. No basic auth, no NATS, no scaling:
    the proxy as a call crosses it."""
    return {
        "functions_provider_url": f"http://127.0.0.1:{provider_port}/",
        "basic_auth": "false",
        "scale_from_zero": "false",
        "read_timeout": "30s",
        "write_timeout": "30s",
        "upstream_timeout": "30s",
        "max_idle_conns": "1024",
        "max_idle_conns_per_host": "1024",
    }


def watchdog_env(listen: int, upstream: int, fprocess: str) -> dict[str, str]:
    """of-watchdog in ``http`` mode starts ``fprocess`` and forwards every call to it."""
    return {
        "mode": "http",
        "port": str(listen),
        "upstream_url": f"http://127.0.0.1:{upstream}",
        "fprocess": fprocess,
        "read_timeout": "30s",
        "write_timeout": "30s",
        "exec_timeout": "30s",
    }


def children(pid: int) -> list[int]:
    """``pid``'s direct children (nginx's worker, of-watchdog's function)."""
    found: list[int] = []
    task = Path(f"/proc/{pid}/task")
    try:
        threads = list(task.iterdir())
    except OSError:
        return found
    for thread in threads:
        try:
            found += [int(p) for p in (thread / "children").read_text().split()]
        except OSError:
            continue
    return found


def _version(argv: list[str]) -> str:
    out = subprocess.run(argv, capture_output=True, text=True, check=False)
    text = (out.stderr or out.stdout).strip().splitlines()
    return text[0].removeprefix("nginx version: ") if text else "version unknown"


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True
