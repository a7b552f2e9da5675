"""What a pod is to its containers, around one runtime run as a local process.

``python -I -S reaper.py [--memory-mb N] [--grace S] [--parent PID] -- COMMAND...`` (what
``wisp.launcher`` starts), or ``supervise(start)`` in an already running interpreter (``wisp dev``'s
fork server, whose forked children call it). This process starts the runtime as its child and:

* keeps every process the runtime starts in its own tree, ``setsid``'d and double-forked ones
  included: it is a child subreaper (``PR_SET_CHILD_SUBREAPER``), so orphans come back to it
  instead of to init; and it kills the whole tree once the runtime has ended, as a pod's end
  takes every process in its cgroup along;
* passes SIGTERM and SIGINT on to the runtime (its graceful stop); ``--grace`` seconds later,
  or at once on SIGUSR1, the tree is killed;
* dies cleanly with whoever started it: the kernel sends it SIGTERM when its parent dies
  (``PR_SET_PDEATHSIG``), and it then kills the tree at once;
* ``--memory-mb``: checks the tree's memory (proportional set size) four times a second and,
  past the limit, kills the tree as the kernel's OOM killer kills a container over its memory
  limit, after one JSON log line that names the limit; it then exits with 137 (128 + SIGKILL),
  Kubernetes' ``OOMKilled``.

It exits as the runtime did: with its code, or killed by the same signal. Stdlib only, and no
``wisp`` import: as a script it runs before anything of the platform is importable.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import signal
import sys
import time
from collections.abc import Callable, Iterable

_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_CHECK_SECONDS = 0.25
OOM_EXIT = 137
OOM_EVENT = "wisp.runtime.oomKilled"  # the ``event`` of the log line it prints before the kill
KILL_NOW = signal.SIGUSR1  # from the launcher once its grace period is over


def _prctl(option: int, value: int) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def children(pid: int) -> list[int]:
    """``pid``'s direct children, zombies included."""
    found: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as listing:
                found += [int(child) for child in listing.read().split()]
        return found
    except OSError:
        pass
    for entry in os.listdir("/proc"):  # kernels without the children file
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", encoding="utf-8") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return found


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    frontier = [pid]
    while frontier:
        frontier = [child for parent in frontier for child in children(parent) if child not in found]
        found += frontier
    return found


def memory_bytes(pids: Iterable[int]) -> int:
    """The processes' proportional set size: shared pages (the fork server's imports) count
    once among all who share them, as a cgroup charges them once."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as rollup:
                for line in rollup:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, ValueError):
            continue
    return total


class Reaper:
    """The supervising side: started with the runtime's pid, runs until the tree is gone."""

    def __init__(
        self, memory_mb: int = 0, grace: float = 30.0, parent: int = 0, name: str = "runtime"
    ) -> None:
        self.memory_limit = memory_mb * 1024 * 1024
        self.memory_mb = memory_mb
        self.grace = grace
        self.parent = parent or os.getppid()
        self.name = name
        self.child = 0
        self.deadline: float | None = None
        self.status: int | None = None
        self.out_of_memory = False

    def prepare(self) -> None:
        """Before the runtime starts: become the subreaper, and learn of signals."""
        _prctl(_PR_SET_CHILD_SUBREAPER, 1)
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        for signum in (signal.SIGTERM, signal.SIGINT, KILL_NOW):
            signal.signal(signum, self._on_signal)
        if os.getppid() != self.parent:  # the parent died before PDEATHSIG was set
            self.deadline = time.monotonic()

    def _on_signal(self, signum: int, frame: object) -> None:
        now = time.monotonic()
        if signum == KILL_NOW or os.getppid() != self.parent:  # told to, or orphaned: at once
            self.deadline = now
            return
        if self.child:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.child, signum)
        if self.deadline is None:
            self.deadline = now + self.grace

    def run(self, child: int) -> int:
        """Waits for the runtime ``child``, enforcing the rules above; returns its wait status."""
        self.child = child
        try:
            pidfd: int | None = os.pidfd_open(child)
        except (OSError, AttributeError):
            pidfd = None
        try:
            while self.status is None:
                self._reap()
                if self.status is not None:
                    break
                now = time.monotonic()
                if self.deadline is not None and now >= self.deadline:
                    self.kill_tree()
                    continue
                if self.memory_limit and self._over_memory():
                    continue
                timeout = (
                    _CHECK_SECONDS if self.deadline is None else min(_CHECK_SECONDS, self.deadline - now)
                )
                with contextlib.suppress(InterruptedError):
                    select.select([pidfd] if pidfd is not None else [], [], [], max(timeout, 0.0))
        finally:
            if pidfd is not None:
                os.close(pidfd)
        self.kill_tree()  # whatever the runtime left behind
        return self.status

    def _over_memory(self) -> bool:
        used = memory_bytes(descendants(os.getpid()))
        if used <= self.memory_limit:
            return False
        self.out_of_memory = True
        _log(
            "ERROR",
            f"out of memory: {self.name} used {used // (1024 * 1024)} MiB, more than its memory "
            f"limit of {self.memory_mb}Mi; the runtime was killed (OOMKilled)",
            event=OOM_EVENT,
            errorType="OutOfMemory",
            memoryLimitMb=self.memory_mb,
        )
        self.kill_tree()
        return True

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.child:
                self.status = status

    def kill_tree(self) -> None:
        """SIGKILL every descendant until none is left (each death brings its orphans back here)."""
        me = os.getpid()
        for _ in range(1000):
            tree = descendants(me)
            if not tree:
                return
            for pid in tree:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            self._reap()
            time.sleep(0.005)

    def exit_code(self) -> int:
        """The runtime's exit as a code for ``os._exit``, or -N when a signal N ended it."""
        if self.out_of_memory:
            return OOM_EXIT
        if self.status is None:
            return 1
        return os.waitstatus_to_exitcode(self.status)


def _log(level: str, message: str, **fields: object) -> None:
    record = {"level": level, "message": message, **fields}
    with contextlib.suppress(OSError):
        os.write(1, (json.dumps(record) + "\n").encode())


def finish(code: int) -> None:
    """Exit as the runtime did: ``-N`` is re-raised as signal N."""
    if code < 0:
        for signum in (signal.SIGTERM, signal.SIGINT, KILL_NOW):
            signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        time.sleep(1)
        code = 128 - code
    os._exit(code)


def supervise(start: Callable[[], int], reaper: Reaper) -> None:
    """Prepare ``reaper``, start the runtime with ``start`` (returns its pid), supervise it, and
    exit as it did. Never returns."""
    code = 1
    try:
        reaper.prepare()
        reaper.run(start())
        code = reaper.exit_code()
    except BaseException as exc:
        _log("ERROR", f"the runtime's supervisor failed: {exc!r}")
        with contextlib.suppress(BaseException):
            reaper.kill_tree()
    finally:
        sys.stdout.flush()
    finish(code)


def die_with_parent() -> None:
    """In a forked runtime: SIGKILL when its supervisor dies (the supervisor cleans up)."""
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _exec(command: list[str]) -> Callable[[], int]:
    def start() -> int:
        pid = os.fork()
        if pid == 0:
            try:
                for signum in (signal.SIGTERM, signal.SIGINT, KILL_NOW):
                    signal.signal(signum, signal.SIG_DFL)
                die_with_parent()
                os.execvp(command[0], command)  # noqa: S606 - the runtime's own command
            except OSError as exc:
                _log("ERROR", f"cannot run {command[0]!r}: {exc}")
            os._exit(127)
        return pid

    return start


def main(argv: list[str]) -> None:
    options: dict[str, str] = {}
    rest = list(argv)
    while rest and rest[0] != "--":
        key = rest.pop(0)
        options[key] = rest.pop(0) if rest else ""
    command = rest[1:]
    if not command:
        print("usage: reaper.py [--memory-mb N] [--grace S] [--parent PID] [--name N] -- COMMAND...")
        os._exit(2)
    reaper = Reaper(
        memory_mb=int(options.get("--memory-mb", "0")),
        grace=float(options.get("--grace", "30")),
        parent=int(options.get("--parent", "0")),
        name=options.get("--name", "runtime"),
    )
    supervise(_exec(command), reaper)


if __name__ == "__main__":
    main(sys.argv[1:])
