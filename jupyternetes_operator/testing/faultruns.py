"""Fault runs: a burst of instances, a fault injected while the operator provisions it, then
the invariant checker until the cluster converges. The test suite runs each at a small size;
``python -m bench.faults`` runs them large and writes the report.

A scenario is ``async (FaultEnv, size, rng) -> FaultRun``: it owns its operator process(es),
injects its faults, and ends with :func:`settle`, which polls :func:`~.invariants.check` until it
passes (or time runs out) and records how long that took. What a scenario proves beyond the
invariants goes into ``run.report.problems`` (so ``run.ok`` fails) and its measurements into
``run.notes``. A scenario leaves the control plane as it found it: every component up and ready.
"""

from __future__ import annotations

import contextlib
import importlib
import random
import re
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import aiohttp
import anyio
import anyio.to_thread

from ..api import INSTANCES, LABEL_MANAGED_BY, MANAGED_BY, TEMPLATES
from ..kube.client import MERGE_PATCH, Client, Resource
from ..kube.errors import AlreadyExists, Conflict, NotFound, ServerError, TooManyRequests
from ..kube.resources import LEASES, PODS, PVCS
from .controlplane import ControlPlane
from .invariants import Report, RetainedClaim, check, retained_claims
from .operator import SHORT_LEASE, TEMPLATE, OperatorProcess, instance, metric_sum, template_valid

T = TypeVar("T")

CHILDREN = f"{LABEL_MANAGED_BY}={MANAGED_BY}"
LEASE_NAME = "jupyternetes-operator"
LEASE_DURATION = float(next(a for a in SHORT_LEASE if a.startswith("--lease-duration=")).split("=")[1])
GRACE_PERIOD = 30.0
"""A pod's default ``terminationGracePeriodSeconds``: SIGTERM to exit, or the kubelet SIGKILLs."""
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


def phase(obj: Mapping[str, Any]) -> str:
    return str((obj.get("status") or {}).get("phase") or "")


def ready_reason(obj: Mapping[str, Any]) -> str:
    return next((str(c.get("reason")) for c in (obj.get("status") or {}).get("conditions") or ()
                 if c.get("type") == "Ready"), "")


def patience(size: int) -> float:
    """Seconds a scenario waits for ``size`` instances to converge: 2 minutes, plus 0.3 s each beyond."""
    return 120.0 + 0.3 * size


async def wait_running(env: FaultEnv, count: int, timeout: float = 120.0) -> list[dict[str, Any]]:
    """Until at least ``count`` instances are Running; returns the Running ones (fails at timeout)."""
    with anyio.fail_after(timeout):
        while len(running := [i for i in await instances(env) if phase(i) == "Running"]) < count:  # noqa: ASYNC110
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


# -- the control plane's faults ----------------------------------------------------------------------

async def apiserver_outage(env: FaultEnv, down: float = 0.0) -> float:
    """SIGKILL kube-apiserver, leave it down ``down`` seconds, start it again and wait until it is
    ready; returns the seconds from the kill to ready. Not cancellable half-way (the plane stays whole)."""
    started = time.monotonic()
    await anyio.to_thread.run_sync(partial(env.control_plane.restart, "kube-apiserver", kill=True, down=down))
    return time.monotonic() - started


async def ensure_apiserver(env: FaultEnv) -> None:
    """Start kube-apiserver again if a scenario failed while it was down (the plane is shared)."""
    proc = env.control_plane.processes.get("kube-apiserver")
    if proc is not None and not proc.alive():
        await anyio.to_thread.run_sync(partial(env.control_plane.restart, "kube-apiserver"))


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


# -- replicas with leader election ---------------------------------------------------------------------

async def leading(replica: OperatorProcess) -> bool | None:
    """Whether a replica says it leads (``leader_election_master_status``); None if it cannot say."""
    text = await metrics_of(replica)
    return None if text is None else metric_sum(text, "leader_election_master_status") == 1


async def sole_leader(replicas: Mapping[str, OperatorProcess], timeout: float = 30.0) -> str | None:
    """The one replica that leads, once every replica answers and exactly one says it leads; None if
    that does not happen within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        states = {name: await leading(replica) for name, replica in replicas.items()}
        if None not in states.values() and sum(bool(s) for s in states.values()) == 1:
            return next(name for name, state in states.items() if state)
        if time.monotonic() >= deadline:
            return None
        await anyio.sleep(0.2)


async def one_leader(run: FaultRun, env: FaultEnv, replicas: Mapping[str, OperatorProcess]) -> None:
    """Exactly one replica leads, and it is the one the Lease names (by the identity it logged)."""
    leader = await sole_leader(replicas)
    lease = await retrying(lambda: env.kube.get(LEASES, LEASE_NAME, env.namespace))
    holder = str(lease["spec"].get("holderIdentity") or "")
    if leader is None:
        states = {name: await leading(replica) for name, replica in replicas.items()}
        run.report.problems.append(f"not exactly one replica leads: {states}")
    elif not holder or f"{holder}: acquired lease" not in replicas[leader].log.read_text(errors="replace"):
        run.report.problems.append(f"replica {leader} leads but the Lease names {holder!r}")
    else:
        run.notes["leader"] = leader


@dataclass(frozen=True)
class Exit:
    replica: str
    code: int
    at: float
    """``time.monotonic()`` when the supervisor saw it."""


async def supervise(replicas: Mapping[str, OperatorProcess], exits: list[Exit], *, backoff: float = 1.0) -> None:
    """Restart each replica that exits, ``backoff`` seconds later, as a Deployment's kubelet would;
    record every exit. Runs until cancelled."""
    restart_at: dict[str, float] = {}
    while True:
        now = time.monotonic()
        for name, replica in replicas.items():
            if name in restart_at:
                if now >= restart_at[name]:
                    del restart_at[name]
                    replica.start()
            elif replica.proc is not None and (code := replica.proc.poll()) is not None:
                exits.append(Exit(name, code, now))
                restart_at[name] = now + backoff
        await anyio.sleep(0.05)


async def stop_all(replicas: Mapping[str, OperatorProcess]) -> None:
    for replica in replicas.values():
        if replica.running:
            replica.signal(signal.SIGCONT)  # a frozen process cannot act on SIGTERM
            await replica.stop()


# -- the scenarios ---------------------------------------------------------------------------------------

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
        await settle(run, env, started, expect_running=size, timeout=patience(size))
    finally:
        await operator.stop()
    await claims_per_instance(run, env, size)
    return run


async def apiserver_restart_during_burst(env: FaultEnv, size: int, rng: random.Random) -> FaultRun:
    """kube-apiserver SIGKILLed and restarted three times while ``size`` instances are created. One
    operator, without leader election (the lease would end it, see the ``-leader`` run): it must ride
    every outage out in the same process, its caches relisted to the truth."""
    names = [f"api{i}" for i in range(size)]
    run = FaultRun("kube-apiserver SIGKILL + restart x3 during a burst", size)
    operator = env.operator(leader_election=False)
    await prepare(env)
    operator.start()
    try:
        await template_valid(env.kube, TEMPLATE["metadata"]["name"], env.namespace)
        started = time.monotonic()
        outages = []
        async with anyio.create_task_group() as tg:
            tg.start_soon(burst, env, names, rng)
            for _ in range(3):
                await anyio.sleep(rng.uniform(0.5, 2.0))
                at = time.monotonic() - started
                outages.append(round(await apiserver_outage(env), 2))
                run.faults.append(f"kube-apiserver SIGKILL at {at:.2f} s (ready {outages[-1]:.1f} s later)")
        await settle(run, env, started, expect_running=size, timeout=patience(size))
        if operator.starts != 1 or not operator.running:
            code = operator.proc.returncode if operator.proc else None
            run.report.problems.append(f"the operator did not survive the outages (exit {code}); see {operator.log}")
        await caches_agree(run, env, operator)
        text = await metrics_of(operator)
        no_relist_loop(run, text, len(outages))
        run.notes.update(outage_s=outages, relists=relists(text))
    finally:
        await ensure_apiserver(env)
        await operator.stop()
    await claims_per_instance(run, env, size)
    return run


async def apiserver_restart_during_leader_renewal(env: FaultEnv, size: int, rng: random.Random, *,
                                                  outages: int = 2) -> FaultRun:
    """Two replicas with leader election; ``outages`` times during a burst kube-apiserver is SIGKILLed
    and kept down past the renew deadline. Each time the leader must stop acting: exit 1 before the
    API server is back (then it is restarted, as a Deployment would; a replica started meanwhile waits
    for the API server rather than crash), while the follower stays up. Afterwards exactly one replica
    leads, the one the Lease names, and everything converges."""
    names = [f"lead{i}" for i in range(size)]
    down = LEASE_DURATION + 1.0
    run = FaultRun(f"kube-apiserver down {down:.0f} s (> renew deadline) x{outages}, two replicas", size)
    replicas = {name: env.operator(name=name) for name in ("a", "b")}
    exits: list[Exit] = []
    await prepare(env)
    try:
        for replica in replicas.values():
            replica.start()
        await template_valid(env.kube, TEMPLATE["metadata"]["name"], env.namespace)
        started = time.monotonic()
        stopped_after: list[float] = []
        async with anyio.create_task_group() as supervisor:
            supervisor.start_soon(partial(supervise, replicas, exits))
            async with anyio.create_task_group() as tg:
                tg.start_soon(burst, env, names, rng)
                for _ in range(outages):
                    await anyio.sleep(rng.uniform(0.5, 1.5))
                    if (leader := await sole_leader(replicas)) is None:
                        run.report.problems.append("no single leader before the outage")
                        break
                    killed, seen = time.monotonic(), len(exits)
                    outage = await apiserver_outage(env, down=down)
                    back = time.monotonic()
                    run.faults.append(f"kube-apiserver SIGKILL at {killed - started:.2f} s, leader {leader}, "
                                      f"ready {outage:.1f} s later")
                    first = {e.replica: e for e in reversed(exits[seen:])}  # each replica's first exit since
                    if (gone := first.get(leader)) is None or gone.code != 1 or gone.at > back:
                        run.report.problems.append(f"leader {leader} did not exit 1 while the API server was "
                                                   f"down: {gone}")
                    else:
                        stopped_after.append(round(gone.at - killed, 2))
                    if others := [e for e in exits[seen:] if e.replica != leader]:
                        run.report.problems.append(f"a follower exited during the outage: {others}")
            await settle(run, env, started, expect_running=size, timeout=patience(size))
            await one_leader(run, env, replicas)
            supervisor.cancel_scope.cancel()
        for name, replica in replicas.items():  # every exit must be a lost lease, none a crash
            lost = replica.log.read_text(errors="replace").count("lost the leader lease")
            if (count := sum(e.replica == name for e in exits)) != lost:
                run.report.problems.append(f"replica {name} exited {count} times, {lost} for a lost lease; "
                                           f"see {replica.log}")
        await diagnose(run, replicas)
        run.notes.update(leader_stopped_after_s=stopped_after, exits=[f"{e.replica}:{e.code}" for e in exits])
    finally:
        await ensure_apiserver(env)
        await stop_all(replicas)
    await claims_per_instance(run, env, size)
    return run


async def delete_pods_of(env: FaultEnv, running: Sequence[Mapping[str, Any]]) -> None:
    """Delete (at once, no grace period) the pods recorded in these instances' status."""
    for obj in running:
        for child in obj["status"]["children"]:
            if child["kind"] == "Pod":
                with contextlib.suppress(NotFound):
                    await retrying(partial(env.kube.delete, PODS, child["name"], env.namespace,
                                           grace_period_seconds=0))


async def deletes_noticed(run: FaultRun, env: FaultEnv, podless: Sequence[str], deleted: Sequence[str]) -> None:
    """Instances whose pod was deleted ended ``ChildDeleted``; deleted instances stayed deleted."""
    reasons = {str(i["metadata"]["name"]): ready_reason(i) for i in await instances(env)}
    if wrong := {n: reasons.get(n) for n in podless if reasons.get(n) != "ChildDeleted"}:
        run.report.problems.append(f"instances whose pod was deleted are not ChildDeleted: {wrong}")
    if back := sorted(set(deleted) & set(reasons)):
        run.report.problems.append(f"deleted instances are back: {back}")


async def compaction_while_watches_are_down(env: FaultEnv, size: int, rng: random.Random) -> FaultRun:
    """Twice during a burst: the operator frozen (SIGSTOP), pods of some Running instances and some
    other Running instances deleted, etcd compacted, kube-apiserver restarted (so the watch cache
    cannot bridge the gap either), the operator resumed. Its watches get 410 Gone and relist; the
    deletes must all be noticed: the instances whose pod vanished end ``ChildDeleted``, deleted
    instances' children are collected, their retained PVCs survive, and the caches match a LIST."""
    names = [f"gone{i}" for i in range(size)]
    run = FaultRun("etcd compaction + apiserver restart while the operator is frozen x2", size)
    operator = env.operator(leader_election=False)  # frozen past a lease, a leader would (rightly) exit
    k = max(1, size // 10)
    podless: list[str] = []
    deleted: list[str] = []
    retained: set[RetainedClaim] = set()
    await prepare(env)
    operator.start()
    try:
        await template_valid(env.kube, TEMPLATE["metadata"]["name"], env.namespace)
        started = time.monotonic()
        async with anyio.create_task_group() as tg:
            tg.start_soon(burst, env, names, rng)
            for cycle in (1, 2):
                running = await wait_running(env, cycle * size // 3, patience(size))
                operator.signal(signal.SIGSTOP)
                at = time.monotonic() - started
                retained |= await claims(env.kube, env.namespace)
                victims = rng.sample(sorted(running, key=lambda i: str(i["metadata"]["name"])),
                                     min(2 * k, len(running)))
                await delete_pods_of(env, victims[:k])
                podless += [v["metadata"]["name"] for v in victims[:k]]
                for victim in victims[k:]:
                    deleted.append(victim["metadata"]["name"])
                    with contextlib.suppress(NotFound):
                        await retrying(partial(env.kube.delete, INSTANCES, deleted[-1], env.namespace))
                revision = await anyio.to_thread.run_sync(env.control_plane.compact_etcd)
                outage = await apiserver_outage(env)
                operator.signal(signal.SIGCONT)
                run.faults.append(f"SIGSTOP at {at:.2f} s; {len(victims[:k])} pods and {len(victims[k:])} "
                                  f"instances deleted; etcd compacted at revision {revision}; kube-apiserver "
                                  f"restarted ({outage:.1f} s); SIGCONT")
        await settle(run, env, started, retained_before=retained, expect_running=size - len(podless) - len(deleted),
                     timeout=patience(size))
        await deletes_noticed(run, env, podless, deleted)
        await caches_agree(run, env, operator)
        text = await metrics_of(operator)
        no_relist_loop(run, text, len(run.faults))
        seen = relists(text)
        if not seen.get("gone"):
            run.report.problems.append(f"no watch got 410 Gone (relists by reason: {seen})")
        run.notes.update(relists=seen, pods_deleted=len(podless), instances_deleted=len(deleted))
    finally:
        if operator.running:
            operator.signal(signal.SIGCONT)
        await ensure_apiserver(env)
        await operator.stop()
    await claims_per_instance(run, env, size)
    return run


FOREIGN = "faults.example.com"
"""The other writer's label and annotation prefix."""


@dataclass
class ForeignWriter:
    """Another client editing labels and annotations of instances, pods and claims, by merge patch
    and by read-modify-PUT (retried on 409); it remembers the last value it wrote for every key."""

    client: Client
    namespace: str
    rng: random.Random
    written: dict[tuple[str, str], dict[tuple[str, str], str]] = field(default_factory=dict)
    writes: int = 0
    conflicts: int = 0

    TARGETS: ClassVar[dict[str, tuple[Resource, str | None]]] = {
        "JupyterNotebookInstance": (INSTANCES, None), "Pod": (PODS, CHILDREN),
        "PersistentVolumeClaim": (PVCS, CHILDREN)}

    async def run(self, stop: anyio.Event) -> None:
        """Write as fast as one client in sequence does, until ``stop``."""
        targets: list[tuple[str, str]] = []
        listed = 0.0
        while not stop.is_set():
            if time.monotonic() - listed > 0.5:
                targets = [(kind, str(o["metadata"]["name"])) for kind, (resource, selector) in self.TARGETS.items()
                           for o in (await retrying(partial(self.client.list, resource, self.namespace,
                                                            label_selector=selector)))["items"]]
                listed = time.monotonic()
            if targets:
                await self.touch(*self.rng.choice(targets))
            await anyio.sleep(0.01)

    async def touch(self, kind: str, name: str) -> None:
        resource = self.TARGETS[kind][0]
        where = self.rng.choice(("labels", "annotations"))
        key, value = f"{FOREIGN}/k{self.rng.randrange(3)}", f"v{self.writes}"
        if self.rng.random() < 0.5:
            await retrying(partial(self.client.patch, resource, name, {"metadata": {where: {key: value}}},
                                   self.namespace, content_type=MERGE_PATCH))
        else:
            for _ in range(10):
                obj = await retrying(partial(self.client.get, resource, name, self.namespace))
                obj["metadata"][where] = {**(obj["metadata"].get(where) or {}), key: value}
                try:
                    await retrying(partial(self.client.replace, resource, obj, self.namespace))
                    break
                except Conflict:
                    self.conflicts += 1
            else:
                return
        self.writes += 1
        self.written.setdefault((kind, name), {})[(where, key)] = value

    async def clobbered(self) -> list[str]:
        """Every key whose last written value is no longer on its object."""
        lost = []
        for (kind, name), keys in self.written.items():
            obj = await retrying(partial(self.client.get, self.TARGETS[kind][0], name, self.namespace))
            for (where, key), value in keys.items():
                if (found := (obj["metadata"].get(where) or {}).get(key)) != value:
                    lost.append(f"{kind} {name} {where} {key}: {found!r}, written {value!r}")
        return lost


async def conflicting_writer(env: FaultEnv, size: int, rng: random.Random) -> FaultRun:
    """Another writer edits the labels and annotations of instances and of their pods and claims
    while the operator provisions a burst: the operator converges, nothing is duplicated, and every
    foreign label and annotation survives with the value last written."""
    names = [f"conf{i}" for i in range(size)]
    run = FaultRun("another writer edits labels/annotations during a burst", size)
    operator = env.operator()
    await prepare(env)
    operator.start()
    async with await Client.from_kubeconfig(str(env.control_plane.kubeconfig), field_manager="fault-writer") as other:
        writer = ForeignWriter(other, env.namespace, rng)
        try:
            await template_valid(env.kube, TEMPLATE["metadata"]["name"], env.namespace)
            started = time.monotonic()
            stop = anyio.Event()
            async with anyio.create_task_group() as tg:
                tg.start_soon(writer.run, stop)
                await burst(env, names, rng)
                with contextlib.suppress(TimeoutError):
                    await wait_running(env, size, patience(size))
                stop.set()
            await settle(run, env, started, expect_running=size, timeout=patience(size))
            if lost := await writer.clobbered():
                run.report.problems.append(f"{len(lost)} foreign keys clobbered: {lost[:5]}")
            codes = metric_by(await metrics_of(operator) or "", "rest_client_requests_total", "code")
            run.faults.append(f"{writer.writes} foreign writes ({writer.conflicts} of its PUTs got 409)")
            run.notes.update(foreign_writes=writer.writes, foreign_conflicts=writer.conflicts,
                             foreign_keys=sum(len(k) for k in writer.written.values()),
                             operator_409_answers=int(codes.get("409", 0)))  # AlreadyExists included
            if not writer.written:
                run.report.problems.append("the other writer wrote nothing")
        finally:
            await operator.stop()
    await claims_per_instance(run, env, size)
    return run


async def sigterm_during_burst(env: FaultEnv, size: int, rng: random.Random) -> FaultRun:
    """Two replicas; during a burst the leader gets SIGTERM three times and a follower once. Each
    must exit 0 within the grace period (the leader after finishing its in-flight reconciles and
    releasing the Lease); the other replica takes over, the terminated one is started again, and
    everything converges with nothing half-done."""
    names = [f"term{i}" for i in range(size)]
    run = FaultRun("SIGTERM x3 to the leader and x1 to a follower during a burst", size)
    replicas = {name: env.operator(name=name) for name in ("a", "b")}
    await prepare(env)
    exit_s: list[float] = []
    takeover_s: list[float] = []
    in_flight: list[int] = []
    try:
        for replica in replicas.values():
            replica.start()
        await template_valid(env.kube, TEMPLATE["metadata"]["name"], env.namespace)
        started = time.monotonic()

        async def terminate(name: str, role: str) -> None:
            replica = replicas[name]
            text = await metrics_of(replica) or ""
            busy = int(metric_sum(text, "controller_runtime_active_workers", 'controller="jupyternotebookinstance"'))
            at = time.monotonic()
            code = await replica.stop(timeout=GRACE_PERIOD)
            took = time.monotonic() - at
            run.faults.append(f"SIGTERM to {role} {name} at {at - started:.2f} s ({busy} reconciles in flight): "
                              f"exit {code} after {took:.1f} s")
            exit_s.append(round(took, 2))
            in_flight.append(busy)
            if code != 0:
                run.report.problems.append(f"{role} {name} exited {code} on SIGTERM ({took:.1f} s); see {replica.log}")

        async with anyio.create_task_group() as tg:
            tg.start_soon(burst, env, names, rng)
            for round_ in range(4):
                await anyio.sleep(rng.uniform(0.3, 1.0))
                if (leader := await sole_leader(replicas)) is None:
                    run.report.problems.append("no single leader before SIGTERM")
                    break
                if round_ == 2:  # a follower, mid-campaign
                    follower = next(n for n in replicas if n != leader)
                    await terminate(follower, "follower")
                    replicas[follower].start()
                    continue
                at = time.monotonic()
                await terminate(leader, "leader")
                other = {n: r for n, r in replicas.items() if n != leader}
                if await sole_leader(other, timeout=LEASE_DURATION + 5) is None:
                    run.report.problems.append(f"nobody took over from {leader}")
                takeover_s.append(round(time.monotonic() - at, 2))
                replicas[leader].start()  # as the Deployment would
        await settle(run, env, started, expect_running=size, timeout=patience(size))
        await one_leader(run, env, replicas)
        hard = sum(r.log.read_text(errors="replace").count("did not finish within") for r in replicas.values())
        run.notes.update(exit_s=exit_s, takeover_s=takeover_s, in_flight_at_sigterm=in_flight, hard_stops=hard)
    finally:
        await stop_all(replicas)
    await claims_per_instance(run, env, size)
    return run


SCENARIOS: dict[str, Scenario] = {
    "sigkill": sigkill_during_burst,
    "apiserver-restart": apiserver_restart_during_burst,
    "apiserver-restart-leader": apiserver_restart_during_leader_renewal,
    "compaction": compaction_while_watches_are_down,
    "conflicts": conflicting_writer,
    "sigterm": sigterm_during_burst,
}
"""This module's fault runs by short name, in report order."""

CONTROL_PLANE_FAULTS = frozenset({"apiserver-restart", "apiserver-restart-leader", "compaction"})
"""This module's scenarios that kill or compact control-plane processes."""

_MORE = (("proxyfaults", "PROXY_SCENARIOS"), ("badinput", "BAD_INPUT_SCENARIOS"))


def _more() -> dict[str, dict[str, Scenario]]:
    """The scenarios of :mod:`.proxyfaults` and :mod:`.badinput` by module, where those modules exist."""
    found: dict[str, dict[str, Scenario]] = {}
    for module, attribute in _MORE:
        try:
            loaded = importlib.import_module(f"{__package__}.{module}")
        except ModuleNotFoundError as exc:  # not written yet; a missing import inside one still raises
            if exc.name != f"{__package__}.{module}":
                raise
            continue
        found[module] = dict(getattr(loaded, attribute))
    return found


def all_scenarios() -> dict[str, Scenario]:
    """Every fault run by short name, in report order: :data:`SCENARIOS`, then the API-proxy and the
    bad-input scenarios of :mod:`.proxyfaults` and :mod:`.badinput`."""
    scenarios = dict(SCENARIOS)
    for more in _more().values():
        scenarios.update(more)
    return scenarios


def local_only() -> frozenset[str]:
    """The scenarios that need a :class:`ControlPlane` this process started, not a cluster reached by
    kubeconfig: those that restart or compact it, and the API-proxy ones (the proxy fronts its API
    server with its certificates)."""
    return CONTROL_PLANE_FAULTS | frozenset(_more().get("proxyfaults", {}))
