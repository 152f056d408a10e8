"""Fault runs that hurt the control plane: kube-apiserver SIGKILLed and restarted during a burst
(with one operator, and with two replicas past the renew deadline), and etcd compacted while the
operator is frozen so that its watches come back to 410 Gone. They need a control plane this
process started (:data:`faults.scenarios.LOCAL_ONLY`)."""

from __future__ import annotations

import contextlib
import random
import signal
import time
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import anyio
import anyio.to_thread

from jupyternetes_operator.api import INSTANCES, READY, condition
from jupyternetes_operator.kube.errors import NotFound
from jupyternetes_operator.kube.resources import PODS
from jupyternetes_operator.testing.operator import TEMPLATE, template_valid

from .invariants import RetainedClaim
from .replicas import LEASE_DURATION, Exit, one_leader, sole_leader, stop_all, supervise
from .run import (
    FaultEnv,
    FaultRun,
    burst,
    caches_agree,
    claims,
    claims_per_instance,
    diagnose,
    instances,
    metrics_of,
    no_relist_loop,
    patience,
    prepare,
    relists,
    retrying,
    settle,
    wait_running,
)


async def apiserver_outage(env: FaultEnv, down: float = 0.0) -> float:
    """SIGKILL kube-apiserver, leave it down ``down`` seconds, start it again and wait until it is
    ready; returns the seconds from the kill to ready. Not cancellable half-way (the plane stays whole)."""
    started = time.monotonic()
    await anyio.to_thread.run_sync(partial(env.control_plane.restart, "kube-apiserver", kill=True, down=down))
    return time.monotonic() - started


async def restore_plane(env: FaultEnv) -> None:
    """Leave the shared plane as responsive as it was: kube-apiserver started again if a scenario
    failed while it was down, and its clients restarted out of their watch back-off."""
    proc = env.control_plane.processes.get("kube-apiserver")
    if proc is not None and not proc.alive():
        await anyio.to_thread.run_sync(partial(env.control_plane.restart, "kube-apiserver"))
    await anyio.to_thread.run_sync(env.control_plane.refresh_clients)



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
        await restore_plane(env)
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
        await restore_plane(env)
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
    reasons = {str(i["metadata"]["name"]): condition(i, READY).get("reason") for i in await instances(env)}
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
        await restore_plane(env)
        await operator.stop()
    await claims_per_instance(run, env, size)
    return run

