"""Finds and imports the user's handler (``WISP_HANDLER=module.function``) from the code dir.

The result is either a ``LoadedHandler`` or a ``LoadFailure`` whose error type and message are
what ``/healthz`` and every invocation report while the handler cannot run.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any, NamedTuple

HandlerFunc = Callable[[Any, Any], Any]


class LoadedHandler(NamedTuple):
    func: HandlerFunc
    is_async: bool


class LoadFailure(NamedTuple):
    error_type: str
    message: str
    stack_trace: tuple[str, ...] = ()


def extend_path(code_dir: str, deps_dir: str, layers_dir: str = "", aws_sdk_dir: str = "") -> None:
    """Lambda's search order: the code dir first, then the installed dependencies, then the
    layers' ``python/lib/pythonX.Y/site-packages`` and ``python/`` under ``layers_dir``; the
    AWS SDK last, after the standard library and the runtime's own packages, so that any copy
    the function or a layer brings wins and the SDK never shadows the runtime."""
    front = [code_dir, deps_dir]
    if layers_dir:
        version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
        layer = os.path.join(layers_dir, "python")
        front += [os.path.join(layer, "lib", version, "site-packages"), layer]
    present = [d for d in front if d and os.path.isdir(d)]
    sys.path[:] = present + [d for d in sys.path if d not in present]
    if aws_sdk_dir and os.path.isdir(aws_sdk_dir) and aws_sdk_dir not in sys.path:
        sys.path.append(aws_sdk_dir)


def load_handler(handler: str, code_dir: str) -> LoadedHandler | LoadFailure:
    if not handler:
        return LoadFailure("HandlerNotConfigured", "WISP_HANDLER is not set")
    module_name, _, func_name = handler.rpartition(".")
    if not module_name or not func_name:
        return LoadFailure(
            "InvalidHandler", f"handler {handler!r} must be module.function, e.g. main.handler"
        )
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as exc:
        where = f"{_relative(exc.filename, code_dir)}, line {exc.lineno}"
        return LoadFailure("SyntaxError", f"{exc.msg} ({where})", _trace(exc))
    except ModuleNotFoundError as exc:
        if exc.name == module_name or module_name.startswith(f"{exc.name}."):
            return LoadFailure(
                "HandlerNotFound",
                f"no module {module_name!r} in {code_dir} (handler {handler!r})",
            )
        return LoadFailure("ModuleNotFoundError", str(exc), _trace(exc))
    except BaseException as exc:  # import-time code of the user can raise anything
        return LoadFailure(type(exc).__name__, f"importing {module_name!r}: {exc}", _trace(exc))
    func = getattr(module, func_name, None)
    if func is None:
        return LoadFailure("HandlerNotFound", f"module {module_name!r} has no function {func_name!r}")
    if not callable(func):
        return LoadFailure("HandlerNotFound", f"{handler!r} is a {type(func).__name__}, not a function")
    return LoadedHandler(func=func, is_async=inspect.iscoroutinefunction(func))


def _relative(filename: str | None, code_dir: str) -> str:
    if not filename:
        return "<unknown>"
    try:
        return os.path.relpath(filename, code_dir)
    except ValueError:
        return filename


def _trace(exc: BaseException) -> tuple[str, ...]:
    return tuple(traceback.format_exception(exc))
