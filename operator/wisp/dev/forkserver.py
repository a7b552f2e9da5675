"""``python -m wisp.dev.forkserver SOCKET``: pre-warmed Python runtimes for ``wisp dev``.

A fresh interpreter spends most of a cold start importing asyncio, aiohttp and the runtime
(about a second on a busy laptop). This process does those imports once, before any function
is known, then forks one child per runtime ``wisp dev`` asks for: the child takes the function's
environment and output pipe and runs ``wisp_runtime.main`` exactly as ``python -m
wisp_runtime`` would, listening in tens of milliseconds. It holds no function code itself (a
generic warm process, like Fission's pool of unspecialised pods), so a function at zero replicas
still has no process.

Protocol, one request per connection on the Unix socket: the client sends a JSON object
``{"env": {...}, "cwd": "..."}`` with the write end of the child's output pipe attached
(``SCM_RIGHTS``); the server answers ``{"pid": N}``. Each child gets its own session, becomes the
runtime's ``wisp.reaper`` (what it starts ends with it; its memory limit) and forks the runtime
under it; children die with this process (``PR_SET_PDEATHSIG``), which itself dies with
``wisp dev``. Single-threaded on
purpose: forking a threaded process is unsafe.
"""

from __future__ import annotations

import array
import contextlib
import ctypes
import json
import os
import signal
import socket
import sys
from typing import Any

from wisp.reaper import KILL_NOW, Reaper, die_with_parent, supervise

_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15
READY = b"ready\n"


def _reap(signum: int, frame: Any) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _receive(conn: socket.socket) -> tuple[dict[str, Any], int]:
    fds = array.array("i")
    message, ancillary, _, _ = conn.recvmsg(1 << 20, socket.CMSG_SPACE(fds.itemsize))
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    if len(fds) != 1:
        raise ValueError("expected exactly one file descriptor")
    request: dict[str, Any] = json.loads(message)
    return request, fds[0]


def _child(listener: socket.socket, conn: socket.socket, request: dict[str, Any], output: int) -> None:
    """In the forked child: become the runtime's reaper (``wisp.reaper``: its tree, its memory
    limit), and fork the runtime itself under it. Never returns."""
    code = 1
    try:
        listener.close()
        conn.close()
        os.setsid()
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        env = {str(k): str(v) for k, v in request["env"].items()}
        name = f"wisp:{env.get('WISP_FUNCTION_NAME', 'runtime')}"[:15].encode()
        libc.prctl(_PR_SET_NAME, ctypes.c_char_p(name), 0, 0, 0)  # what ps and top show
        for signum in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(output)
        os.close(devnull)
        os.environ.clear()
        os.environ.update(env)
        if request.get("cwd"):
            os.chdir(request["cwd"])
        try:
            memory_mb = int(env.get("WISP_MEMORY_MB") or 0)
        except ValueError:
            memory_mb = 0
        guard = Reaper(memory_mb, parent=os.getppid(), name=env.get("WISP_FUNCTION_NAME", "the runtime"))
        supervise(_fork_runtime, guard)  # never returns
    except BaseException as exc:
        with contextlib.suppress(Exception):
            print(json.dumps({"level": "ERROR", "message": f"runtime failed: {exc!r}"}), flush=True)
    finally:
        os._exit(code)


def _fork_runtime() -> int:
    pid = os.fork()
    if pid != 0:
        return pid
    code = 1
    try:
        for signum in (signal.SIGINT, signal.SIGTERM, KILL_NOW):
            signal.signal(signum, signal.SIG_DFL)
        die_with_parent()
        from wisp_runtime.main import main

        code = main()
    except BaseException as exc:  # the runtime's own errors are already logged as JSON lines
        with contextlib.suppress(Exception):
            print(json.dumps({"level": "ERROR", "message": f"runtime failed: {exc!r}"}), flush=True)
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def serve(path: str) -> None:
    # The imports a runtime needs, done once; children inherit them.
    import aiohttp.web_server  # noqa: F401

    import wisp_runtime.invoke
    import wisp_runtime.main
    import wisp_runtime.server  # noqa: F401

    with contextlib.suppress(ImportError):
        import uvloop  # noqa: F401

    signal.signal(signal.SIGCHLD, _reap)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    sys.stdout.buffer.write(READY)
    sys.stdout.flush()
    while True:
        try:
            conn, _ = listener.accept()
        except InterruptedError:
            continue
        with conn:
            try:
                request, output = _receive(conn)
            except (OSError, ValueError) as exc:
                with contextlib.suppress(OSError):
                    conn.sendall(json.dumps({"error": str(exc)}).encode())
                continue
            pid = os.fork()
            if pid == 0:
                _child(listener, conn, request, output)
            os.close(output)
            with contextlib.suppress(OSError):
                conn.sendall(json.dumps({"pid": pid}).encode())


if __name__ == "__main__":
    serve(sys.argv[1])
