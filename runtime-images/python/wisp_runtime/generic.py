"""Generic mode: a warm pool pod's runtime, started with no function, waiting to be given one.

A pool pod (docs/warm-pool.md) runs the runtime with a pool token and no ``WISP_HANDLER``: the
token is the pod's own, in the file ``WISP_POOL_TOKEN_FILE`` names (its init step derives it from
the pool's key and the pod's uid) or, outside a pod, in ``WISP_POOL_TOKEN``. The interpreter is
up, the runtime imported, the socket open, ``/healthz`` answers 200 so the pod turns Ready, and
calls are refused (503 ``NotSpecialised``). The gateway
claims the pod for a function at zero and ``POST``s ``SPECIALISE_PATH`` with
``Authorization: Bearer <token>`` and ``{"env": {...}, "files": {...}}``: the function's whole
environment (the ``WISP_*`` variables its Deployment's pods get, and its own ``env``) and its
code. The runtime writes the files to a fresh directory, applies the environment, imports the
handler, and from then on is that function's runtime. A pod is specialised once in its life: a
second request is refused (409), whatever became of the first, unless it is the same request
again (byte for byte: two gateway replicas handing the pod the same function in one burst),
which gets the first one's answer.

This module is the pure part (parsing, checking, writing the files); ``server.RuntimeHandler``
does the swap.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, MutableMapping
from typing import NamedTuple

SPECIALISE_PATH = "/_wisp/specialise"
TOKEN_ENV = "WISP_POOL_TOKEN"  # noqa: S105 (the variable's name, not a token)
TOKEN_FILE_ENV = "WISP_POOL_TOKEN_FILE"  # noqa: S105
# A function pod without a code volume (small code: the operator's choice, docs/warm-pool.md) has
# its files here, as the JSON object of file name to content a specialisation carries.
CODE_ENV = "WISP_CODE"
# What a specialisation may not set: where the runtime listens is the pod's, not the function's,
# and the code directory is the one the runtime writes.
_KEPT = ("WISP_HOST", "WISP_PORT", "WISP_CODE_DIR", "WISP_DEPS_DIR", CODE_ENV, TOKEN_ENV, TOKEN_FILE_ENV)
# The image's settings a function keeps unless it sets them itself, as in its own pod.
_IMAGE_DEFAULTS = ("WISP_AWS_SDK_DIR",)


def take_pool_token(environ: MutableMapping[str, str]) -> str:
    """The pool token ("" for none), taken out of ``environ`` so that no function code finds it
    there. Raises ``OSError`` when the token file named cannot be read."""
    token = environ.pop(TOKEN_ENV, "")
    path = environ.pop(TOKEN_FILE_ENV, "")
    if path and not token:
        with open(path, encoding="utf-8") as given:
            token = given.read().strip()
        if not token:
            raise OSError(f"the pool token file {path} is empty")
    return token


class SpecialiseError(ValueError):
    """A specialisation request the runtime cannot use; ``field`` names the part at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class Specialisation(NamedTuple):
    env: dict[str, str]
    files: dict[str, str]


def parse_specialisation(body: bytes | None) -> Specialisation:
    if not body:
        raise SpecialiseError("body", "must be a JSON object with env and files")
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise SpecialiseError("body", f"is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SpecialiseError("body", "must be a JSON object")
    env = data.get("env")
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise SpecialiseError("env", "must be an object of string values")
    if not env.get("WISP_HANDLER", "").strip():
        raise SpecialiseError("env.WISP_HANDLER", "is required")
    return Specialisation(env=dict(env), files=_files(data.get("files"), "files"))


def _files(files: object, field: str) -> dict[str, str]:
    if not isinstance(files, dict) or not files:
        raise SpecialiseError(field, "must be an object of file name to content, not empty")
    for name, content in files.items():
        if not isinstance(name, str) or not _plain_name(name):
            raise SpecialiseError(f"{field}[{name}]", "must be a plain file name")
        if not isinstance(content, str):
            raise SpecialiseError(f"{field}[{name}]", "must be a string")
    return dict(files)


def take_code(environ: MutableMapping[str, str]) -> None:
    """Writes the code a pod got in ``CODE_ENV`` to a fresh directory under ``/tmp`` and points
    ``WISP_CODE_DIR`` there; the variable is taken out of ``environ``, so no function code finds
    its own source there. Nothing to do without it. Raises ``SpecialiseError`` naming the field."""
    text = environ.pop(CODE_ENV, "")
    if not text:
        return
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SpecialiseError(CODE_ENV, f"is not JSON: {exc}") from None
    files = _files(data, CODE_ENV)
    environ["WISP_CODE_DIR"] = write_code(files, os.path.dirname(environ.get("WISP_DEPS_DIR", "")) or "/tmp")


def _plain_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and not any(c in name for c in "/\\\0")


def write_code(files: Mapping[str, str], parent: str) -> str:
    """Writes ``files`` to a new directory under ``parent``; returns the directory."""
    code_dir = tempfile.mkdtemp(prefix="wisp-code-", dir=parent)
    for name, content in files.items():
        with open(os.path.join(code_dir, name), "w", encoding="utf-8") as out:
            out.write(content)
    return code_dir


def function_environment(
    requested: Mapping[str, str], current: Mapping[str, str], code_dir: str
) -> dict[str, str]:
    """The environment the function runs with: the requested one, with what stays the pod's."""
    env = {k: v for k, v in requested.items() if k not in _KEPT}
    for name in ("WISP_HOST", "WISP_PORT", "WISP_DEPS_DIR"):
        if name in current:
            env[name] = current[name]
    # The image's own settings the function's pod would have too, unless the function sets them:
    # without its AWS SDK directory, a function that imports boto3 would fail in a pool pod only.
    for name in _IMAGE_DEFAULTS:
        if name in current and name not in env:
            env[name] = current[name]
    env["WISP_CODE_DIR"] = code_dir
    return env
