"""Fault runs: a burst of instances, a fault injected while the operator provisions it, then
the invariant checker until the cluster converges. The test suite runs each at a small size;
``python -m bench.faults`` runs them large and writes the report.

A scenario is ``async (FaultEnv, size, rng) -> FaultRun``: it owns its operator process(es),
injects its faults, and ends with :func:`settle`, which polls :func:`~.invariants.check` until it
passes (or time runs out) and records how long that took.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio

from ..api import INSTANCES, TEMPLATES
from ..kube.client import Client
from ..kube.errors import AlreadyExists
from ..kube.resources import PVCS
from .controlplane import ControlPlane
from .invariants import Report, RetainedClaim, check, retained_claims
from .operator import TEMPLATE, OperatorProcess, instance, template_valid


@dataclass(frozen=True)
class FaultEnv:
    """Where a scenario runs: a live control plane, an admin client, an empty namespace, a scratch dir."""

    control_plane: ControlPlane
    kube: Client
    namespace: str
    workdir: Path

    def operator(self, *args: str, name: str = "operator", leader_election: bool = True,
                 kubeconfig: Path | None = None) -> OperatorProcess:
        """An operator process (not started) for this namespace, logging to ``<workdir>/<name>.log``."""
        return OperatorProcess(kubeconfig or self.control_plane.kubeconfig, (self.namespace,),
                               self.workdir / f"{name}.log", "--log-format=text", *args,
                               leader_election=leader_election)


@dataclass
class FaultRun:
    """One row of the report: what was tried, how much, how long convergence took, what was lost."""

    scenario: str
    instances: int
    faults: list[str] = field(default_factory=list)
    converge_seconds: float = float("nan")
    report: Report = field(default_factory=Report)
    notes: dict[str, Any] = field(default_factory=dict)
    """Scenario-specific measurements (e.g. requests refused by the proxy, peak RSS)."""

    @property
    def ok(self) -> bool:
        return self.report.ok

    def row(self) -> dict[str, Any]:
        r = self.report
        return {"scenario": self.scenario, "instances": self.instances, "faults": len(self.faults),
                "injected": "; ".join(self.faults), "converge_s": round(self.converge_seconds, 2),
                "duplicates": r.duplicates, "orphans": r.orphans, "lost_retained_pvcs": r.lost_retained_claims,
                "not_ready": r.not_ready, "stale_status": r.stale_status, "ok": self.ok, **self.notes}


Scenario = Callable[[FaultEnv, int, random.Random], Awaitable[FaultRun]]


async def prepare(env: FaultEnv) -> None:
    """The sample template in the namespace (once), vetted by a running operator later."""
    with contextlib.suppress(AlreadyExists):
        await env.kube.create(TEMPLATES, TEMPLATE, env.namespace)


async def create_instances(kube: Client, namespace: str, names: Sequence[str], *, concurrency: int = 20,
                           rng: random.Random | None = None, jitter: float = 0.0) -> None:
    """Create an instance per name, ``concurrency`` at a time, each after up to ``jitter`` seconds."""
    limiter = anyio.CapacityLimiter(concurrency)

    async def one(name: str) -> None:
        async with limiter:
            if rng is not None and jitter:
                await anyio.sleep(rng.uniform(0, jitter))
            with contextlib.suppress(AlreadyExists):
                await kube.create(INSTANCES, instance(name), namespace)

    async with anyio.create_task_group() as tg:
        for name in names:
            tg.start_soon(one, name)


async def claims(kube: Client, namespace: str) -> set[RetainedClaim]:
    """The retained PVCs in ``namespace`` now (take this before the faults, check it after)."""
    return retained_claims((await kube.list(PVCS, namespace))["items"])


async def settle(run: FaultRun, env: FaultEnv, started: float, *, retained_before: set[RetainedClaim] | None = None,
                 expect_running: int | None = None, timeout: float = 120.0, interval: float = 1.0) -> FaultRun:
    """Poll the invariant checker until it passes with ``expect_running`` instances Running (default:
    all of them); fill in ``run``'s report and its time to converge since ``started`` (``time.monotonic``).
    On timeout the last report stands and ``converge_seconds`` is the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        report = await check(env.kube, [env.namespace], retained_before=retained_before or ())
        want = report.instances if expect_running is None else expect_running
        if report.ok and report.running == want:
            run.converge_seconds = time.monotonic() - started
            break
        if time.monotonic() >= deadline:
            if report.running != want:
                report.problems.append(f"{report.running} of {want} instances Running")
            run.converge_seconds = timeout
            break
        await anyio.sleep(interval)
    run.report = report
    return run


async def sigkill_during_burst(env: FaultEnv, size: int, rng: random.Random) -> FaultRun:
    """The operator SIGKILLed ten times at random moments while ``size`` instances are created,
    restarted each time."""
    names = [f"burst{i}" for i in range(size)]
    run = FaultRun("operator SIGKILL x10 during a burst", size)
    operator = env.operator()
    await prepare(env)
    operator.start()
    try:
        await template_valid(env.kube, TEMPLATE["metadata"]["name"], env.namespace)
        started = time.monotonic()
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: create_instances(env.kube, env.namespace, names, concurrency=1, rng=rng,
                                                   jitter=0.05))
            for _ in range(10):
                await anyio.sleep(rng.uniform(0.1, 0.6))
                operator.kill()
                run.faults.append(f"SIGKILL at {time.monotonic() - started:.2f} s")
                operator.start()
        await settle(run, env, started, expect_running=size)
    finally:
        await operator.stop()
    if (found := len(await claims(env.kube, env.namespace))) != size:
        run.report.problems.append(f"{found} retained claims for {size} instances")
    return run


SCENARIOS: dict[str, Scenario] = {
    "sigkill": sigkill_during_burst,
}
"""Every fault run by short name, in report order (other modules' scenarios are added by the runner)."""
