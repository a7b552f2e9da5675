"""A test node agent: plays kubelet (and scheduler) for the pods of wisp Functions.

It registers a Node, binds pending Function pods to it, runs each pod's runtime server as a
local process (through ``wisp.launcher``, as ``wisp dev`` does) on the pod's own address in the
test pod network (``podnet``: a 10.x.0.0/16 of its own, port 8080, in a network namespace joined to the host
by a veth), and reports the pod Running/Ready with that IP, so the gateway routes real calls to
it. Code comes
from the pod's ConfigMap volume, or from its environment (the runtime writes it); a pod whose code
is in an image cannot run here and is reported ``ErrImagePull``, as a kubelet without that image
would.

Tests only. Runs its own asyncio loop in a thread, so sync fixtures can start and stop it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import gc
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from tests.cluster.kubelet_logs import start_log_server
from tests.cluster.podnet import PodNetwork
from wisp.api import Runtime, contract
from wisp.api.names import FUNCTION_LABEL, RUNTIME_ANNOTATION
from wisp.launcher import LaunchError, LaunchSpec, RuntimeProcess, install_dependencies, start_runtime

log = logging.getLogger("wisp.test.node-agent")
NODE_NAME = "wisp-test-node"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class PodRun:
    namespace: str
    name: str
    ip: str
    process: RuntimeProcess | None = None
    restarts: int = 0
    stopping: bool = False
    task: asyncio.Task[None] | None = None


@dataclass
class NodeAgent:
    kubeconfig: Path
    workdir: Path
    node_name: str = NODE_NAME
    pods: dict[str, PodRun] = field(default_factory=dict)  # by pod uid
    network: PodNetwork = field(default_factory=PodNetwork)
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    # Namespaces whose pods are reported running but not Ready until released (``hold_ready``).
    _ready_gates: dict[str, asyncio.Event] = field(default_factory=dict)

    # -- lifecycle (sync, for fixtures) ---------------------------------------------------------
    def start(self) -> NodeAgent:
        self.api = config.new_client_from_config(config_file=str(self.kubeconfig))
        self.core = client.CoreV1Api(self.api)
        self.network.setup()
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), name="node-agent", daemon=True)
        self._thread.start()
        ready.wait(10)
        self._logs, port = asyncio.run_coroutine_threadsafe(
            start_log_server(self.network.host_address, self.workdir, self._log_file), self._loop
        ).result(timeout=10)
        self._register_node(port)
        return self

    def _log_file(self, namespace: str, name: str) -> Path | None:
        for uid, run in list(self.pods.items()):
            if (run.namespace, run.name) == (namespace, name):
                return self.workdir / "pods" / uid / "function.log"
        return None

    def stop(self) -> None:
        self._stop.set()
        if self._loop is not None and self._thread is not None:
            asyncio.run_coroutine_threadsafe(self._stop_all(), self._loop).result(timeout=60)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self.network.teardown()

    def hold_ready(self, namespace: str) -> None:
        """Report the namespace's pods running (with their address) but not Ready, however soon
        their runtime answers, until ``release_ready``: a kubelet whose readiness probe is late."""
        assert self._loop is not None
        self._ready_gates.setdefault(namespace, asyncio.Event())

    def release_ready(self, namespace: str) -> None:
        gate = self._ready_gates.pop(namespace, None)
        if gate is not None and self._loop is not None:
            self._loop.call_soon_threadsafe(gate.set)

    def pod_ip(self, namespace: str, name: str) -> str | None:
        return next((p.ip for p in self.pods.values() if (p.namespace, p.name) == (namespace, name)), None)

    def kill_pod_process(self, namespace: str, name: str) -> None:
        """Make a pod's runtime die, as a crash would (the agent restarts it, as kubelet does)."""
        for run in self.pods.values():
            if (run.namespace, run.name) == (namespace, name) and run.process is not None and self._loop:
                asyncio.run_coroutine_threadsafe(run.process.stop(grace=0), self._loop).result(timeout=10)

    # -- the loop -------------------------------------------------------------------------------
    def _run(self, ready: threading.Event) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        self._queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        self._consumer = self._loop.create_task(self._consume())
        threading.Thread(target=self._watch_pods, name="node-agent-watch", daemon=True).start()
        ready.set()
        self._loop.run_forever()

    def _watch_pods(self) -> None:
        resource_version = None
        while not self._stop.is_set():
            stream = watch.Watch()
            try:
                if resource_version is None:
                    listed = self.core.list_pod_for_all_namespaces(label_selector=FUNCTION_LABEL)
                    resource_version = listed.metadata.resource_version
                    for pod in listed.items:
                        self._emit("ADDED", self.api.sanitize_for_serialization(pod))
                for event in stream.stream(
                    self.core.list_pod_for_all_namespaces,
                    label_selector=FUNCTION_LABEL,
                    resource_version=resource_version,
                    timeout_seconds=30,
                    allow_watch_bookmarks=True,
                ):
                    obj = self.api.sanitize_for_serialization(event["object"])
                    resource_version = obj["metadata"]["resourceVersion"]
                    if event["type"] != "BOOKMARK":
                        self._emit(event["type"], obj)
            except ApiException as exc:
                if exc.status == 410:
                    resource_version = None
                elif not self._stop.is_set():
                    log.warning("pod watch failed: %s", exc.reason)
                    self._stop.wait(0.5)
            except Exception as exc:
                if not self._stop.is_set():
                    log.warning("pod watch interrupted: %s", exc)
                    self._stop.wait(0.5)

    def _emit(self, kind: str, pod: dict[str, Any]) -> None:
        if self._loop is not None and not self._stop.is_set():
            self._loop.call_soon_threadsafe(self._queue.put_nowait, (kind, pod))

    async def _consume(self) -> None:
        while True:
            kind, pod = await self._queue.get()
            try:
                await self._handle(kind, pod)
            except Exception:
                log.exception("node agent failed on pod %s", pod["metadata"].get("name"))

    async def _handle(self, kind: str, pod: dict[str, Any]) -> None:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        uid = meta["uid"]
        if kind == "DELETED":
            await self._stop_pod(uid)
            return
        if meta.get("deletionTimestamp"):
            await self._stop_pod(uid)
            with contextlib.suppress(ApiException):
                await asyncio.to_thread(
                    self.core.delete_namespaced_pod, meta["name"], meta["namespace"], grace_period_seconds=0
                )
            return
        if not spec.get("nodeName"):
            await asyncio.to_thread(self._bind, meta["namespace"], meta["name"])
            return
        if spec["nodeName"] == self.node_name and uid not in self.pods:
            run = PodRun(meta["namespace"], meta["name"], await asyncio.to_thread(self.network.allocate))
            self.pods[uid] = run
            run.task = asyncio.create_task(self._keep_running(run, pod))

    # -- one pod --------------------------------------------------------------------------------
    async def _keep_running(self, run: PodRun, pod: dict[str, Any]) -> None:
        """Start the pod's runtime; restart it with backoff if it dies (restartPolicy Always)."""
        try:
            prepared = await self._prepare(run, pod)
        except _CannotRun as exc:
            await self._report(run, pod, ready=False, waiting=(exc.reason, exc.message))
            return
        backoff = 1.0
        while not run.stopping:
            try:
                run.process = await start_runtime(prepared)
                readiness = await run.process.wait_ready(timeout=60)
            except LaunchError as exc:
                await self._report(run, pod, ready=False, waiting=("CrashLoopBackOff", str(exc)[-500:]))
            else:
                gate = self._ready_gates.get(run.namespace)
                if gate is not None and readiness.handler_loaded:
                    await self._report(run, pod, ready=False)
                    await gate.wait()
                await self._report(run, pod, ready=readiness.handler_loaded)
                await run.process.wait()
                if run.stopping:
                    return
                run.restarts += 1
                await self._report(run, pod, ready=False, waiting=("CrashLoopBackOff", "the runtime exited"))
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 10)

    async def _prepare(self, run: PodRun, pod: dict[str, Any]) -> LaunchSpec:
        meta, spec = pod["metadata"], pod["spec"]
        runtime_name = (meta.get("annotations") or {}).get(RUNTIME_ANNOTATION, "")
        try:
            runtime = Runtime(runtime_name)
        except ValueError:
            raise _CannotRun("ErrImagePull", f"unknown runtime {runtime_name!r}") from None
        container = spec["containers"][0]
        code_volume = _code_volume(spec, container)
        # A pod without a code volume carries its code in its environment: the runtime writes it.
        in_env = any(e.get("name") == contract.CODE_ENV for e in container.get("env") or ())
        if code_volume is None and not in_env:
            raise _CannotRun("ErrImagePull", f"the test node cannot pull image {container.get('image')}")
        pod_dir = self.workdir / "pods" / meta["uid"]
        code_dir, deps_dir = pod_dir / "code", pod_dir / "deps"
        code_dir.mkdir(parents=True, exist_ok=True)
        if code_volume is not None:
            data = await asyncio.to_thread(self._config_map_files, meta["namespace"], code_volume)
            _write_items(code_dir, data, _code_items(spec, container))
        # Layers (a projected volume of ConfigMaps with items) go where the pod has /opt.
        layers_dir = pod_dir / "opt"
        for source in _layer_sources(spec):
            layer = await asyncio.to_thread(self._config_map_files, meta["namespace"], source["name"])
            _write_items(layers_dir, layer, source.get("items"))
        env = {
            e["name"]: await asyncio.to_thread(self._env_value, meta, run, e)
            for e in container.get("env") or ()
        }
        env.update(WISP_DEPS_DIR=str(deps_dir), WISP_CODE_DIR=str(code_dir), WISP_LAYERS_DIR=str(layers_dir))
        if spec.get("initContainers"):
            await install_dependencies(
                runtime, code_dir, deps_dir, env=env, log_sink=str(pod_dir / "init.log")
            )
        return LaunchSpec(
            runtime=runtime,
            code_dir=code_dir,
            env=env,
            host=run.ip,
            port=contract.PORT,
            wrapper=self.network.wrapper,
            log_sink=str(pod_dir / "function.log"),
        )

    def _config_map_files(self, namespace: str, name: str) -> dict[str, bytes]:
        cm = self.core.read_namespaced_config_map(name, namespace)
        files = {k: v.encode() for k, v in (cm.data or {}).items()}
        files.update({k: base64.b64decode(v) for k, v in (cm.binary_data or {}).items()})
        return files

    def _env_value(self, meta: Mapping[str, Any], run: PodRun, item: Mapping[str, Any]) -> str:
        if "valueFrom" not in item:
            return str(item.get("value", ""))
        source = item["valueFrom"]
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            secret = self.core.read_namespaced_secret(ref["name"], meta["namespace"])
            return base64.b64decode((secret.data or {})[ref["key"]]).decode()
        if "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            return str(
                (self.core.read_namespaced_config_map(ref["name"], meta["namespace"]).data or {})[ref["key"]]
            )
        field_path = (source.get("fieldRef") or {}).get("fieldPath", "")
        return {"metadata.name": run.name, "metadata.namespace": run.namespace, "status.podIP": run.ip}.get(
            field_path, ""
        )

    async def _report(
        self, run: PodRun, pod: dict[str, Any], *, ready: bool, waiting: tuple[str, str] | None = None
    ) -> None:
        container = pod["spec"]["containers"][0]
        state: dict[str, Any] = {"running": {"startedAt": _now()}}
        if waiting is not None:
            state = {"waiting": {"reason": waiting[0], "message": waiting[1]}}
        flag = "True" if ready else "False"
        status = {
            "phase": "Running" if waiting is None else "Pending",
            "hostIP": self.network.host_address,
            "hostIPs": [{"ip": self.network.host_address}],
            "podIP": run.ip,
            "podIPs": [{"ip": run.ip}],
            "startTime": _now(),
            "conditions": [
                {"type": "PodScheduled", "status": "True"},
                {"type": "Initialized", "status": "True"},
                {"type": "ContainersReady", "status": flag},
                {"type": "Ready", "status": flag},
            ],
            "containerStatuses": [
                {
                    "name": container["name"],
                    "image": container.get("image", ""),
                    "imageID": "",
                    "ready": ready,
                    "restartCount": run.restarts,
                    "started": waiting is None,
                    "state": state,
                    # What it runs with, as a kubelet that supports in-place resize reports it
                    # (the API server accepts a pods/resize write only for such a node's pods).
                    "resources": container.get("resources") or {},
                }
            ],
        }
        with contextlib.suppress(ApiException):
            await asyncio.to_thread(
                self.core.patch_namespaced_pod_status, run.name, run.namespace, {"status": status}
            )

    async def _stop_pod(self, uid: str) -> None:
        run = self.pods.pop(uid, None)
        if run is None:
            return
        run.stopping = True
        if run.process is not None:
            await run.process.stop(grace=2)
        if run.task is not None:
            run.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await run.task

    async def _stop_all(self) -> None:
        for uid in list(self.pods):
            await self._stop_pod(uid)
        self._consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._consumer
        # Subprocess transports must be collected while their loop still runs.
        await self._logs.cleanup()
        await asyncio.sleep(0.1)
        gc.collect()

    # -- node and scheduling --------------------------------------------------------------------
    def _bind(self, namespace: str, name: str) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": {"name": name},
            "target": {"apiVersion": "v1", "kind": "Node", "name": self.node_name},
        }
        with contextlib.suppress(ApiException):  # already bound, or gone
            self.core.create_namespaced_pod_binding(name, namespace, body, _preload_content=False)

    def _register_node(self, kubelet_port: int) -> None:
        node = {
            "metadata": {
                "name": self.node_name,
                "labels": {"kubernetes.io/hostname": self.node_name, "kubernetes.io/os": "linux"},
            }
        }
        with contextlib.suppress(ApiException):
            self.core.create_node(node)
        capacity = {"cpu": "64", "memory": "256Gi", "pods": "1000"}
        status = {
            "status": {
                "capacity": capacity,
                "allocatable": capacity,
                "daemonEndpoints": {"kubeletEndpoint": {"Port": kubelet_port}},
                "addresses": [
                    {"type": "InternalIP", "address": self.network.host_address},
                    {"type": "Hostname", "address": self.node_name},
                ],
                "conditions": [
                    {
                        "type": "Ready",
                        "status": "True",
                        "reason": "KubeletReady",
                        "message": "wisp test node agent",
                        "lastHeartbeatTime": _now(),
                        "lastTransitionTime": _now(),
                    }
                ],
            }
        }
        self.core.patch_node_status(self.node_name, status)


class _CannotRun(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def _write_items(target: Path, data: Mapping[str, bytes], items: Any) -> None:
    """A ConfigMap's files as its volume holds them: every key, or the ``items`` at their paths."""
    placed = [(i["key"], i["path"]) for i in items] if items else [(k, k) for k in data]
    for key, path in placed:
        (target / path).parent.mkdir(parents=True, exist_ok=True)
        (target / path).write_bytes(data[key])


def _code_items(spec: Mapping[str, Any], container: Mapping[str, Any]) -> Any:
    mount = next(m for m in container.get("volumeMounts") or () if m.get("mountPath") == contract.CODE_DIR)
    volume = next(v for v in spec.get("volumes") or () if v.get("name") == mount["name"])
    return volume["configMap"].get("items")


def _layer_sources(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    for volume in spec.get("volumes") or ():
        if volume.get("name") == "layers":
            return [source["configMap"] for source in volume["projected"]["sources"]]
    return []


def _code_volume(spec: Mapping[str, Any], container: Mapping[str, Any]) -> str | None:
    """The ConfigMap mounted at the code dir, if any."""
    mount = next(
        (m for m in container.get("volumeMounts") or () if m.get("mountPath") == contract.CODE_DIR), None
    )
    if mount is None:
        return None
    volume: Mapping[str, Any] = next(
        (v for v in spec.get("volumes") or () if v.get("name") == mount["name"]), {}
    )
    return (volume.get("configMap") or {}).get("name")
