"""The spawner's progress shows the scheduler's and the kubelet's Events about the server's pods: the real
kube-scheduler (Scheduled, FailedScheduling) and the fake kubelet (Pulling, Pulled, Created, Started;
Failed and BackOff for an image it cannot pull), read with the hub Role's token."""

from __future__ import annotations

import asyncio
import copy
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from jupyternetes_operator import api
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.resources import NODES
from jupyternetes_operator.spawner import shared
from jupyternetes_operator.spawner.errors import SpawnError
from jupyternetes_operator.testing import ControlPlane
from jupyternetes_operator.testing.fakekubelet import TAINT, FakeKubelet

from .operator_harness import running_operator, template_valid, wait_for
from .test_spawner import collect_until, hub_token, make_spawner, start_with_progress, without_home

NODE = "progress-node"
GOOD = "quay.io/jupyter/minimal-notebook:2025-10-20"
UNPULLABLE = "quay.io/jupyter/scipy-notebook:2025-10-20"
SERVE = ("import sys, http.server as h; a = dict(x[2:].split('=', 1) for x in sys.argv[1:] if '=' in x); "
         "h.HTTPServer((a['ip'], int(a['port'])), h.BaseHTTPRequestHandler).serve_forever()")
"""The pods' process: something listening on the pod's address (no hub here for jupyterhub-singleuser)."""
STYLE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z \[(Normal|Warning)\] ")


def on_node(name: str, **pod_spec: Any) -> dict[str, Any]:
    """The sample template (no home) scheduled onto the fake kubelet's tainted Node by the scheduler."""
    template = copy.deepcopy(without_home())
    template["metadata"] = {"name": name}
    template["spec"]["pods"][0]["spec"].update({
        "nodeSelector": {"kubernetes.io/hostname": NODE},
        "tolerations": [{"key": TAINT, "operator": "Exists", "effect": "NoSchedule"}], **pod_spec})
    return template


@pytest.fixture(autouse=True)
async def _close_shared() -> AsyncIterator[None]:
    yield
    await shared.close_all()


@asynccontextmanager
async def cluster(control_plane: ControlPlane, kube: Client, namespace: str, tmp_path: Path,
                  *templates: dict[str, Any]) -> AsyncIterator[Path]:
    """The fake kubelet, the operator and ``templates`` vetted; the hub Role's kubeconfig."""
    for template in templates:
        await kube.create(api.TEMPLATES, template, namespace)
    kubeconfig = control_plane.write_kubeconfig(f"hub-{namespace}", await hub_token(kube, namespace))
    async with FakeKubelet(kube, NODE, log_dir=tmp_path / "pods", unpullable=frozenset({UNPULLABLE}),
                           command=(sys.executable, "-c", SERVE)).running(), \
            running_operator(control_plane.kubeconfig, (namespace,)):
        # A new Node is tainted not-ready until the node lifecycle controller sees it Ready: wait, or the
        # scheduler's first answer may be a FailedScheduling.
        await wait_for(kube, NODES, NODE, "", lambda o: o is not None and [
            t["key"] for t in o["spec"].get("taints") or ()] == [TAINT], what="the fake node schedulable")
        for template in templates:
            await template_valid(kube, template["metadata"]["name"], namespace)
        yield kubeconfig


def messages(progress: list[dict[str, Any]]) -> list[str]:
    return [str(p["message"]) for p in progress]


def pod_lines(progress: list[dict[str, Any]]) -> list[str]:
    """The pod Events' messages, without their time."""
    return [STYLE.sub(lambda m: f"[{m[2]}] ", m) for m in messages(progress) if STYLE.match(m)]


async def test_scheduler_and_kubelet_events_in_order(control_plane: ControlPlane, kube: Client, namespace: str,
                                                     tmp_path: Path) -> None:
    async with cluster(control_plane, kube, namespace, tmp_path, on_node("jupyterlab")) as kubeconfig:
        # The scheduler records its Events asynchronously: one may land after the kubelet's, or after the
        # pod is Ready; the drain after Running (progress_drain_seconds) is what lets late ones show.
        spawner = make_spawner(kubeconfig, namespace, progress_drain_seconds=5)
        with anyio.fail_after(90):
            url, progress = await start_with_progress(spawner)
        assert url.startswith("http://127.")
        pod = "jupyter-alice-notebook"
        lines = pod_lines(progress)
        scheduled = f"[Normal] Successfully assigned {namespace}/{pod} to {NODE}"
        assert [line for line in lines if line != scheduled] == [
            f'[Normal] Pulling image "{GOOD}"',
            f'[Normal] Successfully pulled image "{GOOD}" in 0s (0s including waiting). Image size: 0 bytes.',
            "[Normal] Created container: notebook",
            "[Normal] Started container notebook",
        ], messages(progress)
        assert lines.count(scheduled) == 1, messages(progress)
        values = [p["progress"] for p in progress if "progress" in p]
        assert values == sorted(values)
        assert progress[-1] == {"progress": 100, "message": f"Server ready at {url}"}
        with anyio.fail_after(60):
            await spawner.stop()


async def test_an_image_that_cannot_be_pulled(control_plane: ControlPlane, kube: Client, namespace: str,
                                              tmp_path: Path) -> None:
    async with cluster(control_plane, kube, namespace, tmp_path, on_node("jupyterlab")) as kubeconfig:
        spawner = make_spawner(kubeconfig, namespace, user_options={"variables": {"image": UNPULLABLE}})
        start = asyncio.create_task(spawner.start())
        with anyio.fail_after(90):
            progress = await collect_until(spawner, start)
            with pytest.raises(SpawnError, match="ImagePullBackOff"):
                await start
    lines = pod_lines(progress)
    assert f'[Normal] Pulling image "{UNPULLABLE}"' in lines
    assert f'[Warning] Back-off pulling image "{UNPULLABLE}"' in lines
    assert "[Warning] Error: ErrImagePull" in lines
    assert len(lines) == len(set(lines))  # each once
    assert not any("Pulled" in line or "Started" in line for line in lines)


async def test_failed_scheduling_is_shown(control_plane: ControlPlane, kube: Client, namespace: str,
                                          tmp_path: Path) -> None:
    nowhere = on_node("nowhere")
    nowhere["spec"]["pods"][0]["spec"]["nodeSelector"] = {"no-such-label": "x"}
    async with cluster(control_plane, kube, namespace, tmp_path, nowhere) as kubeconfig:
        spawner = make_spawner(kubeconfig, namespace, template_name="nowhere", start_timeout=4)
        start = asyncio.create_task(spawner.start())
        with anyio.fail_after(60):
            progress = await collect_until(spawner, start)
            with pytest.raises(SpawnError):
                await start
    lines = pod_lines(progress)
    assert any(line.startswith("[Warning] 0/") and "node(s) didn't match Pod's node affinity/selector" in line
               for line in lines), messages(progress)
    assert len(lines) == len(set(lines))
