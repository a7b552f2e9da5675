"""A real OCI registry for tests: the CNCF distribution ``registry``, pinned and built once through
the Go module proxy by ``build-registry.sh`` into ``~/.cache/wisp/registry/<version>`` (or
``WISP_REGISTRY_BINARY``), listening on a free port with its blobs in a temp dir, stopped (by pid)
at the end. ``blob_file`` is where it keeps a blob's bytes, for tests that change one behind its
back. Reuse from any test area::

    from tests.support.registry import Registry, registry  # noqa: F401 (fixture)
"""

from __future__ import annotations

import subprocess
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.built import built_binary
from tests.support.net import free_port
from tests.support.process import stop_process

START_TIMEOUT = 20.0


def registry_binary() -> str:
    return built_binary("build-registry.sh", "the registry")


def bcrypt_hash(password: str) -> str:
    """A bcrypt hash for distribution's htpasswd file (the only kind it takes), from the C
    library's crypt(3) (libxcrypt has bcrypt)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt

        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))


class Registry:
    """One ``registry serve`` process over plain HTTP on ``host``; with ``user`` (name, password)
    it takes only that account, by HTTP basic auth (distribution's htpasswd)."""

    def __init__(self, root: Path, host: str = "127.0.0.1", user: tuple[str, str] | None = None) -> None:
        self.root = root
        self.host = host
        self.port = free_port()
        self.user = user
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """``host:port``, as a repository reference starts."""
        return f"{self.host}:{self.port}"

    def repository(self, path: str = "wisp/packages") -> str:
        return f"{self.address}/{path}"

    def blob_file(self, digest: str) -> Path:
        algorithm, hex_digest = digest.split(":", 1)
        return (
            self.root / "data" / "docker/registry/v2/blobs" / algorithm / hex_digest[:2] / hex_digest / "data"
        )

    def start(self) -> Registry:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log: {level: warn}\n"
            f"storage: {{filesystem: {{rootdirectory: {self.root / 'data'}}}, delete: {{enabled: true}}}}\n"
            f"http: {{addr: '{self.address}'}}\n"
        )
        if self.user is not None:
            name, password = self.user
            (self.root / "htpasswd").write_text(f"{name}:{bcrypt_hash(password)}\n")
            with config.open("a") as out:
                out.write(f"auth: {{htpasswd: {{realm: wisp-test, path: {self.root / 'htpasswd'}}}}}\n")
        log = open(self.root / "registry.log", "ab")  # noqa: SIM115 - the process writes it
        self.process = subprocess.Popen(
            [registry_binary(), "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._up():
            if self.process.poll() is not None or time.monotonic() > deadline:
                text = (self.root / "registry.log").read_text(errors="replace")[-3000:]
                self.stop()
                raise RuntimeError(f"the registry did not start:\n{text}")
            time.sleep(0.05)
        return self

    def _up(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.address}/v2/", timeout=0.5) as resp:
                return bool(resp.status == 200)
        except urllib.error.HTTPError as exc:
            return exc.code == 401 and self.user is not None  # up, and asking who calls
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        stop_process(self.process)
        self.process = None


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    server = Registry(tmp_path_factory.mktemp("registry")).start()
    yield server
    server.stop()
