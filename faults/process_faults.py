"""Fault runs that hurt the operator's own process during a burst: SIGKILL at random moments,
and SIGTERM to the leader and a follower of two replicas (each must exit 0 within the grace period)."""

from __future__ import annotations

import random
import time

import anyio

from jupyternetes_operator.testing.operator import TEMPLATE, metric_sum, template_valid

from .replicas import GRACE_PERIOD, LEASE_DURATION, one_leader, sole_leader, stop_all
from .run import FaultEnv, FaultRun, burst, claims_per_instance, create_instances, metrics_of, patience, prepare, settle


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

