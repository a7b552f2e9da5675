"""The ``provided`` runtime's settings: the runtime contract's ``WISP_*`` plus where the bootstrap is.

The contract's variables are read by the Python runtime's own ``Settings`` (one parser for both);
this adds what only this runtime needs: the address of the Runtime API it serves to the
bootstrap (``WISP_RUNTIME_API``, default Lambda's ``127.0.0.1:9001``) and the bootstrap command.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from wisp_runtime.config import Settings, SettingsError

DEFAULT_RUNTIME_API = "127.0.0.1:9001"
# Lambda's limit on the init phase of an on-demand function: past it the runtime is not ready
# (``/healthz`` says so) but it keeps waiting for the bootstrap.
INIT_SECONDS = 10.0
# A bootstrap that exits is started again after this long, doubling up to the maximum while it
# keeps failing before it asks for its first invocation (a crash loop inside the pod).
RESTART_DELAYS = (0.0, 0.5, 1.0, 2.0, 5.0, 10.0)


class ProvidedSettings(NamedTuple):
    base: Settings
    api_host: str
    api_port: int
    # The bootstrap command, or empty with ``missing`` saying why there is none.
    bootstrap: tuple[str, ...]
    missing: str = ""

    @classmethod
    def from_env(cls, argv: Sequence[str] = (), env: Mapping[str, str] | None = None) -> ProvidedSettings:
        env = os.environ if env is None else env
        base = Settings.from_env(env)
        host, port = _address(env.get("WISP_RUNTIME_API", "").strip() or DEFAULT_RUNTIME_API)
        command = tuple(argv[1:] if argv and argv[0] == "--" else argv)
        missing = ""
        if not command:
            command, missing = bootstrap_command(base.handler, base.code_dir, env.get("WISP_BOOTSTRAP", ""))
        return cls(base, host, port, command, missing)


def bootstrap_command(handler: str, code_dir: str, override: str) -> tuple[tuple[str, ...], str]:
    """The bootstrap to run and, when there is none, why.

    In order: ``WISP_BOOTSTRAP`` (a command line, or a JSON list as a Dockerfile's ``CMD``); the
    handler, when it names an executable file in the code directory; ``bootstrap`` in the code
    directory (Lambda's rule, the handler is then only ``_HANDLER``); ``/opt/bootstrap`` (a layer's).
    """
    if override.strip():
        text = override.strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except ValueError:
                raise SettingsError(f"WISP_BOOTSTRAP={override!r} is not a JSON list") from None
            if not isinstance(parsed, list) or not parsed or not all(isinstance(p, str) for p in parsed):
                raise SettingsError(f"WISP_BOOTSTRAP={override!r} must be a list of strings")
            return tuple(parsed), ""
        return tuple(shlex.split(text)), ""
    candidates = []
    if handler and not os.path.isabs(handler):
        candidates.append(os.path.join(code_dir, handler))
    candidates += [os.path.join(code_dir, "bootstrap"), "/opt/bootstrap"]
    for path in candidates:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return (path,), ""
    for path in candidates:
        if os.path.isfile(path):
            # A ConfigMap mounts files without the execute bit: a script still runs by its #! line.
            interpreter = _shebang(path)
            if interpreter:
                return (*interpreter, path), ""
            return (), f"{path} is not executable (chmod +x it, or start it with a #! line)"
    return (), f"no bootstrap: none of {', '.join(candidates)} exists"


def _shebang(path: str) -> tuple[str, ...]:
    try:
        with open(path, "rb") as file:
            first = file.readline(256)
    except OSError:
        return ()
    if not first.startswith(b"#!"):
        return ()
    return tuple(first[2:].decode("utf-8", "replace").split())


def _address(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdecimal() or int(port) > 65535:
        raise SettingsError(f"WISP_RUNTIME_API={value!r} must be host:port")
    return host, int(port)
