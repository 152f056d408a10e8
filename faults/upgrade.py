"""A rolling upgrade while spawns run: two replicas of an old build (an earlier commit,
:mod:`faults.upgrade_build`) replaced one by one by the working tree's build, as a Deployment's
RollingUpdate does with maxSurge 1 / maxUnavailable 0 (start a new replica, wait until it is ready,
SIGTERM an old one, wait until it exits; again). The new version's CRDs are applied before the roll,
as Helm applies ``crds/`` first; the old build's own CRDs are applied before it starts. Then the new
leader is restarted once, so the new build hands the Lease over too. Meanwhile instances are created
at a steady rate and some deleted; a replica that exits unasked (a lease lost on a loaded machine) is
started again, as a kubelet would, and reported.

What it proves, besides the invariants (every instance Running, one child per logical name, no
orphan): no instance's status ever went backwards (from a watch on instances: phase Pending <
Provisioning < Running, Ready never True -> anything else, no status wiped), the Lease named one
holder after another (from a watch on it: leader changes, time without a leader), and, when the
API server writes an audit log and each replica has its own user, every write a replica made fell
inside its own term as the Lease's history tells it (no write by an old leader after it let go; an
Event a build older than the fenced release had in flight as it let go is counted apart).

``python -m faults.upgrade`` records one run on a control plane of its own with an audit log;
``python -m bench.faults --scenarios rolling-upgrade`` runs it without one (no per-write check)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path

import anyio
import anyio.to_thread

from jupyternetes_operator.api import INSTANCES
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.errors import AlreadyExists, NotFound
from jupyternetes_operator.kube.resources import LEASES
from jupyternetes_operator.testing.binaries import Binaries
from jupyternetes_operator.testing.controlplane import ControlPlane, ControlPlaneConfig
from jupyternetes_operator.testing.namespaces import ensure_namespace
from jupyternetes_operator.testing.operator import TEMPLATE, OperatorProcess, instance, template_valid

from .replicas import LEASE_NAME, one_leader, sole_leader, stop_all
from .run import FaultEnv, FaultRun, diagnose, patience, prepare, retrying, settle
from .upgrade_build import OLD_COMMIT, Build, current, old_operator
from .upgrade_fleet import Fleet, apply_crds, identities_of, replica, reported_version, watch_leaders
from .upgrade_history import LeaseHistory, Statuses, audit_events, audit_log_of, follow, writes_outside_terms

REPLICAS = ("a", "b")
USERS = tuple(f"{kind}-{letter}" for kind in ("old", "new") for letter in REPLICAS)


@dataclass
class Spawns:
    cap: int
    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    during_roll: int = 0

    async def more(self, n: int) -> None:
        """Wait until ``n`` more instances were created (or the cap is reached): a step of the roll
        lets spawns land across its hand-over, however fast the machine rolls."""
        target = min(len(self.created) + n, self.cap)
        while len(self.created) < target:  # noqa: ASYNC110 (spawns are counted, not signalled)
            await anyio.sleep(0.05)


async def spawn_steadily(env: FaultEnv, rng: random.Random, spawns: Spawns, size: int, interval: float,
                         rolling: anyio.Event, rolled: anyio.Event) -> None:
    """Create an instance every ``interval`` s until ``size`` exist and the roll is over (``spawns.cap``
    at most: a roll slowed down by a loaded machine); every fourth create also deletes a random earlier
    instance (Running or not yet)."""
    index = 0
    while (len(spawns.created) < size or not rolled.is_set()) and len(spawns.created) < spawns.cap:
        name = f"roll{index}"
        index += 1
        with contextlib.suppress(AlreadyExists):
            await retrying(partial(env.kube.create, INSTANCES, instance(name), env.namespace))
        spawns.created.append(name)
        if rolling.is_set() and not rolled.is_set():
            spawns.during_roll += 1
        if index % 4 == 0:
            alive = [n for n in spawns.created[:-1] if n not in spawns.deleted]
            victim = rng.choice(alive)
            with contextlib.suppress(NotFound):
                await retrying(partial(env.kube.delete, INSTANCES, victim, env.namespace))
            spawns.deleted.append(victim)
        await anyio.sleep(interval)


async def rolling_upgrade(env: FaultEnv, size: int, rng: random.Random, *, old_commit: str = OLD_COMMIT,
                          interval: float = 0.3, restart: bool = True) -> FaultRun:
    """Two replicas of ``old_commit`` replaced one by one by the working tree's build while instances
    are created every ``interval`` s (``size`` at least, more if the roll takes longer) and one in
    four is deleted; then (``restart``) the new leader restarted once, so the new build too hands the
    Lease over under load. See the module's docstring for what must hold."""
    old, new = await anyio.to_thread.run_sync(old_operator, old_commit), current()
    run = FaultRun(f"rolling upgrade {old.version} -> {new.version} of 2 replicas during spawns", size)
    await apply_crds(env, old)
    await prepare(env)
    builds = {f"{kind}-{letter}": build for build, kind in ((old, "old"), (new, "new")) for letter in REPLICAS}
    replicas = {name: await replica(env, name, build) for name, build in builds.items()}
    statuses, lease = Statuses(), LeaseHistory()
    overlaps: list[str] = []
    spawns = Spawns(cap=4 * size)
    rolling, rolled = anyio.Event(), anyio.Event()
    started_at = datetime.now().astimezone()
    fleet = Fleet(replicas)
    live = fleet.live
    try:
        async with anyio.create_task_group() as watchers:
            # Watching before any replica starts: every term of the Lease is seen, from the first.
            watchers.start_soon(fleet.supervise)
            watchers.start_soon(follow, env.kube, INSTANCES, env.namespace, statuses.record, statuses)
            watchers.start_soon(follow, env.kube, LEASES, env.namespace, lease.record, None,
                                f"metadata.name={LEASE_NAME}")
            watchers.start_soon(watch_leaders, live, overlaps)
            for name in ("old-a", "old-b"):
                fleet.start(name)
            await template_valid(env.kube, TEMPLATE["metadata"]["name"], env.namespace, timeout=120)
            if await sole_leader(live, timeout=120) is None:
                run.report.problems.append("the old replicas never settled on one leader")
            started = fleet.started = time.monotonic()
            async with anyio.create_task_group() as tg:
                tg.start_soon(spawn_steadily, env, rng, spawns, size, interval, rolling, rolled)
                while len(spawns.created) < max(2, size // 5):  # noqa: ASYNC110 (spawns are counted, not signalled)
                    await anyio.sleep(0.05)
                await apply_crds(env, new)
                rolling.set()
                roll_started = time.monotonic()
                await roll(run, fleet, spawns)
                if restart:
                    await restart_leader(run, fleet, spawns)
                run.notes["roll_s"] = round(time.monotonic() - roll_started, 1)
                rolled.set()
            await settle(run, env, started, expect_running=len(spawns.created) - len(spawns.deleted),
                         timeout=patience(len(spawns.created)))
            await anyio.sleep(1.0)  # the watches deliver the last transitions
            watchers.cancel_scope.cancel()
        await one_leader(run, env, live)
        run.instances = len(spawns.created)
        run.notes["unplanned_exits"] = fleet.unplanned
        await judge(run, env, replicas, builds, statuses, lease, overlaps, spawns, started_at)
        await diagnose(run, live)
    finally:
        await stop_all(replicas)
        await apply_crds(env, new)  # whatever happened, the plane is left with the new CRDs
    return run


async def roll(run: FaultRun, fleet: Fleet, spawns: Spawns, per_step: int = 2) -> None:
    """Replace each old replica by a new one: start it, wait until it is ready, SIGTERM an old one (the
    leader first, so the Lease changes hands once to each build), wait until it exits and until
    ``per_step`` more instances were created across the hand-over."""
    for letter in REPLICAS:
        olds = [n for n in fleet.live if n.startswith("old-")]
        leader = await sole_leader(fleet.live, timeout=30)
        victim = leader if leader in olds else olds[0]
        at = time.monotonic()
        await fleet.start(f"new-{letter}").wait_ready(timeout=60)
        ready_s = time.monotonic() - at
        stopping = time.monotonic() - fleet.started
        code, took, gone = await fleet.terminate(victim)
        role = "leader" if victim == leader else "follower"
        run.faults.append(f"new-{letter} ready after {ready_s:.1f} s; SIGTERM to {role} {victim} at {stopping:.1f} s: "
                          + (f"had already exited {code}" if gone else f"exit {code} after {took:.1f} s"))
        if code != 0 and not gone:
            run.report.problems.append(f"{victim} exited {code} on SIGTERM; see {fleet.replicas[victim].log}")
        await spawns.more(per_step)


async def restart_leader(run: FaultRun, fleet: Fleet, spawns: Spawns, per_step: int = 2) -> None:
    """SIGTERM the leader, wait until it exits, start it again (a new process, a new identity) and wait
    until it is ready and ``per_step`` more instances were created: what a ``kubectl rollout restart``
    or a node drain does to one replica."""
    leader = await sole_leader(fleet.live, timeout=30)
    if leader is None:
        run.report.problems.append("no single leader to restart")
        return
    stopping = time.monotonic() - fleet.started
    code, took, gone = await fleet.terminate(leader)
    await fleet.start(leader).wait_ready(timeout=60)
    run.faults.append(f"SIGTERM to leader {leader} at {stopping:.1f} s: "
                      + (f"had already exited {code}" if gone else f"exit {code} after {took:.1f} s")
                      + "; started again")
    if code != 0 and not gone:
        run.report.problems.append(f"{leader} exited {code} on SIGTERM; see {fleet.replicas[leader].log}")
    await spawns.more(per_step)


def builds_run(replicas: Mapping[str, OperatorProcess], builds: Mapping[str, Build],
               problems: list[str]) -> dict[str, str]:
    """Each started replica's version and where its code came from; a problem for any replica not
    running its own build (the working tree must say so in its log; an old one's location too, if
    its build has the log line)."""
    versions: dict[str, str] = {}
    for name, process in replicas.items():
        if not process.starts:
            continue
        build = builds[name]
        version, where = reported_version(process, build)
        versions[name] = f"{version} ({'log: ' + where if where else '--version; predates the log line'})"
        if version != build.version:
            problems.append(f"{name} reports version {version}, its build is {build.version}")
        if where is None and build.python == Path(sys.executable):
            problems.append(f"{name} runs the working tree but did not log its version")
        if where is not None and not Path(where).resolve().is_relative_to(build.root):
            problems.append(f"{name} runs the code in {where}, not its build's ({build.root})")
    return versions


async def judge(run: FaultRun, env: FaultEnv, replicas: Mapping[str, OperatorProcess], builds: Mapping[str, Build],
                statuses: Statuses, lease: LeaseHistory, overlaps: Sequence[str], spawns: Spawns,
                since: datetime) -> None:
    """Flaps, leaders and writers: the problems into ``run.report``, the figures into ``run.notes``."""
    problems = run.report.problems
    versions = builds_run(replicas, builds, problems)
    flapped = statuses.flapped()
    if flapped:
        problems.append(f"{len(flapped)} instances' status went backwards: {dict(list(flapped.items())[:5])}")
    if statuses.gaps:
        problems.append(f"the instance watch relisted {statuses.gaps} times: transitions may be missing")
    if overlaps:
        problems.append(f"two replicas said they lead at once: {list(overlaps)[:5]}")
    identities = {name: found for name, r in replicas.items() if (found := identities_of(r))}
    holders = [t.holder for t in lease.terms if t.holder]
    if unknown := sorted(set(holders).difference(*identities.values())):
        problems.append(f"the Lease named holders no replica campaigned as: {unknown}")
    by_identity = {identity: name for name, found in identities.items() for identity in found}
    final = holders[-1] if holders else ""
    if not by_identity.get(final, "").startswith("new-"):
        problems.append(f"the Lease ends held by {by_identity.get(final, final)!r}, not a new replica")
    run.notes.update(
        versions=versions,
        spawns=len(spawns.created), spawns_during_roll=spawns.during_roll, deleted=len(spawns.deleted),
        status_transitions=statuses.transitions, statuses_flapped=len(flapped), status_paths=statuses.paths(),
        lease_holders=[by_identity.get(h, h) for h in holders], leader_changes=lease.leader_changes(),
        leaderless_s=[round(g, 2) for g in lease.leaderless()])
    audit = audit_log_of(env)
    users = {name: found for name, found in identities.items() if name in env.control_plane.config.users}
    if audit is None or len(users) != len(identities):
        run.notes["writes_checked"] = "no audit log with a user per replica"
        return
    await anyio.sleep(1.0)  # a blocking-mode audit log has every answered request by now
    checked, late = writes_outside_terms(await anyio.to_thread.run_sync(audit_events, audit), users, lease, since)
    # A build older than the fenced release (a leader hands its Lease back once its writes in flight have
    # landed) may still deliver an Event it had in flight as it let go: noted, not held against the
    # working tree. Anything else written outside the writer's term is a problem.
    excused = [w for w in late if w.resource == "events" and not builds[w.user].fenced_release]
    wrong = [w for w in late if w not in excused]
    run.notes.update(writes_checked=checked, writes_by_non_holder=len(wrong),
                     old_build_events_after_release=len(excused))
    if wrong:
        problems.append(f"{len(wrong)} writes by a replica that did not hold the Lease: {[w.what for w in wrong[:5]]}")
    if not checked:
        problems.append("the audit log shows no write by any replica")



# -- one recorded run: ``python -m faults.upgrade [--size N] [--seed S] [--out DIR]`` -------------------

def audited_plane(workdir: Path, binaries: Binaries | None = None) -> ControlPlane:
    """A control plane (not started) writing an audit log of every request's metadata, with a token
    user per replica (``old-a`` ... ``new-b``), so :func:`judge` can tell every writer apart."""
    policy = workdir / "audit-policy.yaml"
    policy.write_text(json.dumps({"apiVersion": "audit.k8s.io/v1", "kind": "Policy",
                                  "omitStages": ["RequestReceived"], "rules": [{"level": "Metadata"}]}))
    return ControlPlane(ControlPlaneConfig(nodes=1, users=USERS, apiserver_args=(
        f"--audit-policy-file={policy}", f"--audit-log-path={workdir / 'audit.log'}", "--audit-log-format=json",
        "--audit-log-mode=blocking")), binaries)


async def _recorded(plane: ControlPlane, size: int, seed: int, workdir: Path) -> FaultRun:
    async with await Client.from_kubeconfig(str(plane.kubeconfig)) as kube:
        await ensure_namespace(kube, "upgrade")
        return await rolling_upgrade(FaultEnv(plane, kube, "upgrade", workdir), size, random.Random(seed))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m faults.upgrade", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=40, help="instances at least (default %(default)s)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("bench/results"), help="rolling-upgrade.json goes here")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="rolling-upgrade-"))  # the replicas' logs and the audit log
    args.out.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    plane = audited_plane(workdir.resolve())
    plane.start()
    started = time.monotonic()
    try:
        run = anyio.run(_recorded, plane, args.size, args.seed, workdir)
    finally:
        plane.stop()
    result = {**run.row(), "faults": run.faults, "problems": run.report.problems,
              "took_s": round(time.monotonic() - started, 1), "logs": str(workdir),
              "loadavg_before": load, "loadavg_after": os.getloadavg(),
              "command": f"python -m faults.upgrade --size {args.size} --seed {args.seed}"}
    (args.out / "rolling-upgrade.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps(result, indent=2, default=str))
    return 0 if run.ok else 1


if __name__ == "__main__":
    sys.exit(main())
