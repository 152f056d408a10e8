"""``jupyternetes-operator run`` as a real process: health, metrics, leader Lease, JSON logs,
and a graceful SIGTERM that releases the Lease."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import aiohttp
import anyio

from jupyternetes_operator.api import INSTANCES, TEMPLATES
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.resources import LEASES
from jupyternetes_operator.testing import ControlPlane

from .operator_harness import TEMPLATE, OperatorProcess, instance, ready_instance, template_valid


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def eventually(url: str, predicate: Callable[[str], bool], timeout: float = 30) -> str:
    """The body of ``url`` once ``predicate`` holds for it, else the last body seen after ``timeout``
    (so the caller's assertions say what was missing)."""
    last = ""
    with anyio.move_on_after(timeout):
        while True:
            try:
                status, last = await get(url)
                if status == 200 and predicate(last):
                    return last
            except aiohttp.ClientError:
                pass
            await anyio.sleep(0.2)
    return last


async def test_run_serves_health_and_metrics_and_stops_gracefully(control_plane: ControlPlane, kube: Client,
                                                                   namespace: str, tmp_path: Path) -> None:
    log = tmp_path / "operator.log"
    operator = OperatorProcess(control_plane.kubeconfig, (namespace,), log)
    operator.start()
    base = f"http://{operator.address}"
    try:
        assert await eventually(f"{base}/readyz", lambda text: text == "ok") == "ok"
        assert (await get(f"{base}/healthz")) == (200, "ok")

        await kube.create(TEMPLATES, TEMPLATE, namespace)
        await template_valid(kube, "jupyterlab", namespace)
        await kube.create(INSTANCES, instance("jupyter-alice", {"username": "alice"}), namespace)
        await ready_instance(kube, "jupyter-alice", namespace)

        lease = await kube.get(LEASES, "jupyternetes-operator", namespace)
        assert lease["spec"]["holderIdentity"]
        expected = (
            'jupyternetes_instances{phase="Running"} 1.0',
            'jupyternetes_instances{phase="Released"} 0.0',  # every phase is exported, none left out
            'leader_election_master_status{name="jupyternetes-operator"} 1.0',
            'jupyternetes_templates{valid="true"} 1.0',
            "jupyternetes_spawn_duration_seconds_count 1.0",
            'workqueue_adds_total{name="jupyternotebookinstance"}',
            'controller_runtime_reconcile_total{controller="jupyternotebookinstance",result="success"}',
            'controller_runtime_max_concurrent_reconciles{controller="jupyternotebookinstance"} 32.0',
            'rest_client_requests_total{code="201",method="POST"}',
            'jupyternetes_informer_objects{resource="jupyternotebookinstances/',
        )
        # Each metric is written at its own moment (the spawn histogram after the status write
        # returns, the phase gauge from the cache): wait for all of them, then say which is missing.
        metrics = await eventually(f"{base}/metrics", lambda text: all(line in text for line in expected))
        assert [line for line in expected if line not in metrics] == []
    finally:
        code = await operator.stop()
    assert code == 0, log.read_text()[-3000:]
    released = await kube.get(LEASES, "jupyternetes-operator", namespace)
    assert not released["spec"].get("holderIdentity")  # a successor need not wait out the lease

    lines = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert lines, "the operator logged nothing"
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in lines)
    messages = [entry["message"] for entry in lines]
    assert any("shutting down gracefully" in m for m in messages)
