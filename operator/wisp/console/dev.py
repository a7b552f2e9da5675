"""The console's source for ``wisp dev``: Function files in the served folder, test events in
``.wisp/events/`` beside them, logs from the local processes' ``LogBook``.

Saving validates with ``wisp.api.parse_function`` (the same rules and field names as the CRD),
writes the file, and calls the ``DevHooks`` so the dev server (re)starts the function at once; a
dev server that watches its folder instead can leave the hooks unset.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from wisp.api import Function, SpecError, parse_function
from wisp.api.names import API_VERSION, function_key
from wisp.api.runtimes import Operation, Runtime, check_apply
from wisp.console.live import GatewayView
from wisp.console.logs import LogBook, select
from wisp.console.manifests import EVENT_NAME, NAME_RULE, FunctionFiles, editable, is_name
from wisp.console.source import (
    FieldError,
    LogLine,
    Manifest,
    Mode,
    NotFound,
    SourceError,
    ValidationFailed,
)
from wisp.console.usage import price_per_gb_second
from wisp.gateway.state import Components

EVENTS_DIR = Path(".wisp") / "events"
# wisp dev has no API server to hold FunctionVersions (docs/releases.md).
NO_VERSIONS = "wisp dev has no versions or aliases: publish on a cluster (wisp publish NAME)"


def dev_console_extension(
    folder: Path,
    logbook: LogBook,
    namespace: str = "default",
    hooks: DevHooks | None = None,
) -> Callable[[web.Application, Components], None]:
    """The console for ``make_app(..., extensions=[...])`` in ``wisp dev``, priced from the
    environment (``WISP_PRICE_PER_GB_SECOND``)."""
    from wisp.console.routes import console_extension

    return console_extension(
        lambda live: DevSource(live, folder, logbook, hooks, namespace), price_per_gb_second()
    )


@dataclass(frozen=True)
class DevHooks:
    """How the dev server learns of a change the console made (None: it watches the folder)."""

    applied: Callable[[Function], Awaitable[None]] | None = None
    deleted: Callable[[str], Awaitable[None]] | None = None  # the function's key


class DevSource:
    mode = Mode.DEV

    def __init__(
        self,
        live: GatewayView,
        folder: Path,
        logbook: LogBook,
        hooks: DevHooks | None = None,
        namespace: str = "default",
    ) -> None:
        self.live = live
        self.folder = folder
        self.logbook = logbook
        self.hooks = hooks or DevHooks()
        self.namespace = namespace
        self.files = FunctionFiles(folder)
        self._lock = asyncio.Lock()

    def namespaces(self) -> list[str]:
        return [self.namespace]

    async def get_function(self, namespace: str, name: str) -> Manifest:
        found = await asyncio.to_thread(self.files.find, namespace, name)
        if found is None:
            raise NotFound(f"no Function {name} in {self.folder.name}/")
        path, docs, index = found
        return Manifest(editable(docs[index]), str(path.relative_to(self.folder)))

    async def apply_function(self, body: Mapping[str, Any]) -> Manifest:
        clean = editable({**body, "apiVersion": body.get("apiVersion") or API_VERSION})
        meta = clean["metadata"]
        if meta.get("namespace") in (None, "", self.namespace):
            meta.pop("namespace", None)
        else:
            raise ValidationFailed([FieldError("metadata.namespace", f"wisp dev serves {self.namespace}")])
        try:
            fn = parse_function(clean)
        except SpecError as exc:
            raise ValidationFailed([FieldError(exc.field, exc.message)]) from None
        await self._check_runtime(fn, clean)
        async with self._lock:
            path = await asyncio.to_thread(self.files.save, clean)
        if self.hooks.applied is not None:
            await self.hooks.applied(fn)
        return Manifest(clean, str(path.relative_to(self.folder)))

    async def _check_runtime(self, fn: Function, fn_body: Mapping[str, Any]) -> None:
        """The runtime lifecycle, as the cluster's admission policy applies it (saving a Function
        the folder does not hold yet is a create)."""
        found = await asyncio.to_thread(self.files.find, self.namespace, fn.name)
        before: Mapping[str, Any] = {}
        if found is not None:
            _, docs, index = found
            before = docs[index].get("spec") or {}
        previous = None
        with contextlib.suppress(ValueError):
            previous = Runtime(str(before.get("runtime")))
        verdict = check_apply(
            fn.spec.runtime,
            Operation.CREATE if found is None else Operation.UPDATE,
            datetime.now(UTC).date(),
            previous_runtime=previous,
            spec_changed=dict(before) != (fn_body.get("spec") or {}),
        )
        if verdict.refusal is not None:
            raise ValidationFailed([FieldError("spec.runtime", verdict.refusal)])

    async def delete_function(self, namespace: str, name: str) -> None:
        async with self._lock:
            removed = await asyncio.to_thread(self.files.remove, namespace, name)
        if not removed:
            raise NotFound(f"no Function {name} in {self.folder.name}/")
        if self.hooks.deleted is not None:
            await self.hooks.deleted(function_key(name, namespace))

    async def logs(self, namespace: str, name: str, request_id: str, tail: int) -> list[LogLine]:
        return select(self.logbook.lines(function_key(name, namespace)), request_id, tail)

    async def versions(self, namespace: str, name: str) -> dict[str, Any]:
        return {"supported": False, "reason": NO_VERSIONS}

    async def set_alias(self, namespace: str, name: str, alias: str, body: Mapping[str, Any] | None) -> None:
        raise SourceError(NO_VERSIONS, 409)

    # -- test events -----------------------------------------------------------------------------

    def _events_file(self, name: str) -> Path:
        if not is_name(name):  # it becomes a file name: no '/', no '..'
            raise ValidationFailed([FieldError("metadata.name", f"{name!r} is not {NAME_RULE}")])
        return self.folder / EVENTS_DIR / f"{name}.json"

    def _read_events(self, name: str) -> dict[str, Any]:
        path = self._events_file(name)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write_events(self, name: str, events: Mapping[str, Any]) -> None:
        path = self._events_file(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(events, indent=2, sort_keys=True) + "\n", encoding="utf-8")

    async def test_events(self, namespace: str, name: str) -> dict[str, Any]:
        return await asyncio.to_thread(self._read_events, name)

    async def save_test_event(self, namespace: str, name: str, event_name: str, event: Any) -> None:
        if not EVENT_NAME.match(event_name):
            raise ValidationFailed([FieldError("name", "letters, digits, '-', '_' and '.' only")])
        async with self._lock:
            events = await asyncio.to_thread(self._read_events, name)
            events[event_name] = event
            await asyncio.to_thread(self._write_events, name, events)

    async def delete_test_event(self, namespace: str, name: str, event_name: str) -> None:
        async with self._lock:
            events = await asyncio.to_thread(self._read_events, name)
            if events.pop(event_name, None) is None:
                raise NotFound(f"no saved event {event_name}")
            await asyncio.to_thread(self._write_events, name, events)
