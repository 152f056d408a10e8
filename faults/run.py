"""Fault runs: a burst of instances, a fault injected while the operator provisions it, then
the invariant checker until the cluster converges. The test suite runs each at a small size;
``python -m bench.faults`` runs them large and writes the report. Every scenario is named in
:mod:`faults.scenarios`; this module is what they share.

A scenario is ``async (FaultEnv, size, rng) -> FaultRun``: it owns its operator process(es),
injects its faults, and ends with :func:`settle`, which polls :func:`~faults.invariants.check` until it
passes (or time runs out) and records how long that took. What a scenario proves beyond the
invariants goes into ``run.report.problems`` (so ``run.ok`` fails) and its measurements into
``run.notes``. A scenario leaves the control plane as it found it: every component up and ready.
"""

from __future__ import annotations

import contextlib
import random
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import anyio
import anyio.to_thread

from jupyternetes_operator.api import INSTANCES, LABEL_MANAGED_BY, MANAGED_BY, RUNNING, TEMPLATES, phase
from jupyternetes_operator.kube.client import Client, Resource
from jupyternetes_operator.kube.errors import AlreadyExists, ServerError, TooManyRequests
from jupyternetes_operator.kube.resources import PODS, PVCS
from jupyternetes_operator.testing.controlplane import ControlPlane
from jupyternetes_operator.testing.operator import TEMPLATE, OperatorProcess, instance, metric_sum

from .invariants import Report, RetainedClaim, check, retained_claims

T = TypeVar("T")

CHILDREN = f"{LABEL_MANAGED_BY}={MANAGED_BY}"
TRANSIENT: tuple[type[BaseException], ...] = (ServerError, TooManyRequests, aiohttp.ClientError, OSError,
                                              TimeoutError)
"""What the API server answers (or fails to) while it is down, restarting or overloaded."""


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


# -- talking to the cluster while it is being hurt ------------------------------------------------

async def retrying(call: Callable[[], Awaitable[T]], *, timeout: float = 90.0) -> T:
    """``call()``, again after each :data:`TRANSIENT` failure until ``timeout`` seconds have passed;
    any other error raises at once."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await call()
        except TRANSIENT:
            if time.monotonic() >= deadline:
                raise
            await anyio.sleep(0.2)


async def prepare(env: FaultEnv) -> None:
    """The sample template in the namespace (once), vetted by a running operator later."""
    with contextlib.suppress(AlreadyExists):
        await retrying(lambda: env.kube.create(TEMPLATES, TEMPLATE, env.namespace))


async def create_instances(kube: Client, namespace: str, names: Sequence[str], *, concurrency: int = 20,
                           rng: random.Random | None = None, jitter: float = 0.0) -> None:
    """Create an instance per name, ``concurrency`` at a time, each after up to ``jitter`` seconds;
    a create the API server could not take (it was down) is retried."""
    limiter = anyio.CapacityLimiter(concurrency)

    async def one(name: str) -> None:
        async with limiter:
            if rng is not None and jitter:
                await anyio.sleep(rng.uniform(0, jitter))
            with contextlib.suppress(AlreadyExists):  # also: a retried create whose first try went through
                await retrying(lambda: kube.create(INSTANCES, instance(name), namespace))

    async with anyio.create_task_group() as tg:
        for name in names:
            tg.start_soon(one, name)


async def burst(env: FaultEnv, names: Sequence[str], rng: random.Random) -> None:
    """The scenarios' burst: about 30 creates in flight per ~12 s window, whatever the size."""
    await create_instances(env.kube, env.namespace, names, concurrency=max(1, len(names) // 30), rng=rng,
                           jitter=0.4)


async def claims(kube: Client, namespace: str) -> set[RetainedClaim]:
    """The retained PVCs in ``namespace`` now (take this before the faults, check it after)."""
    return retained_claims((await retrying(lambda: kube.list(PVCS, namespace)))["items"])


async def instances(env: FaultEnv) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await retrying(lambda: env.kube.list(INSTANCES, env.namespace)))["items"]
    return items



def patience(size: int) -> float:
    """Seconds a scenario waits for ``size`` instances to converge: 2 minutes, plus 0.3 s each beyond."""
    return 120.0 + 0.3 * size


async def wait_running(env: FaultEnv, count: int, timeout: float = 120.0) -> list[dict[str, Any]]:
    """Until at least ``count`` instances are Running; returns the Running ones (fails at timeout)."""
    with anyio.fail_after(timeout):
        while len(running := [i for i in await instances(env) if phase(i) == RUNNING]) < count:  # noqa: ASYNC110
            await anyio.sleep(0.25)
    return running


async def settle(run: FaultRun, env: FaultEnv, started: float, *, retained_before: set[RetainedClaim] | None = None,
                 expect_running: int | None = None, timeout: float = 120.0, interval: float = 1.0) -> FaultRun:
    """Poll the invariant checker until it passes with ``expect_running`` instances Running (default:
    all of them); fill in ``run``'s report and its time to converge since ``started`` (``time.monotonic``).
    On timeout the last report stands and ``converge_seconds`` is the timeout. Problems the scenario
    recorded before are kept."""
    earlier = run.report.problems
    deadline = time.monotonic() + timeout
    report = Report(problems=["the invariant checker never got an answer"])
    while True:
        try:
            report = await check(env.kube, [env.namespace], retained_before=retained_before or ())
        except TRANSIENT as exc:  # the API server is still coming back
            report = Report(problems=[f"the invariant checker got no answer: {exc!r}"])
            want = -1
        else:
            want = report.instances if expect_running is None else expect_running
            if report.ok and report.running == want:
                run.converge_seconds = time.monotonic() - started
                break
        if time.monotonic() >= deadline:
            if want >= 0 and report.running != want:
                report.problems.append(f"{report.running} of {want} instances Running")
            run.converge_seconds = timeout
            break
        await anyio.sleep(interval)
    report.problems[:0] = earlier
    run.report = report
    return run


async def claims_per_instance(run: FaultRun, env: FaultEnv, expected: int) -> None:
    """One retained claim per instance ever created: none lost, none doubled."""
    if (found := len(await claims(env.kube, env.namespace))) != expected:
        run.report.problems.append(f"{found} retained claims for {expected} instances")


# -- what the operator says about itself (its /metrics) -------------------------------------------

_SAMPLE = re.compile(r"^(\w+)\{([^}]*)\} (\S+)$", re.MULTILINE)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def metric_by(text: str, name: str, label: str) -> dict[str, float]:
    """The samples of ``name`` in a Prometheus exposition, summed by the value of ``label``."""
    sums: dict[str, float] = {}
    for sample in _SAMPLE.finditer(text):
        if sample[1] == name:
            value = dict(_LABEL.findall(sample[2])).get(label, "")
            sums[value] = sums.get(value, 0.0) + float(sample[3])
    return sums


async def metrics_of(operator: OperatorProcess) -> str | None:
    """The operator's ``/metrics`` text, or None if it is not running or not answering."""
    if not operator.running:
        return None
    try:
        return await anyio.to_thread.run_sync(operator.metrics)
    except OSError:
        return None


async def caches_agree(run: FaultRun, env: FaultEnv, operator: OperatorProcess, timeout: float = 20.0) -> None:
    """Poll until the operator's informer caches hold as many instances, pods and claims as a fresh
    LIST (a delete it missed leaves a ghost behind); a problem in ``run`` if they never do."""
    ns = env.namespace
    lists: dict[str, tuple[Resource, str | None]] = {
        f"jupyternotebookinstances/{ns}": (INSTANCES, None), f"pods/{ns}": (PODS, CHILDREN),
        f"persistentvolumeclaims/{ns}": (PVCS, CHILDREN)}
    deadline = time.monotonic() + timeout
    truth: dict[str, int] = {}
    cached: dict[str, int] = {}
    while True:
        truth = {name: len((await retrying(partial(env.kube.list, resource, ns, label_selector=selector)))["items"])
                 for name, (resource, selector) in lists.items()}
        text = await metrics_of(operator)
        counts = metric_by(text or "", "jupyternetes_informer_objects", "resource")
        cached = {name: int(counts.get(name, -1)) for name in lists}
        if cached == truth:
            run.notes["operator_cache"] = {name.split("/")[0]: n for name, n in cached.items()}
            return
        if time.monotonic() >= deadline:
            run.report.problems.append(f"the operator's caches {cached} disagree with a fresh LIST {truth}")
            return
        await anyio.sleep(0.5)


def relists(text: str | None) -> dict[str, int]:
    """Full LISTs the operator's informers made, by why (``gone`` = after a 410 on a watch)."""
    return {reason: int(n) for reason, n in metric_by(text or "", "jupyternetes_informer_relists_total",
                                                       "reason").items()}


def no_relist_loop(run: FaultRun, text: str | None, outages: int) -> None:
    """No informer relisted more than the initial LIST plus five per outage (a relist that fails while
    the API server starts counts again; a 410 loop would count thousands)."""
    per_informer = metric_by(text or "", "jupyternetes_informer_relists_total", "resource")
    if per_informer and (most := max(per_informer.values())) > 1 + 5 * outages:
        run.report.problems.append(f"an informer relisted {most:.0f} times for {outages} outages: {per_informer}")


async def diagnose(run: FaultRun, replicas: Mapping[str, OperatorProcess]) -> None:
    """If the run failed, what each replica says of its caches, queues and lease (``run.notes``)."""
    if run.ok:
        return
    seen: dict[str, Any] = {}
    for name, replica in replicas.items():
        text = await metrics_of(replica)
        seen[name] = None if text is None else {
            "leading": metric_sum(text, "leader_election_master_status"),
            "cached": metric_by(text, "jupyternetes_informer_objects", "resource"),
            "queued": metric_by(text, "workqueue_depth", "name"),
            "reconciling": metric_by(text, "controller_runtime_active_workers", "controller"),
            "reconciles": metric_by(text, "controller_runtime_reconcile_total", "result")}
    run.notes["diagnosis"] = seen

