"""Issue 16, width: the operator in the all-namespaces mode holds as many watches with 100
namespaces as with one, counted from outside the process: its established TCP connections to the
API server (from ``/proc``), one per informer it reports, and the API server's open WATCHes (the
same total at both sizes, and as many closed when the operator stops as it has informers). It
serves every instance in every namespace, each namespace created after it started, without a
restart.

The full-size run (1,000 namespaces x 10 instances) is ``python -m bench.width``.
"""

from __future__ import annotations

import contextlib
import secrets
from pathlib import Path

import anyio

from bench.spawn.cluster import instance, template
from bench.width.connections import established_to, informers, longrunning_watches, server_port
from jupyternetes_operator.api import INSTANCES, RUNNING, TEMPLATES, phase
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.errors import NotFound
from jupyternetes_operator.kube.resources import NAMESPACES
from jupyternetes_operator.testing import ControlPlane
from jupyternetes_operator.testing.namespaces import ensure_namespace
from jupyternetes_operator.testing.operator import OperatorProcess, poll

NAMESPACES_ADDED, PER_NAMESPACE = 100, 2
LEASE_NAMESPACE = "jupyternetes-width"
"""The operator's own namespace (excluded from its watches, as deployed)."""
POOL_IDLE = 40.0
"""aiohttp closes a pooled request connection 15 to 30 s after its last use; a watch's stays."""


async def watches(kube: Client) -> int:
    """Every client's open WATCHes, from the API server's /metrics."""
    return longrunning_watches((await kube.request("GET", "/metrics")).decode()).get("total", 0)


async def connections_down_to(operator: OperatorProcess, port: int, target: int) -> int:
    """The operator's established connections to the API server once no more than ``target`` (its
    pooled request connections closed), else the count after :data:`POOL_IDLE` seconds."""
    assert operator.proc is not None
    pid = operator.proc.pid
    with anyio.move_on_after(POOL_IDLE):
        while (n := await anyio.to_thread.run_sync(established_to, pid, port)) > target:  # noqa: ASYNC110
            await anyio.sleep(0.5)
        return n
    return await anyio.to_thread.run_sync(established_to, pid, port)


async def populate(kube: Client, namespaces: list[str], run: str) -> list[str]:
    """Each namespace (created now) with the template and :data:`PER_NAMESPACE` instances."""
    limiter = anyio.CapacityLimiter(20)
    names: list[str] = []

    async def one(ns: str) -> None:
        async with limiter:
            await ensure_namespace(kube, ns)
            await kube.create(TEMPLATES, template(), ns)
            for k in range(PER_NAMESPACE):
                name = f"w{run}-{ns.rsplit('-', 1)[1]}-{k}"
                names.append(name)
                await kube.create(INSTANCES, instance(name), ns)

    async with anyio.create_task_group() as tg:
        for ns in namespaces:
            tg.start_soon(one, ns)
    return names


async def all_running(kube: Client, namespaces: list[str], expected: int, timeout: float) -> None:
    ours = set(namespaces)

    def running(items: dict[str, object]) -> bool:
        objs = [o for o in items["items"] if o["metadata"]["namespace"] in ours]  # type: ignore[attr-defined]
        return len(objs) == expected and all(phase(o) == RUNNING for o in objs)

    await poll(lambda: kube.list(INSTANCES), running, timeout, f"{expected} instances Running", interval=0.5)


async def test_watches_stay_constant_from_one_namespace_to_a_hundred(control_plane: ControlPlane, kube: Client,
                                                                     tmp_path: Path) -> None:
    run = secrets.token_hex(2)
    first, *added = [f"width-{run}-{i:03d}" for i in range(NAMESPACES_ADDED + 1)]
    port = server_port(control_plane.kubeconfig.read_text())
    await ensure_namespace(kube, LEASE_NAMESPACE)  # the claim signing key's Secret
    operator = OperatorProcess(control_plane.kubeconfig, (LEASE_NAMESPACE,), tmp_path / "operator.log",
                               "--namespaces=", leader_election=False)  # empty: all namespaces
    operator.start()
    try:
        await operator.wait_ready(60)
        informed = informers(await anyio.to_thread.run_sync(operator.metrics))
        assert len(informed) >= 4, informed  # templates, instances, pods, claims at least
        await populate(kube, [first], run)
        await all_running(kube, [first], PER_NAMESPACE, 60)
        assert await connections_down_to(operator, port, len(informed)) == len(informed)
        at_one = await watches(kube)

        # 100 namespaces, every one created after the operator started.
        await populate(kube, added, run)
        await all_running(kube, [first, *added], (NAMESPACES_ADDED + 1) * PER_NAMESPACE, 120)
        assert await watches(kube) == at_one, "the operator opened watches per namespace"
        assert await connections_down_to(operator, port, len(informed)) == len(informed)
        assert informers(await anyio.to_thread.run_sync(operator.metrics)) == informed
        assert operator.running
        assert operator.starts == 1  # served without a restart

        # The API server's side: stopping the operator closes one WATCH per informer, no more.
        await operator.stop()
        await poll(lambda: watches(kube), lambda n: n <= at_one - len(informed), 15, "the operator's watches closed")
        assert await watches(kube) == at_one - len(informed)
    finally:
        await operator.stop()
        with anyio.CancelScope(shield=True):
            for ns in (first, *added):
                with contextlib.suppress(NotFound):
                    await kube.delete(NAMESPACES, ns)
