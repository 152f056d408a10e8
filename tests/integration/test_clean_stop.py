"""A server that exits by itself ends its instance in a terminal phase, never restarted: exit 0 (the
singleuser server's own idle cull) is ``Stopped`` and the spawner's ``poll()`` reports 0; a crash is
``Failed`` and ``poll()`` reports 1. The real scheduler, the operator and the fake kubelet, which runs
each pod as a local process and reports its exit by the sample template's ``restartPolicy: OnFailure``."""

from __future__ import annotations

import copy
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from jupyternetes_operator import api
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.resources import EVENTS, NODES, PODS
from jupyternetes_operator.spawner import JupyternetesSpawner, shared
from jupyternetes_operator.testing import ControlPlane
from jupyternetes_operator.testing.fakekubelet import TAINT, FakeKubelet
from jupyternetes_operator.testing.operator import wait_for_list

from .operator_harness import running_operator, template_valid, wait_for
from .test_spawner import hub_token, make_spawner, without_home

NODE = "stop-node"
SERVE_UNTIL_TOLD = (
    "import os, sys, threading, time, http.server as h; a = dict(x[2:].split('=', 1) for x in sys.argv[1:] "
    "if '=' in x); s = h.HTTPServer((a['ip'], int(a['port'])), h.BaseHTTPRequestHandler); "
    "threading.Thread(target=s.serve_forever, daemon=True).start()\n"
    "while not os.path.exists('exit'): time.sleep(0.1)\n"
    "sys.exit(int(open('exit').read()))")
"""The pods' process: listens on the pod's address until a file ``exit`` appears in its working
directory (its home), then exits with the code the file holds (as jupyterhub-singleuser does when it
culls itself, ``--ServerApp.shutdown_no_activity_timeout``: exit 0)."""


@pytest.fixture(autouse=True)
async def _close_shared() -> AsyncIterator[None]:
    yield
    await shared.close_all()


def on_node() -> dict[str, Any]:
    template = copy.deepcopy(without_home())
    spec = template["spec"]["pods"][0]["spec"]
    assert spec["restartPolicy"] == "OnFailure"  # the sample's, as z2jh's for culling
    spec.update({"nodeSelector": {"kubernetes.io/hostname": NODE},
                 "tolerations": [{"key": TAINT, "operator": "Exists", "effect": "NoSchedule"}]})
    return template


@asynccontextmanager
async def cluster(control_plane: ControlPlane, kube: Client, namespace: str, pods: Path) -> AsyncIterator[Path]:
    await kube.create(api.TEMPLATES, on_node(), namespace)
    kubeconfig = control_plane.write_kubeconfig(f"hub-{namespace}", await hub_token(kube, namespace))
    async with FakeKubelet(kube, NODE, log_dir=pods, command=(sys.executable, "-c", SERVE_UNTIL_TOLD)).running(), \
            running_operator(control_plane.kubeconfig, (namespace,)):
        await wait_for(kube, NODES, NODE, "", lambda o: o is not None and [
            t["key"] for t in o["spec"].get("taints") or ()] == [TAINT], what="the fake node schedulable")
        await template_valid(kube, "jupyterlab", namespace)
        yield kubeconfig


async def exit_server(pods: Path, namespace: str, pod: str, code: int) -> None:
    (pods / f"{namespace}_{pod}.home" / "exit").write_text(str(code))


async def polled(spawner: JupyternetesSpawner, timeout: float = 30) -> int:
    """What ``poll()`` reports once it reports an exit (its cache follows the API server's watch)."""
    with anyio.fail_after(timeout):
        while (status := await spawner.poll()) is None:  # noqa: ASYNC110 (the hub polls so too)
            await anyio.sleep(0.1)
    return status


async def test_a_server_that_exits_0_is_stopped_for_good_and_poll_says_0(
        control_plane: ControlPlane, kube: Client, namespace: str, tmp_path: Path) -> None:
    pods = tmp_path / "pods"
    async with cluster(control_plane, kube, namespace, pods) as kubeconfig:
        spawner = make_spawner(kubeconfig, namespace)
        with anyio.fail_after(90):
            url = await spawner.start()
        assert url.startswith("http://127.")
        assert await spawner.poll() is None
        name, pod = spawner.instance_name, f"{spawner.instance_name}-notebook"
        before = await kube.get(PODS, pod, namespace)

        await exit_server(pods, namespace, pod, 0)
        stopped = await wait_for(kube, api.INSTANCES, name, namespace, lambda o: api.phase(o) == api.STOPPED,
                                 30, "instance Stopped")
        ready = api.condition(stopped, api.READY)
        assert (ready["status"], ready["reason"]) == ("False", api.SERVER_STOPPED)
        assert ready["message"] == (f"Pod {pod}: the server stopped by itself: container notebook exited with code "
                                    "0 (Completed)")
        assert "endpoint" not in stopped["status"]
        assert [c["state"] for c in stopped["status"]["children"]] == ["Stopped"]
        assert await polled(spawner) == 0

        # Never re-created: not while its pod stays Succeeded, nor once the pod is gone (pod GC).
        await anyio.sleep(2)
        pod_now = await kube.get(PODS, pod, namespace)
        assert (pod_now["metadata"]["uid"], pod_now["status"]["phase"]) == (before["metadata"]["uid"], "Succeeded")
        await kube.delete(PODS, pod, namespace)
        await wait_for(kube, PODS, pod, namespace, lambda o: o is None, 30, "the stopped pod deleted")
        await anyio.sleep(3)
        assert await kube.get_or_none(PODS, pod, namespace) is None
        after = await kube.get(api.INSTANCES, name, namespace)
        assert api.phase(after) == api.STOPPED
        assert api.condition(after, api.READY)["message"] == ready["message"]

        def announced(events: Any) -> list[tuple[str, str]]:
            return [(e["type"], e["note"]) for e in events["items"]
                    if (e.get("regarding") or {}).get("name") == name and e.get("reason") == api.SERVER_STOPPED]
        events = await wait_for_list(kube, EVENTS, namespace, announced, 30, "the ServerStopped Event")
        assert announced(events) == [("Normal", ready["message"])]

        with anyio.fail_after(60):  # what the hub does next, as on any stop
            await spawner.stop()
        assert await kube.get_or_none(api.INSTANCES, name, namespace) is None


async def test_a_server_that_crashes_fails_and_poll_says_1(control_plane: ControlPlane, kube: Client,
                                                             namespace: str, tmp_path: Path) -> None:
    pods = tmp_path / "pods"
    async with cluster(control_plane, kube, namespace, pods) as kubeconfig:
        spawner = make_spawner(kubeconfig, namespace, user="bob")
        with anyio.fail_after(90):
            await spawner.start()
        name, pod = spawner.instance_name, f"{spawner.instance_name}-notebook"
        await exit_server(pods, namespace, pod, 3)
        failed = await wait_for(kube, api.INSTANCES, name, namespace, lambda o: api.phase(o) == api.FAILED,
                                30, "instance Failed")
        ready = api.condition(failed, api.READY)
        assert ready["reason"] == "CrashLoopBackOff"  # OnFailure: the kubelet would restart it, and backs off
        assert "exit code 3" in ready["message"]
        assert await polled(spawner) == 1
        with anyio.fail_after(60):
            await spawner.stop()
