"""The operator under ``--api-connections``: a burst of spawns on the real API server all runs, and
the operator never holds more connections to it than one per informer (its watches), the cap for
its requests and one for its Lease, counted from outside the process (``/proc``) all along."""

from __future__ import annotations

from pathlib import Path

import anyio

from bench.spawn.cluster import instance, template, template_valid
from bench.width.connections import established_to, informers, server_port
from jupyternetes_operator.api import INSTANCES, RUNNING, TEMPLATES, phase
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.testing import ControlPlane
from jupyternetes_operator.testing.operator import OperatorProcess, poll

CAP = 2
SPAWNS = 60
"""Enough at once for the 32 instance workers to want far more than :data:`CAP` connections."""


async def test_a_burst_runs_on_at_most_the_capped_connections(control_plane: ControlPlane, kube: Client,
                                                              namespace: str, tmp_path: Path) -> None:
    port = server_port(control_plane.kubeconfig.read_text())
    operator = OperatorProcess(control_plane.kubeconfig, (namespace,), tmp_path / "operator.log",
                               f"--api-connections={CAP}")
    operator.start()
    try:
        await operator.wait_ready(60)
        informed = informers(await anyio.to_thread.run_sync(operator.metrics))
        assert len(informed) >= 4, informed  # templates, instances, pods, claims at least
        await kube.create(TEMPLATES, template(), namespace)
        await template_valid(kube, namespace)
        assert operator.proc is not None
        pid, most = operator.proc.pid, 0

        async def sample() -> None:
            nonlocal most
            while True:
                most = max(most, await anyio.to_thread.run_sync(established_to, pid, port))
                await anyio.sleep(0.05)

        def all_running(listed: dict[str, object]) -> bool:
            items = listed["items"]
            assert isinstance(items, list)
            return len(items) == SPAWNS and all(phase(o) == RUNNING for o in items)

        async with anyio.create_task_group() as tg:
            tg.start_soon(sample)
            async with anyio.create_task_group() as creates:
                for i in range(SPAWNS):
                    creates.start_soon(kube.create, INSTANCES, instance(f"c{i:02d}"), namespace)
            await poll(lambda: kube.list(INSTANCES, namespace), all_running, 120, f"{SPAWNS} instances Running",
                       interval=0.5)
            tg.cancel_scope.cancel()
        # Pooled connections outlive their requests by the keep-alive (15 s), so the samples saw the pool's peak.
        assert len(informed) < most <= len(informed) + CAP + 1, (most, informed)
        assert operator.running
        assert operator.starts == 1
    finally:
        await operator.stop()
