"""``jupyternetes-operator run`` as a real process: health, metrics, leader Lease, JSON logs,
and a graceful SIGTERM that releases the Lease."""

from __future__ import annotations

import json
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


async def eventually(url: str, predicate: object, timeout: float = 30) -> str:
    last = ""
    with anyio.fail_after(timeout):
        while True:
            try:
                status, last = await get(url)
                if status == 200 and callable(predicate) and predicate(last):
                    return last
            except aiohttp.ClientError:
                pass
            await anyio.sleep(0.2)


async def test_run_serves_health_and_metrics_and_stops_gracefully(control_plane: ControlPlane, kube: Client,
                                                                   namespace: str, tmp_path: Path) -> None:
    log = tmp_path / "operator.log"
    operator = OperatorProcess(control_plane.kubeconfig, (namespace,), log)
    operator.start()
    base = f"http://{operator.address}"
    try:
        await eventually(f"{base}/readyz", lambda text: text == "ok")
        assert (await get(f"{base}/healthz")) == (200, "ok")

        await kube.create(TEMPLATES, TEMPLATE, namespace)
        await template_valid(kube, "jupyterlab", namespace)
        await kube.create(INSTANCES, instance("jupyter-alice", {"username": "alice"}), namespace)
        await ready_instance(kube, "jupyter-alice", namespace)

        lease = await kube.get(LEASES, "jupyternetes-operator", namespace)
        assert lease["spec"]["holderIdentity"]
        running = 'jupyternetes_instances{phase="Running"} 1.0'
        metrics = await eventually(f"{base}/metrics", lambda text: running in text)
        for expected in (
            'leader_election_master_status{name="jupyternetes-operator"} 1.0',
            'jupyternetes_templates{valid="true"} 1.0',
            "jupyternetes_spawn_duration_seconds_count 1.0",
            'workqueue_adds_total{name="jupyternotebookinstance"}',
            'controller_runtime_reconcile_total{controller="jupyternotebookinstance",result="success"}',
            'controller_runtime_max_concurrent_reconciles{controller="jupyternotebookinstance"} 32.0',
            'rest_client_requests_total{code="201",method="POST"}',
            'jupyternetes_informer_objects{resource="jupyternotebookinstances/',
        ):
            assert expected in metrics, expected
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
