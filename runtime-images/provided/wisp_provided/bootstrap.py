"""Runs the bootstrap process: starts it, relays its output as log lines, restarts it.

The bootstrap is the function's own program (a Go or Rust binary, a script running
``awslambdaric``, ...). It is started with ``AWS_LAMBDA_RUNTIME_API`` pointing at this runtime's
Runtime API and Lambda's reserved variables, in a process group of its own (so a timeout kills
whatever it started, too). Its stdout and stderr lines become the runtime's JSON log lines
(``INFO`` and ``ERROR``), tagged with the id of the invocation in flight.

Its state decides readiness: ``ready`` from its first ``/next`` on; ``failure`` after an
``/init/error`` or an exit before that first ``/next``. A bootstrap that exits is started again
(at once after it served calls, with a growing delay while it keeps failing to start); one
killed for a timeout is started again at once, as Lambda re-initialises after a timeout.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import fcntl
import os
import signal
import subprocess
import termios
from collections.abc import Mapping
from typing import IO

from wisp_provided.invocations import Broker, Outcome, OutcomeKind
from wisp_provided.process import spawn
from wisp_provided.settings import RESTART_DELAYS
from wisp_runtime.logs import LogWriter, current_scope

_READ_BYTES = 65536
_MAX_LINE = 256 * 1024  # longer lines are logged in pieces
_DRAIN_SECONDS = 0.05  # the longest an answer waits for the output printed before it


class Failure(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


class Bootstrap:
    """Keeps one bootstrap process running until ``stop``."""

    def __init__(
        self,
        command: tuple[str, ...],
        cwd: str | None,
        broker: Broker,
        log: LogWriter,
    ) -> None:
        self._command = command
        self._cwd = cwd
        self._broker = broker
        self._log = log
        self.ready = False  # the current process asked for an invocation
        self.ever_ready = False  # some process did: a restart alone does not make /healthz fail
        self.failure: Failure | None = None  # why the runtime cannot serve calls now
        self.restarts = 0
        self.changed = asyncio.Event()  # set whenever ready or failure changes
        self._process: subprocess.Popen[bytes] | None = None
        # The output pipes being relayed, each with whether its relay has read all it was given
        # (``drained``).
        self._pipes: dict[int, bool] = {}
        self._killed = False  # the current process was killed on purpose (a timeout)
        self._stopping = False
        self._failures_in_a_row = 0

    def fail_now(self, failure: Failure) -> None:
        """The runtime cannot start a bootstrap at all (none configured)."""
        self.failure = failure
        self.changed.set()

    # -- what the Runtime API reports --------------------------------------------------------

    def asked_for_next(self) -> None:
        if not self.ready or self.failure is not None:
            self.ready = self.ever_ready = True
            self.failure = None
            self._failures_in_a_row = 0
            self.changed.set()

    def init_error(self, error_type: str, message: str) -> None:
        """``/init/error``: the function could not initialise; calls get this error until a
        restarted bootstrap gets through its init."""
        self.ready = False
        self.failure = Failure(error_type, message)
        self.changed.set()
        self._log.log(
            "ERROR", f"the function failed to initialise: {error_type}: {message}", errorType=error_type
        )
        self._broker.fail_queued(Outcome(OutcomeKind.NOT_STARTED, error_type=error_type, message=message))
        self.kill()  # Lambda ends the runtime after an init error; it is started again

    # -- the process --------------------------------------------------------------------------

    async def run(self, env: Mapping[str, str], first: subprocess.Popen[bytes] | None = None) -> None:
        """Runs the bootstrap with ``env`` until ``stop``; ``first`` is one already started
        (``main`` starts it before the runtime's own imports, so the two overlap)."""
        while not self._stopping:
            try:
                process = first or spawn(self._command, env, self._cwd)
            except OSError as exc:
                self.fail_now(Failure("Runtime.InvalidEntrypoint", f"cannot run {self._command[0]!r}: {exc}"))
                return
            first = None
            self._process = process
            self._killed = False
            assert process.stdout is not None and process.stderr is not None
            readers = [
                asyncio.create_task(self._relay(process.stdout, "INFO")),
                asyncio.create_task(self._relay(process.stderr, "ERROR")),
            ]
            code = await _exited(process)
            self._signal(signal.SIGKILL)  # what it left behind in its group
            for reader in readers:  # a grandchild may hold the pipes: do not wait for it
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(reader), 0.5)
                reader.cancel()
            if self._stopping:
                return
            await self._after_exit(code)

    async def _after_exit(self, code: int) -> None:
        was_ready = self.ready
        killed = self._killed
        self.ready = False
        reason = f"signal {-code}" if code < 0 else f"status {code}"
        message = f"the runtime exited with {reason}"
        self._broker.bootstrap_gone(
            Outcome(OutcomeKind.FAILED, error_type="Runtime.ExitError", message=message)
        )
        self.restarts += 1
        if was_ready:  # it served calls: start a fresh one at once
            if not killed:  # (a timeout's kill was logged with its call)
                self._log.log("ERROR", f"{message}; starting it again", errorType="Runtime.ExitError")
            delay = 0.0
        else:  # it failed its init, or an /init/error had it killed: back off
            if self.failure is None:  # no /init/error: the exit is the failure
                self.failure = Failure("Runtime.ExitError", f"{message} before it asked for an invocation")
                self._log.log("ERROR", self.failure.message, errorType="Runtime.ExitError")
                self._broker.fail_queued(
                    Outcome(
                        OutcomeKind.NOT_STARTED, error_type="Runtime.ExitError", message=self.failure.message
                    )
                )
            delay = RESTART_DELAYS[min(self._failures_in_a_row, len(RESTART_DELAYS) - 1)]
            self._failures_in_a_row += 1
        self.changed.set()
        if delay:
            await asyncio.sleep(delay)

    def kill(self) -> None:
        """Kills the bootstrap and what it started; ``run`` starts a fresh one."""
        if self._process is not None and self._process.poll() is None:
            self._killed = True
            self._signal(signal.SIGKILL)

    async def stop(self, grace: float) -> None:
        """SIGTERM to the bootstrap's group, SIGKILL after ``grace`` seconds."""
        self._stopping = True
        self._broker.bootstrap_gone(
            Outcome(OutcomeKind.FAILED, error_type="Runtime.Stopped", message="the runtime stopped")
        )
        process = self._process
        if process is None or process.poll() is not None:
            return
        self._signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(_exited(process), grace)
        except TimeoutError:
            self._signal(signal.SIGKILL)
            await _exited(process)

    def _signal(self, signum: signal.Signals) -> None:
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._process.pid, signum)

    async def _relay(self, pipe: IO[bytes], level: str) -> None:
        loop = asyncio.get_running_loop()
        stream = asyncio.StreamReader(limit=_READ_BYTES, loop=loop)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(stream, loop=loop), pipe
        )
        fd = pipe.fileno()
        self._pipes[fd] = False
        try:
            await self._relay_lines(stream, level, fd)
        finally:
            self._pipes.pop(fd, None)
            transport.close()

    async def drained(self) -> None:
        """Wait (up to ``_DRAIN_SECONDS``) until what the bootstrap has written so far is
        logged: its pipes are empty and their relays are waiting for more. Lines printed just
        before an answer then belong to the call they were printed for, in the log's tail too."""
        deadline = asyncio.get_running_loop().time() + _DRAIN_SECONDS
        while asyncio.get_running_loop().time() < deadline:
            if all(waiting and _unread(fd) == 0 for fd, waiting in list(self._pipes.items())):
                return
            await asyncio.sleep(0.001)

    async def _relay_lines(self, stream: asyncio.StreamReader, level: str, fd: int) -> None:
        buffer = bytearray()
        while True:
            # A read returns at once while the stream holds data: waiting here means all of it
            # has been relayed (``drained``).
            self._pipes[fd] = True
            chunk = await stream.read(_READ_BYTES)
            self._pipes[fd] = False
            if not chunk:
                break
            buffer += chunk
            start = 0
            while (newline := buffer.find(b"\n", start)) >= 0:
                self._line(level, buffer[start:newline])
                start = newline + 1
            del buffer[:start]
            while len(buffer) > _MAX_LINE:
                self._line(level, buffer[:_MAX_LINE])
                del buffer[:_MAX_LINE]
        if buffer:
            self._line(level, buffer)

    def _line(self, level: str, raw: bytes | bytearray) -> None:
        text = raw.decode("utf-8", "replace").rstrip("\r")
        owner = self._broker.current or self._broker.last
        if owner is None:
            self._log.log(level, text, stream="bootstrap")
            return
        # In the call's scope: its line goes to the call's log tail when one was asked for.
        token = current_scope.set(owner.scope)
        try:
            self._log.log(level, text, request_id=owner.request_id, stream="bootstrap")
        finally:
            current_scope.reset(token)


def _unread(fd: int) -> int:
    """Bytes waiting in the pipe ``fd`` (FIONREAD); 0 once it is closed."""
    count = array.array("i", [0])
    try:
        fcntl.ioctl(fd, termios.FIONREAD, count, True)
    except OSError:
        return 0
    return count[0]


async def _exited(process: subprocess.Popen[bytes]) -> int:
    """The exit status, once the process has exited (a pidfd says when; else it is polled)."""
    if process.poll() is not None:
        return process.returncode
    try:
        fd = os.pidfd_open(process.pid)
    except (OSError, AttributeError):
        while process.poll() is None:  # noqa: ASYNC110 - nothing to wait on without a pidfd
            await asyncio.sleep(0.05)
        return process.returncode
    loop = asyncio.get_running_loop()
    gone = asyncio.Event()
    try:
        loop.add_reader(fd, gone.set)
        await gone.wait()
    finally:
        loop.remove_reader(fd)
        os.close(fd)
    return process.wait()
