"""The harness starts a real, working cluster: scheduling, kwok, GC, volumes, RBAC."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from jupyternetes_operator.kube.client import Client, Object
from jupyternetes_operator.kube.errors import Forbidden
from jupyternetes_operator.kube.resources import CONFIG_MAPS, EVENTS, NAMESPACES, PODS, PVCS, Resource
from jupyternetes_operator.testing import ControlPlane, ControlPlaneConfig, StartError
from jupyternetes_operator.testing.binaries import KUBERNETES_VERSION
from jupyternetes_operator.testing.controlplane import CLIENTS
from jupyternetes_operator.testing.namespaces import ensure_namespace

from .operator_harness import wait_for

ROLES = Resource("rbac.authorization.k8s.io", "v1", "roles")
ROLE_BINDINGS = Resource("rbac.authorization.k8s.io", "v1", "rolebindings")


def pod(name: str, owner: Object | None = None) -> Object:
    metadata: dict[str, Any] = {"name": name}
    if owner is not None:
        metadata["ownerReferences"] = [{"apiVersion": "v1", "kind": owner["kind"], "name": owner["metadata"]["name"],
                                        "uid": owner["metadata"]["uid"], "controller": True}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
            "spec": {"containers": [{"name": "c", "image": "quay.io/jupyter/base-notebook"}]}}


async def test_pod_is_scheduled_runs_and_is_garbage_collected(kube: Client, namespace: str) -> None:
    owner = await kube.create(CONFIG_MAPS, {"apiVersion": "v1", "kind": "ConfigMap",
                                            "metadata": {"name": "owner"}}, namespace)
    owner["kind"] = "ConfigMap"
    await kube.create(PODS, pod("p1", owner), namespace)

    running = await wait_for(kube, PODS, "p1", namespace,
                             lambda p: p and p["status"].get("phase") == "Running" and p["status"].get("podIP"))
    assert running is not None
    assert running["spec"]["nodeName"].startswith("kwok-node-")  # set by kube-scheduler, not by us
    conditions = {c["type"]: c["status"] for c in running["status"]["conditions"]}
    assert conditions["PodScheduled"] == "True"
    assert conditions["Ready"] == "True"
    events = await kube.list(EVENTS, namespace)
    assert any(e.get("reason") == "Scheduled" and e["regarding"]["name"] == "p1" for e in events["items"])

    await kube.delete(CONFIG_MAPS, "owner", namespace)
    assert await wait_for(kube, PODS, "p1", namespace, lambda p: p is None) is None


async def test_pvc_of_the_kwok_storage_class_binds(kube: Client, namespace: str) -> None:
    await kube.create(PVCS, {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "home"},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }, namespace)
    bound = await wait_for(kube, PVCS, "home", namespace, lambda c: c and c["status"].get("phase") == "Bound")
    assert bound is not None
    assert bound["spec"]["storageClassName"] == "kwok-volume"  # the default class
    assert bound["spec"]["volumeName"]


@pytest.mark.controls_processes  # restarts the session plane's controller-manager and scheduler
async def test_refreshed_clients_serve_again(control_plane: ControlPlane, kube: Client, namespace: str) -> None:
    # What fault runs do once they end: the controller-manager and the scheduler start again, each a new
    # process, and the plane works as before (a new namespace gets its ServiceAccount, a pod runs).
    before = {name: control_plane.processes[name].pid for name in CLIENTS}
    await anyio.to_thread.run_sync(control_plane.refresh_clients)
    after = {name: control_plane.processes[name].pid for name in CLIENTS}
    assert all(after[name] not in (None, before[name]) for name in CLIENTS), (before, after)
    await ensure_namespace(kube, f"{namespace}-again", timeout=30)
    try:
        await kube.create(PODS, pod("after-refresh"), f"{namespace}-again")
        running = await wait_for(kube, PODS, "after-refresh", f"{namespace}-again",
                                 lambda p: p and p["status"].get("phase") == "Running")
        assert running is not None
    finally:
        await kube.delete(NAMESPACES, f"{namespace}-again")


async def test_non_admin_user_is_forbidden_until_granted(control_plane: ControlPlane, kube: Client,
                                                         namespace: str) -> None:
    async with await Client.from_kubeconfig(str(control_plane.kubeconfig_for("alice"))) as alice:
        with pytest.raises(Forbidden) as info:
            await alice.list(PODS, namespace)
        assert 'User "alice" cannot list resource "pods"' in info.value.message

        await kube.create(ROLES, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                                  "metadata": {"name": "pod-reader"},
                                  "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]},
                          namespace)
        await kube.create(ROLE_BINDINGS, {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "alice"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "pod-reader"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}]}, namespace)
        with anyio.fail_after(10):
            while True:  # the RBAC authorizer's cache follows the binding within moments
                try:
                    assert (await alice.list(PODS, namespace))["items"] == []
                    break
                except Forbidden:
                    await anyio.sleep(0.1)
        with pytest.raises(Forbidden):
            await alice.create(PODS, pod("nope"), namespace)


def test_kubectl_reports_the_built_version(control_plane: ControlPlane) -> None:
    versions = json.loads(control_plane.kubectl("version", "-o", "json").stdout)
    assert versions["clientVersion"]["gitVersion"] == KUBERNETES_VERSION
    assert versions["serverVersion"]["gitVersion"] == KUBERNETES_VERSION


def test_failed_component_is_named_with_its_log(control_plane: ControlPlane) -> None:
    plane = ControlPlane(ControlPlaneConfig(apiserver_args=("--no-such-flag",), crd_dir=None),
                         control_plane.binaries)
    with pytest.raises(StartError) as info:
        plane.start()
    assert str(info.value).startswith("kube-apiserver exited with code")
    assert "unknown flag: --no-such-flag" in str(info.value)
    assert not plane.workdir.exists()  # stop() cleaned up after the failure
    assert not plane.processes


def test_dev_cluster_command_round_trip(control_plane: ControlPlane, tmp_path: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "jupyternetes_operator", "dev-cluster", *args,
                               "--dir", str(tmp_path)], capture_output=True, text=True, timeout=300)

    up = cli("up", "--nodes", "1")
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        env = cli("env")
        assert env.returncode == 0
        kubeconfig = env.stdout.splitlines()[0].removeprefix("export KUBECONFIG=")
        nodes = subprocess.run([str(control_plane.binaries.kubectl), f"--kubeconfig={kubeconfig}", "get", "nodes",
                                "-o", "name"], capture_output=True, text=True, check=True)
        assert nodes.stdout.split() == ["node/kwok-node-0"]
        supervisor_pid = int((tmp_path / "ready.json").read_text().split('"pid": "')[1].split('"')[0])
    finally:
        down = cli("down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "dev cluster stopped" in down.stdout
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True)
    assert leftovers.stdout.strip() == "", f"processes left behind: {leftovers.stdout}"
    assert subprocess.run(["kill", "-0", str(supervisor_pid)], capture_output=True).returncode != 0
