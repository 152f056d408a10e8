"""A kubelet for one Node that runs each pod's notebook server as a local process.

kwok fakes pods: they become Running without anything listening. For end-to-end tests
that need a real server behind a pod (JupyterHub's HTTP readiness check, the proxy's
route), :class:`FakeKubelet` plays the kubelet of one extra Node that kwok does not
manage (it lacks the ``kwok.x-k8s.io/node=fake`` annotation):

- it registers the Node Ready (tainted ``NoSchedule`` unless ``schedulable``), renews its
  Lease ``kube-node-lease/<node>`` and the Ready condition's heartbeat (so the node
  lifecycle controller never marks it unreachable);
- it watches the pods bound to the Node (``spec.nodeName`` field selector); for each new
  one it picks a unique loopback address (``127.<subnet>.x.y``), builds the environment
  from the container's ``env`` and ``envFrom`` (Secrets and ConfigMaps; it is admin; see :mod:`.podprocess`),
  starts ``jupyterhub-singleuser`` on that address and the container's first port (the
  image, command and args are ignored), and reports the pod Running and Ready with that
  ``podIP`` once the port accepts connections; a process that exits reports the pod by its
  ``restartPolicy`` (:func:`.podprocess.exited`: ``Succeeded`` on exit 0 under ``OnFailure`` or
  ``Never``, ``Failed`` on non-zero under ``Never``, else ``CrashLoopBackOff``; never restarted),
  the tail of its output in the container's ``terminated.message``;
- a pod being deleted (``deletionTimestamp``) has its process terminated and is then
  deleted with grace 0, as a kubelet confirms a deletion;
- it records the kubelet's Events about each pod (``events.k8s.io/v1``, reporting controller
  ``kubelet``), in the kubelet's words: ``Pulling`` and ``Pulled`` per container image, then
  ``Created`` and ``Started``; an image listed in ``unpullable`` is not "pulled": ``Pulling``, a
  Warning ``Failed`` (``ErrImagePull``), a Warning ``BackOff``, and the pod stays Pending with its
  container waiting in ``ImagePullBackOff`` (its process is never started).

Each process's output goes to ``<log_dir>/<namespace>_<pod>.log`` (a temporary directory
unless given). Usage::

    async with FakeKubelet(admin_client, "local-node").running() as kubelet:
        ...  # pods with spec.nodeName = kubelet.node run jupyterhub-singleuser
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import anyio
from anyio.abc import TaskGroup

from ..kube.client import Client
from ..kube.errors import AlreadyExists, ApiError, Conflict, NotFound
from ..kube.resources import EVENTS, LEASES, NODES, PODS
from ..machinery.informer import Informer, InformerOptions
from ..machinery.store import DeletedFinalStateUnknown, FrozenObject
from .podprocess import (
    PodProcess,
    container_statuses,
    environment,
    exited,
    pod_conditions,
    retrying,
    server_container,
    timestamp,
)

T = TypeVar("T")

__all__ = ["FakeKubelet", "PodProcess"]

log = logging.getLogger(__name__)

LEASE_NAMESPACE = "kube-node-lease"
DEFAULT_PORT = 8888
TAINT = "jupyternetes.io/fake-kubelet"
"""Unless ``schedulable``, the Node has this ``NoSchedule`` taint: the scheduler leaves it to pods
that name it in ``spec.nodeName`` (which bypass the scheduler), so other tests' pods stay on kwok."""

_used_addresses: set[str] = set()  # across every FakeKubelet of this process


def _micro_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _port_free(ip: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((ip, port))
        except OSError:
            return False
    return True


def _plain(obj: Any) -> Any:
    """A mutable deep copy of a frozen store object (mappings to dicts, tuples to lists)."""
    if isinstance(obj, Mapping):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


class FakeKubelet:
    """The kubelet of Node ``node``; see the module docstring."""

    def __init__(self, client: Client, node: str = "local-node", *, subnet: int = 1,
                 heartbeat_seconds: float = 5.0, lease_duration_seconds: int = 40,
                 ready_timeout: float = 120.0, log_dir: Path | None = None,
                 command: tuple[str, ...] | None = None, schedulable: bool = False,
                 unpullable: frozenset[str] = frozenset()) -> None:
        if not 0 <= subnet <= 255:
            raise ValueError("subnet must be 0..255 (addresses are 127.<subnet>.x.y)")
        self.client = client
        self.node = node
        self.subnet = subnet
        self.heartbeat_seconds = heartbeat_seconds
        self.lease_duration_seconds = lease_duration_seconds
        self.ready_timeout = ready_timeout
        self._owns_log_dir = log_dir is None
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix="jupyternetes-kubelet-"))
        self.command = command or (sys.executable, "-m", "jupyterhub.singleuser")
        self.schedulable = schedulable
        self.unpullable = unpullable
        self.pods: dict[str, PodProcess] = {}  # by pod uid
        self._addresses = (f"127.{subnet}.{x}.{y}" for x, y in itertools.product(range(256), range(1, 255)))
        self._tg: TaskGroup | None = None
        self._ready_since = timestamp()
        self._node_uid = ""
        self.informer = Informer.for_resource(
            client, PODS, InformerOptions(field_selector=f"spec.nodeName={node}"), name=f"pods/{node}")
        self.informer.add_handler(self)

    # -- lifecycle -----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[FakeKubelet]:
        """Register the Node, run until the block ends, then stop every process and delete the Node."""
        await self.register()
        try:
            async with anyio.create_task_group() as tg:
                self._tg = tg
                tg.start_soon(self._heartbeat)
                tg.start_soon(self.informer.run)
                with anyio.fail_after(30):
                    await self.informer.wait_synced()
                yield self
                tg.cancel_scope.cancel()
        finally:
            self._tg = None
            with anyio.CancelScope(shield=True):
                for pod in list(self.pods.values()):
                    await self._terminate(pod)
                with contextlib.suppress(ApiError):
                    await self.client.delete(NODES, self.node)
            if self._owns_log_dir:
                shutil.rmtree(self.log_dir, ignore_errors=True)

    def _conditions(self) -> list[dict[str, Any]]:
        now = timestamp()
        ready = {"type": "Ready", "status": "True", "reason": "KubeletReady",
                 "message": "fake kubelet is posting ready status", "lastHeartbeatTime": now,
                 "lastTransitionTime": self._ready_since}
        pressure = [{"type": t, "status": "False", "reason": f"KubeletHasNo{t}", "message": "",
                     "lastHeartbeatTime": now, "lastTransitionTime": self._ready_since}
                    for t in ("MemoryPressure", "DiskPressure", "PIDPressure")]
        return [*pressure, ready]

    async def register(self) -> None:
        """Create (or take over) the Node, Ready, and its Lease."""
        self._ready_since = timestamp()
        capacity = {"cpu": "64", "memory": "512Gi", "pods": "1000", "ephemeral-storage": "1Ti"}
        node = {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": self.node, "labels": {"kubernetes.io/hostname": self.node, "kubernetes.io/os": "linux",
                                                       "kubernetes.io/arch": "amd64", "type": "fake-kubelet"}},
            "spec": {} if self.schedulable else {"taints": [{"key": TAINT, "effect": "NoSchedule"}]},
            "status": {"allocatable": capacity, "capacity": capacity, "conditions": self._conditions(),
                       "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                                     {"type": "Hostname", "address": self.node}],
                       "nodeInfo": {"kubeletVersion": "fake", "operatingSystem": "linux", "architecture": "amd64",
                                    "containerRuntimeVersion": "fake://local-process"}},
        }
        try:
            created = await self.client.create(NODES, node)
        except AlreadyExists:  # a leftover of an earlier run
            created = await self.client.get(NODES, self.node)
        await self.client.patch(NODES, self.node, {"status": node["status"]}, subresource="status")
        self._node_uid = str(created["metadata"]["uid"])
        await self._renew_lease()

    async def _renew_lease(self) -> None:
        lease = await self.client.get_or_none(LEASES, self.node, LEASE_NAMESPACE)
        spec = {"holderIdentity": self.node, "leaseDurationSeconds": self.lease_duration_seconds,
                "renewTime": _micro_now()}
        if lease is None:
            await self.client.create(LEASES, {
                "apiVersion": LEASES.api_version, "kind": "Lease",
                "metadata": {"name": self.node, "namespace": LEASE_NAMESPACE, "ownerReferences": [{
                    "apiVersion": "v1", "kind": "Node", "name": self.node, "uid": self._node_uid}]},
                "spec": spec}, LEASE_NAMESPACE)
        else:
            lease["spec"] = spec
            await self.client.replace(LEASES, lease, LEASE_NAMESPACE)

    async def _heartbeat(self) -> None:
        while True:
            await anyio.sleep(self.heartbeat_seconds)
            try:
                await self._renew_lease()
                await self.client.patch(NODES, self.node, {"status": {"conditions": self._conditions()}},
                                        subresource="status")
            except (ApiError, OSError) as exc:  # retried on the next beat, like a kubelet
                log.warning("fake kubelet %s: heartbeat failed: %s", self.node, exc)

    # -- the informer's handlers (synchronous: they only start tasks) ------------------------

    def on_add(self, obj: FrozenObject) -> None:
        self._changed(obj)

    def on_update(self, old: FrozenObject, new: FrozenObject) -> None:
        self._changed(new)

    def on_delete(self, obj: FrozenObject | DeletedFinalStateUnknown) -> None:
        pod = obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj
        known = self.pods.get(str(pod["metadata"]["uid"]))
        if known is not None and self._tg is not None:
            self._tg.start_soon(self._terminate, known)

    def _changed(self, obj: FrozenObject) -> None:
        if self._tg is None:
            return
        uid = str(obj["metadata"]["uid"])
        known = self.pods.get(uid)
        if obj["metadata"].get("deletionTimestamp"):
            if known is None or not known.stopping:
                self._tg.start_soon(self._delete, _plain(obj), known)
            return
        if known is None and (obj.get("status") or {}).get("phase") not in ("Failed", "Succeeded"):
            pod = self._allocate(obj)
            self.pods[uid] = pod
            self._tg.start_soon(self._run, pod, _plain(obj))

    # -- pods ----------------------------------------------------------------------------

    def _allocate(self, obj: FrozenObject) -> PodProcess:
        container = server_container(obj)
        ports = container.get("ports") or ()
        port = int(ports[0]["containerPort"]) if ports else DEFAULT_PORT
        for ip in self._addresses:
            if ip not in _used_addresses and _port_free(ip, port):
                _used_addresses.add(ip)
                break
        else:
            raise RuntimeError(f"fake kubelet {self.node}: no loopback address left in 127.{self.subnet}.0.0/16")
        meta = obj["metadata"]
        return PodProcess(str(meta["namespace"]), str(meta["name"]), str(meta["uid"]), ip, port,
                          self.log_dir / f"{meta['namespace']}_{meta['name']}.log")

    async def _environment(self, pod: PodProcess, obj: Mapping[str, Any]) -> dict[str, str]:
        return await environment(self.client, self.node, pod, obj)

    async def _event(self, obj: Mapping[str, Any], kind: str, reason: str, note: str, action: str,
                     container: str | None = None) -> None:
        """Record an Event about pod ``obj`` as the kubelet does (a courtesy: a failure is only logged)."""
        meta = obj["metadata"]
        regarding = {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "namespace": meta["namespace"],
                     "uid": meta["uid"], **({"fieldPath": f"spec.containers{{{container}}}"} if container else {})}
        event = {"apiVersion": EVENTS.api_version, "kind": "Event",
                 "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}", "namespace": meta["namespace"]},
                 "eventTime": _micro_now(), "reportingController": "kubelet", "reportingInstance": self.node,
                 "action": action, "reason": reason, "note": note[:1024], "type": kind, "regarding": regarding}
        try:
            await retrying(lambda: self.client.create(EVENTS, event, meta["namespace"]))
        except ApiError as exc:
            log.warning("fake kubelet %s: Event %s about pod %s/%s: %s", self.node, reason, meta["namespace"],
                        meta["name"], exc)

    async def _pull(self, pod: PodProcess, obj: Mapping[str, Any]) -> bool:
        """"Pull" each container's image, with the kubelet's Events; False (the pod left waiting in
        ``ImagePullBackOff``) for one in ``unpullable``."""
        for container in obj["spec"]["containers"]:
            name, image = str(container["name"]), str(container.get("image") or "")
            await self._event(obj, "Normal", "Pulling", f'Pulling image "{image}"', "Pulling", name)
            if image in self.unpullable:
                message = f'Back-off pulling image "{image}"'
                await self._event(obj, "Warning", "Failed", f'Failed to pull image "{image}": rpc error: code = '
                                  f"NotFound desc = failed to pull and unpack image \"{image}\": not found",
                                  "Pulling", name)
                await self._event(obj, "Warning", "Failed", "Error: ErrImagePull", "Pulling", name)
                await self._event(obj, "Warning", "BackOff", message, "Pulling", name)
                await self._status(pod, {"phase": "Pending", "hostIP": "127.0.0.1", "startTime": timestamp(),
                                         "conditions": pod_conditions(False),
                                         "containerStatuses": container_statuses(obj, {"waiting": {
                                             "reason": "ImagePullBackOff", "message": message}}, False)})
                return False
            await self._event(obj, "Normal", "Pulled", f'Successfully pulled image "{image}" in 0s (0s including '
                              "waiting). Image size: 0 bytes.", "Pulling", name)
        return True

    async def _run(self, pod: PodProcess, obj: dict[str, Any]) -> None:
        home = self.log_dir / f"{pod.namespace}_{pod.name}.home"
        try:
            env = await self._environment(pod, obj)
            if not await self._pull(pod, obj):
                return
            await self._status(pod, {"phase": "Pending", "hostIP": "127.0.0.1", "startTime": timestamp(),
                                     "conditions": pod_conditions(False),
                                     "containerStatuses": container_statuses(obj, {"waiting": {
                                         "reason": "ContainerCreating"}}, False)})
            container = str(server_container(obj)["name"])
            await self._event(obj, "Normal", "Created", f"Created container: {container}", "Created", container)
            home.mkdir(parents=True, exist_ok=True)
            base = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTERHUB_", "JPY_"))}
            with pod.log_path.open("ab") as out:
                pod.process = await anyio.open_process(
                    [*self.command, f"--ip={pod.ip}", f"--port={pod.port}", f"--ServerApp.root_dir={home}",
                     *(["--allow-root"] if os.geteuid() == 0 else [])],
                    env={**base, "HOME": str(home), **env}, cwd=home, stdin=subprocess.DEVNULL, stdout=out,
                    stderr=subprocess.STDOUT, start_new_session=True)
            await self._event(obj, "Normal", "Started", f"Started container {container}", "Started", container)
            if await self._listening(pod):
                started = timestamp()
                await self._status(pod, {"phase": "Running", "podIP": pod.ip, "podIPs": [{"ip": pod.ip}],
                                         "conditions": pod_conditions(True),
                                         "containerStatuses": container_statuses(
                                             obj, {"running": {"startedAt": started}}, True)})
            code = await pod.process.wait() if pod.process.returncode is None else pod.process.returncode
            if not pod.stopping:
                await self._status(pod, exited(obj, code, pod.log_path.read_text(errors="replace")))
        except (ApiError, OSError, LookupError) as exc:
            if not pod.stopping:
                log.warning("fake kubelet %s: pod %s/%s: %s", self.node, pod.namespace, pod.name, exc)
                with contextlib.suppress(ApiError):
                    await self._status(pod, {"phase": "Failed", "reason": "CreateContainerError",
                                             "message": str(exc)[:1500]})
        finally:
            pod.done.set()

    async def _listening(self, pod: PodProcess) -> bool:
        """Wait until the port accepts connections (True) or the process exits (False)."""
        assert pod.process is not None
        with anyio.move_on_after(self.ready_timeout):
            while pod.process.returncode is None and not pod.stopping:
                try:
                    stream = await anyio.connect_tcp(pod.ip, pod.port)
                except OSError:
                    await anyio.sleep(0.1)
                    continue
                await stream.aclose()
                return True
        return False

    async def _status(self, pod: PodProcess, status: dict[str, Any]) -> None:
        if pod.stopping:
            return
        with contextlib.suppress(NotFound):
            await retrying(lambda: self.client.patch(PODS, pod.name, {"status": status}, pod.namespace,
                                                      subresource="status"))

    async def _terminate(self, pod: PodProcess) -> None:
        pod.stopping = True
        process = pod.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            with anyio.move_on_after(10):
                await process.wait()
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
        if process is not None:
            await process.aclose()
        self.pods.pop(pod.uid, None)
        _used_addresses.discard(pod.ip)

    async def _delete(self, obj: dict[str, Any], pod: PodProcess | None) -> None:
        """A deletion was asked: stop the process, then confirm it (grace 0, this pod's uid only)."""
        if pod is not None:
            await self._terminate(pod)
        meta = obj["metadata"]
        with contextlib.suppress(NotFound, Conflict):
            await self.client.delete(PODS, meta["name"], meta["namespace"], uid=meta["uid"], grace_period_seconds=0)


