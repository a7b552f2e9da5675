"""``wisp dev``: the gateway, the local backend, events and the file watcher in one process.

Reads every manifest under the directory into the ``LocalBackend``, starts the gateway's
invocation and admin apps (the same ``make_app`` as in the cluster), Redis-backed events when a
Redis is at hand, prints the banner, then polls the directory and reloads only what changed.
SIGINT/SIGTERM stop the apps, which stop every runtime process; runtimes and the embedded
redis-server also die with this process if it is killed (``PDEATHSIG``).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import os
import sys
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from wisp.api.runtimes import Operation, check_apply
from wisp.api.trigger import Trigger, describe_route, routes_overlap
from wisp.console.dev import dev_console_extension
from wisp.console.logs import LogBook
from wisp.dev.access import dev_security_settings, loopback_management
from wisp.dev.backend import LocalBackend
from wisp.dev.banner import BannerFacts, banner, log_line
from wisp.dev.localversions import version_note
from wisp.dev.prewarm import ForkServer
from wisp.dev.redis import EmbeddedRedis, EmbeddedRedisError, redis_server_binary
from wisp.dev.watch import Scan, changes, scan
from wisp.dev.workspace import Workspace, prepare
from wisp.gateway.app import Extension
from wisp.gateway.config import GatewayConfig
from wisp.launcher import LaunchError
from wisp.queue import DeliverySettings, NatsSettings, RedisSettings
from wisp.queue.brokers import describe
from wisp.queue.extension import EventSettings, disabled_extension, queue_extension
from wisp.security.extension import security_extension
from wisp.security.secrets import StaticSecretSource
from wisp.source import FunctionSource, Loaded, SourceError, display, is_folder_manifest, load_file
from wisp.startup.process import ListenError, Servers, make_apps, run_until_stopped


class DevError(Exception):
    """Something that stops ``wisp dev`` from starting; the message says what to do."""


@dataclass(frozen=True)
class DevSettings:
    directory: Path
    host: str = "127.0.0.1"
    port: int = 8080
    admin_port: int = 9090
    redis_url: str | None = None
    nats_url: str | None = None  # NATS JetStream instead of Redis
    embedded_redis: bool = True
    poll_interval: float = 0.5
    autoscale_tick: float = 1.0
    prewarm: bool = True  # fork Python runtimes from a pre-warmed interpreter
    namespace: str = "default"
    # Host names the console may be opened as besides loopback ones (wisp.dev.access).
    allowed_hosts: tuple[str, ...] = ()
    layers: Mapping[str, Path] = field(default_factory=dict)  # --layer NAME=FOLDER
    # The day the runtime lifecycle's dates are checked against (tests give another).
    today: Callable[[], datetime.date] = datetime.date.today


@dataclass
class _Owned:
    """What each manifest file contributed, so a reload replaces exactly that."""

    functions: dict[str, FunctionSource] = field(default_factory=dict)
    triggers: dict[str, object] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


class DevServer:
    def __init__(self, settings: DevSettings, out: TextIO | None = None) -> None:
        self.settings = settings
        self.out = out or sys.stdout
        self.logbook = LogBook()  # the console's Logs and Test panes read the runtimes' lines here
        self._console_line = self.logbook.replica_sink(settings.namespace)
        self.backend = LocalBackend(on_line=self._runtime_line)
        self._work = tempfile.TemporaryDirectory(prefix="wisp-dev-")
        self.workspace = Workspace.default(Path(self._work.name), settings.layers)
        self.backend.sdk_cache = self.workspace.cache_dir
        self.owned: dict[Path, _Owned] = {}
        self.redis: EmbeddedRedis | None = None
        self.fork_server: ForkServer | None = None
        self._scan: Scan = {}

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def _runtime_line(self, replica: str, line: str) -> None:
        self._console_line(replica, line)
        shown = log_line(replica, line)
        if shown is not None:
            self.say(shown)

    # -- loading ---------------------------------------------------------------------------------

    def load(self, path: Path, *, reload: bool = False) -> None:
        """(Re)read one manifest file and apply what it now says."""
        loaded = load_file(path, namespace=None)
        before = self.owned.get(path, _Owned())
        now = _Owned(errors=[str(e) for e in loaded.errors])
        self._apply_functions(path, loaded, before, now, reload)
        for source in loaded.triggers:
            key = source.trigger.key
            other = self._owner(key, path, "triggers")
            if other is not None:
                now.errors.append(
                    f"{display(path)}: metadata.name: Trigger {source.trigger.name} "
                    f"is already defined in {display(other)}"
                )
                continue
            clash = self._route_clash(source.trigger, path, now)
            if clash is not None:
                now.errors.append(clash)
                continue
            now.triggers[key] = source.trigger
            if before.triggers.get(key) != source.trigger:
                self.backend.upsert_trigger(source.trigger)
        for key in before.triggers.keys() - now.triggers.keys():
            self.backend.delete_trigger(key)
        self.owned[path] = now
        if reload:
            for error in now.errors:
                self.say(f"wisp dev: skipped {error}")

    def _apply_functions(self, path: Path, loaded: Loaded, before: _Owned, now: _Owned, reload: bool) -> None:
        for source in loaded.functions:
            key = source.key
            other = self._owner(key, path, "functions")
            if other is not None:
                now.errors.append(
                    f"{display(path)}: metadata.name: Function {source.function.name} "
                    f"is already defined in {display(other)}"
                )
                continue
            previous = before.functions.get(key)
            unchanged = previous is not None and previous.manifest == source.manifest
            if not unchanged and not self._runtime_allowed(path, source, previous, now):
                continue
            now.functions[key] = source
            if unchanged and not is_folder_manifest(path):
                continue
            try:
                code = prepare(source, self.workspace)
            except SourceError as exc:  # its message names the file
                now.errors.append(str(exc))
                del now.functions[key]
                continue
            except OSError as exc:
                now.errors.append(f"{display(path)}: {exc}")
                del now.functions[key]
                continue
            self.backend.upsert_function(source, code)
            if reload:
                self.say(
                    f"wisp dev: {'reloaded' if previous else 'added'} {source.function.name} "
                    f"({display(path)})"
                )
        for key in before.functions.keys() - now.functions.keys():
            self.backend.delete_function(key)
            if reload:
                self.say(f"wisp dev: removed {before.functions[key].function.name}")

    def _runtime_allowed(
        self, path: Path, source: FunctionSource, previous: FunctionSource | None, now: _Owned
    ) -> bool:
        """The runtime lifecycle, as the API server's admission policy applies it: loading a
        Function is a create, a reload of one already served an update."""
        spec = source.function.spec
        verdict = check_apply(
            spec.runtime,
            Operation.UPDATE if previous is not None else Operation.CREATE,
            self.settings.today(),
            previous_runtime=previous.function.spec.runtime if previous is not None else None,
            spec_changed=previous is None or previous.function.spec != spec,
        )
        if verdict.refusal is not None:
            now.errors.append(f"{display(path)}: spec.runtime: {verdict.refusal}")
            return False
        for warning in verdict.warnings:
            self.say(f"wisp dev: warning: {source.function.name}: {warning}")
        note = version_note(spec.runtime)
        if note is not None:
            self.say(f"wisp dev: note: {source.function.name}: {note}")
        return True

    def _route_clash(self, trigger: Trigger, path: Path, now: _Owned) -> str | None:
        """Why ``trigger`` cannot have its HTTP route: a Trigger loaded earlier holds it (in the
        cluster the older one would keep it and this one be reported; here it is refused)."""
        http = trigger.http
        if http is None:
            return None
        loaded = [(p, o) for p, o in self.owned.items() if p != path] + [(path, now)]
        for other_path, owned in loaded:
            for other in owned.triggers.values():
                if not isinstance(other, Trigger) or other.http is None or other.key == trigger.key:
                    continue
                if routes_overlap(other.http, http):
                    return (
                        f"{display(path)}: spec.http.path: Trigger {trigger.name} claims "
                        f"{describe_route(http)}, which Trigger {other.name} in {display(other_path)} "
                        "already routes; give one of them another path, host or methods"
                    )
        return None

    def _owner(self, key: str, path: Path, kind: str) -> Path | None:
        for other, owned in self.owned.items():
            if other != path and key in getattr(owned, kind):
                return other
        return None

    def unload(self, path: Path) -> None:
        owned = self.owned.pop(path, _Owned())
        for key, source in owned.functions.items():
            self.backend.delete_function(key)
            self.say(f"wisp dev: removed {source.function.name} ({display(path)} is gone)")
        for key in owned.triggers:
            self.backend.delete_trigger(key)

    async def watch(self) -> None:
        while True:
            await asyncio.sleep(self.settings.poll_interval)
            current = await asyncio.to_thread(scan, self.settings.directory)
            diff = changes(self._scan, current)
            self._scan = current
            for path in diff.removed:
                self.unload(path)
            for path in (*diff.added, *diff.changed):
                self.load(path, reload=True)

    # -- running ---------------------------------------------------------------------------------

    def _queue(self, broker: RedisSettings | NatsSettings) -> Extension:
        # Shorter blocking reads than the cluster's: Ctrl-C stops the consumers sooner.
        delivery = DeliverySettings(read_block=1.0)
        return queue_extension(
            EventSettings(broker, delivery, self.settings.namespace, delivery.max_event_bytes)
        )

    async def events_extension(self) -> tuple[Extension, str]:
        if self.settings.nats_url:
            nats = NatsSettings(url=self.settings.nats_url)
            return self._queue(nats), f"queue and schedule triggers on {describe(nats)}"
        url = self.settings.redis_url
        if url:
            return self._queue(RedisSettings(url=url)), f"queue and schedule triggers on {url}"
        binary = redis_server_binary() if self.settings.embedded_redis else None
        if binary is None:
            reason = (
                "queue and schedule triggers and async calls are off: no Redis "
                "(pass --redis-url or WISP_REDIS_URL, or install redis-server)"
            )
            return disabled_extension(reason), reason.replace(": no", " (no", 1) + ")"
        self.redis = EmbeddedRedis(binary)
        try:
            await self.redis.start()
        except EmbeddedRedisError as exc:
            reason = f"queue and schedule triggers are off: {exc}"
            return disabled_extension(reason), reason
        return self._queue(RedisSettings(url=self.redis.url)), (
            f"queue and schedule triggers on an embedded redis-server ({self.redis.url}; "
            "single machine, nothing kept after exit)"
        )

    async def serve(self, stop: asyncio.Event, on_ready: Callable[[], None] | None = None) -> None:
        settings = self.settings
        if not settings.directory.is_dir():
            raise DevError(
                f"{settings.directory} is not a directory: pass the folder of your "
                "Function YAML files (wisp dev examples/)"
            )
        self._scan = scan(settings.directory)
        for path in self._scan:
            self.load(path)
        (extension, events_line), _ = await asyncio.gather(self.events_extension(), self._prewarm())
        config = GatewayConfig(
            host=settings.host,
            port=settings.port,
            admin_port=settings.admin_port,
            default_namespace=settings.namespace,
            autoscale_tick=settings.autoscale_tick,
            account_id=os.environ.get("WISP_ACCOUNT_ID", "").strip(),  # ARNs, as the functions'
            # Traces (docs/tracing.md), as the cluster's gateway reads them.
            otlp_endpoint=os.environ.get("WISP_OTLP_ENDPOINT", "").strip(),
            trace_sample_ratio=float(os.environ.get("WISP_TRACE_SAMPLE_RATIO", "").strip() or 1.0),
        )
        console = dev_console_extension(settings.directory, self.logbook, settings.namespace)
        # The cluster gateway's security layer, public by default; the console and async
        # records stay open to this machine (wisp.dev.access).
        security = dev_security_settings()
        apps = make_apps(
            config,
            self.backend,
            security,
            [
                loopback_management(security, self._allowed_hosts()),
                security_extension(security, StaticSecretSource()),
                extension,
                console,
            ],
        )
        servers = Servers(apps, security)
        try:
            try:
                await servers.start(settings.host, settings.port, settings.admin_port)
            except ListenError as exc:
                flag = "--admin-port" if exc.admin else "--port"
                raise DevError(f"{exc}: stop what uses it or pass {flag} with another port") from None
            await self._dependencies()
            self.say(banner(self._facts(events_line)))
            if on_ready is not None:
                on_ready()
            watcher = asyncio.create_task(self.watch(), name="wisp-dev-watch")
            await stop.wait()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        finally:
            self.say("wisp dev: stopping")
            await servers.stop()
            if self.redis is not None:
                await self.redis.stop()
            if self.fork_server is not None:
                await self.fork_server.stop()
            self._work.cleanup()
            self.say("wisp dev: stopped")

    def _allowed_hosts(self) -> tuple[str, ...]:
        host = self.settings.host
        listening = () if host in ("", "0.0.0.0", "::") else (host,)
        return (*listening, *self.settings.allowed_hosts)

    async def _prewarm(self) -> None:
        if not self.settings.prewarm:
            return
        server = ForkServer()
        try:
            await server.start()
        except LaunchError as exc:
            self.say(f"wisp dev: {exc}; Python functions start as fresh interpreters")
            return
        self.fork_server = self.backend.fork_server = server

    async def _dependencies(self) -> None:
        installs = [s for s in self.backend.functions.values() if s.dependencies is not None]
        for served in installs:
            what = "building" if served.code.build is not None else "installing dependencies of"
            self.say(f"wisp dev: {what} {served.source.function.name} ...")
        await asyncio.gather(
            *(s.dependencies for s in installs if s.dependencies is not None), return_exceptions=True
        )

    def _facts(self, events_line: str) -> BannerFacts:
        s = self.settings
        host = "127.0.0.1" if s.host in ("0.0.0.0", "") else s.host
        sources = [src for owned in self.owned.values() for src in owned.functions.values()]
        unavailable = [
            (served.source.function.name, served.info.message)
            for served in self.backend.functions.values()
            if not served.info.ready
        ]
        return BannerFacts(
            url=f"http://{host}:{s.port}",
            admin_url=f"http://{host}:{s.admin_port}",
            directory=display(s.directory) + "/",
            events=events_line,
            functions=sources,
            unavailable=unavailable,
            triggers=list(self.backend.triggers.values()),
            errors=[e for owned in self.owned.values() for e in owned.errors],
            default_namespace=s.namespace,
        )


def run(settings: DevSettings) -> int:
    """Runs until SIGINT/SIGTERM; returns the exit code."""
    try:
        run_until_stopped(DevServer(settings).serve)
    except DevError as exc:
        print(f"wisp dev: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0
