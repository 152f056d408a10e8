"""Fault runs, small size: the operator is SIGKILLed again and again during a burst, and the
cluster still converges with nothing duplicated, orphaned or lost (checked by the invariant checker)."""

from __future__ import annotations

import random
from pathlib import Path

import anyio

from jupyternetes_operator.api import INSTANCES, TEMPLATES
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.resources import PVCS
from jupyternetes_operator.testing import ControlPlane
from jupyternetes_operator.testing.invariants import check, retained_claims

from .operator_harness import TEMPLATE, OperatorProcess, instance, ready_instance, template_valid


async def test_sigkill_during_a_burst_ten_times(control_plane: ControlPlane, kube: Client, namespace: str,
                                                tmp_path: Path) -> None:
    rng = random.Random(20261125)
    operator = OperatorProcess(control_plane.kubeconfig, (namespace,), tmp_path / "operator.log",
                               "--log-format=text")
    names = [f"burst{i}" for i in range(30)]
    await kube.create(TEMPLATES, TEMPLATE, namespace)
    operator.start()
    try:
        await template_valid(kube, "jupyterlab", namespace)

        async def create_all() -> None:
            for name in names:
                await kube.create(INSTANCES, instance(name), namespace)
                await anyio.sleep(rng.uniform(0, 0.05))

        async with anyio.create_task_group() as tg:
            tg.start_soon(create_all)
            for _ in range(10):  # SIGKILL at random moments while the burst is being provisioned
                await anyio.sleep(rng.uniform(0.1, 0.6))
                operator.kill()
                operator.start()
        with anyio.fail_after(90):
            for name in names:
                await ready_instance(kube, name, namespace, timeout=90)
    finally:
        await operator.stop()

    claims = retained_claims((await kube.list(PVCS, namespace))["items"])
    report = await check(kube, [namespace], retained_before=claims)
    assert report.ok, report.problems
    assert (report.instances, report.running, report.duplicates, report.orphans,
            report.lost_retained_claims) == (30, 30, 0, 0, 0)
    assert len(claims) == 30
