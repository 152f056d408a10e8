"""Recording a realistic pod watch stream from a real control plane (all the I/O of the benchmark).

The workload is what the operator sees on a busy hub: ``pods + churn`` notebook servers, each
a JupyterNotebookInstance owning its pod (labels, env, resources, a PVC home volume, the
injected service-account volume), spread over a few namespaces. Homes are created and bound
first, then the pods; kwok runs them (scheduler binding and status updates arrive as MODIFIED,
with managedFields); then the ``churn`` servers are stopped (graceful delete: MODIFIED with
deletionTimestamp, then DELETED).

The recording is the raw event lines of one all-namespaces pod watch from the resourceVersion
before the first create up to the last expected DELETED (resumed from the last event if the
server drops it), so it replays the whole history without gaps or repeats, and the cache it
builds ends with exactly ``pods`` Running pods.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio

from jupyternetes_operator.api import INSTANCES
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.resources import PODS, PVCS
from jupyternetes_operator.kube.watch import DELETED, LineSplitter, decode
from jupyternetes_operator.testing import ControlPlane, ControlPlaneConfig
from jupyternetes_operator.testing.namespaces import ensure_namespace

Report = Callable[[str, int, int], None]
"""Progress of a phase: ``(phase, done, total)``."""

IMAGE = "quay.io/jupyter/scipy-notebook:2025-10-20"


@dataclass(frozen=True)
class Workload:
    pods: int = 2000
    """Notebook pods left running at the end (the steady-state cache)."""
    churn: int = 400
    """Extra servers started, then stopped: the DELETED events."""
    namespaces: int = 4
    concurrency: int = 16
    """Requests in flight while creating and deleting (the machine is small and shared)."""

    @property
    def total(self) -> int:
        return self.pods + self.churn

    @property
    def nodes(self) -> int:
        """Enough fake nodes for every pod's CPU request (100m each, 64 CPUs a node)."""
        return max(2, -(-self.total // 500))

    def user(self, i: int) -> tuple[str, str]:
        """(user name, namespace) of server ``i``; the last ``churn`` are the ones stopped."""
        return f"user-{i:05d}", f"hub-{i % self.namespaces}"


def instance(user: str) -> dict[str, Any]:
    return {"apiVersion": "jupyternetes.io/v1", "kind": "JupyterNotebookInstance",
            "metadata": {"name": f"jupyter-{user}", "labels": {"hub.jupyter.org/username": user}},
            "spec": {"template": {"name": "jupyterlab"}, "variables": {"username": user}}}


def pvc(user: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": f"home-{user}", "labels": {"hub.jupyter.org/username": user}},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}}


def notebook_pod(user: str, namespace: str, owner: dict[str, Any]) -> dict[str, Any]:
    """Roughly what the template renders plus what JupyterHub's spawner puts in the environment."""
    hub = "http://hub.jupyterhub.svc.cluster.local:8081/hub"
    prefix = f"/user/{user}/"
    env = {
        "JUPYTERHUB_API_TOKEN": hashlib.sha256(user.encode()).hexdigest()[:32],
        "JUPYTERHUB_CLIENT_ID": f"jupyterhub-user-{user}",
        "JUPYTERHUB_USER": user, "JUPYTERHUB_SERVER_NAME": "", "JUPYTERHUB_API_URL": f"{hub}/api",
        "JUPYTERHUB_ACTIVITY_URL": f"{hub}/api/users/{user}/activity", "JUPYTERHUB_BASE_URL": "/",
        "JUPYTERHUB_SERVICE_PREFIX": prefix, "JUPYTERHUB_SERVICE_URL": f"http://0.0.0.0:8888{prefix}",
        "JUPYTERHUB_OAUTH_CALLBACK_URL": f"{prefix}oauth_callback",
        "JUPYTERHUB_OAUTH_SCOPES": f'["access:servers!server={user}/"]',
        "JUPYTERHUB_OAUTH_ACCESS_SCOPES": f'["access:servers!server={user}/", "access:servers!user={user}"]',
        "JUPYTER_IMAGE": IMAGE, "JUPYTER_IMAGE_SPEC": IMAGE, "MEM_GUARANTEE": "268435456",
        "MEM_LIMIT": "2147483648", "CPU_GUARANTEE": "0.1",
    }
    labels = {"app": "jupyterhub", "component": "singleuser-server", "hub.jupyter.org/username": user,
              "hub.jupyter.org/servername": "", "jupyternetes.io/instance": owner["metadata"]["name"],
              "jupyternetes.io/template": "jupyterlab", "app.kubernetes.io/managed-by": "jupyternetes-operator"}
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": f"jupyter-{user}", "namespace": namespace, "labels": labels,
            "annotations": {"hub.jupyter.org/username": user, "jupyternetes.io/pod": "notebook"},
            "ownerReferences": [{"apiVersion": owner["apiVersion"], "kind": owner["kind"],
                                 "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
                                 "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": {
            "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "fsGroup": 100,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "notebook", "image": IMAGE, "args": ["jupyterhub-singleuser"],
                "ports": [{"name": "http", "containerPort": 8888}],
                "env": [{"name": k, "value": v} for k, v in env.items()],
                "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "2Gi"}},
                "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                "volumeMounts": [{"name": "home", "mountPath": "/home/jovyan"}],
            }],
            "volumes": [{"name": "home", "persistentVolumeClaim": {"claimName": f"home-{user}"}}],
        },
    }


async def _each(n: int, fn: Callable[[int], Awaitable[object]], concurrency: int, phase: str,
                report: Report) -> None:
    """``fn(0) .. fn(n - 1)``, ``concurrency`` at a time."""
    limiter = anyio.CapacityLimiter(concurrency)
    done = 0

    async def one(i: int) -> None:
        nonlocal done
        async with limiter:
            await fn(i)
        done += 1
        report(phase, done, n)

    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(one, i)


async def _until(count: Callable[[], Awaitable[int]], total: int, phase: str, report: Report,
                 timeout: float = 600) -> None:
    """Poll ``count()`` every second until it reaches ``total``."""
    with anyio.fail_after(timeout):
        while (done := await count()) < total:
            report(phase, done, total)
            await anyio.sleep(1)
        report(phase, done, total)


async def _capture(client: Client, resource_version: str, deletes: int, lines: list[bytes],
                   report: Report) -> None:
    """Keep every line of the pod watch until ``deletes`` DELETED events have gone by.

    The server may end a watch early (e.g. it drops a watcher that falls behind while this
    small machine is busy); like an informer, this resumes from the last event's version, so
    the recording is still one gapless history.
    """
    seen = connections = 0
    while seen < deletes:
        connections += 1
        report("watch connections", connections, connections)
        params: dict[str, str | int | bool] = {"watch": True, "allowWatchBookmarks": True,
                                               "resourceVersion": resource_version, "timeoutSeconds": 3600}
        async with client.stream(PODS.path(), params=params) as body:
            splitter = LineSplitter()
            while seen < deletes and (chunk := await body.readany()):
                for line in splitter.feed(chunk):
                    lines.append(line)
                    event = decode(line)
                    resource_version = event.resource_version or resource_version
                    if event.type == DELETED:
                        seen += 1
                        report("deleted (seen on the watch)", seen, deletes)


async def record_workload(client: Client, workload: Workload, report: Report) -> bytes:
    """Run the workload against ``client``'s cluster and return the recorded stream."""
    w = workload
    namespaces = sorted({w.user(i)[1] for i in range(w.total)})
    for ns in namespaces:
        await ensure_namespace(client, ns)
    start = str((await client.list_page(PODS, params={"limit": 1}))["metadata"]["resourceVersion"])
    owners: dict[int, dict[str, Any]] = {}

    async def create_owner_and_home(i: int) -> None:
        user, ns = w.user(i)
        owners[i] = await client.create(INSTANCES, instance(user), ns)
        await client.create(PVCS, pvc(user), ns)

    async def create_pod(i: int) -> None:
        user, ns = w.user(i)
        await client.create(PODS, notebook_pod(user, ns, owners[i]), ns)

    async def stop_pod(i: int) -> None:
        user, ns = w.user(w.pods + i)
        await client.delete(PODS, f"jupyter-{user}", ns)

    async def bound() -> int:
        items = (await client.list(PVCS))["items"]
        return sum(1 for o in items if (o.get("status") or {}).get("phase") == "Bound")

    async def running() -> int:  # every pod exists by now: count the ones not yet Running
        return w.total - len((await client.list(PODS, field_selector="status.phase!=Running"))["items"])

    lines: list[bytes] = []
    async with anyio.create_task_group() as tg:
        tg.start_soon(_capture, client, start, w.churn, lines, report)
        await _each(w.total, create_owner_and_home, w.concurrency, "instances + PVCs created", report)
        # Pods whose claim is still unbound would wait in the scheduler's unschedulable queue for minutes.
        await _until(bound, w.total, "PVCs bound", report)
        await _each(w.total, create_pod, w.concurrency, "pods created", report)
        await _until(running, w.total, "pods running", report)
        await _each(w.churn, stop_pod, w.concurrency, "pods deleted", report)
    return b"\n".join(lines) + b"\n"


def record(workload: Workload, report: Report, status: Callable[[str], None]) -> bytes:
    """Start a control plane, record the workload's pod watch stream, stop it again."""
    plane = ControlPlane(ControlPlaneConfig(nodes=workload.nodes, users=()))
    plane.start(status)
    try:
        async def main() -> bytes:
            async with await Client.from_kubeconfig(str(plane.kubeconfig)) as client:
                return await record_workload(client, workload, report)

        status("recording the watch")
        return anyio.run(main)
    finally:
        status("stopping the control plane")
        plane.stop()
