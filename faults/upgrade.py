"""A rolling upgrade while spawns run: two replicas of an old build (an earlier commit,
:mod:`faults.upgrade_build`) replaced one by one by the working tree's build, as a Deployment's
RollingUpdate does with maxSurge 1 / maxUnavailable 0 (start a new replica, wait until it is ready,
SIGTERM an old one, wait until it exits; again). The new version's CRDs are applied before the roll,
as Helm applies ``crds/`` first. Meanwhile instances are created at a steady rate and some deleted.

What it proves, besides the invariants (every instance Running, one child per logical name, no
orphan): no instance's status ever went backwards (from a watch on instances: phase Pending <
Provisioning < Running, Ready never True -> anything else, no status wiped), the Lease named one
holder after another (from a watch on it: leader changes, time without a leader), and, when the
API server writes an audit log and each replica has its own user, every write a replica made fell
inside its own term as the Lease's history tells it (no write by an old leader after it let go)."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from jupyternetes_operator.api import INSTANCES, PENDING, PROVISIONING, READY, RUNNING, condition, phase
from jupyternetes_operator.kube.client import Client, Resource
from jupyternetes_operator.kube.errors import AlreadyExists, Gone, NotFound
from jupyternetes_operator.kube.resources import LEASES
from jupyternetes_operator.kube.watch import BOOKMARK, DELETED, watch
from jupyternetes_operator.testing.binaries import Binaries
from jupyternetes_operator.testing.controlplane import ControlPlane, ControlPlaneConfig
from jupyternetes_operator.testing.namespaces import ensure_namespace
from jupyternetes_operator.testing.operator import TEMPLATE, OperatorProcess, instance, template_valid

from .replicas import GRACE_PERIOD, LEASE_NAME, leading, one_leader, sole_leader, stop_all
from .run import TRANSIENT, FaultEnv, FaultRun, diagnose, patience, prepare, retrying, settle
from .upgrade_build import OLD_COMMIT, Build, current, old_operator

CLUSTER_ROLE_BINDINGS = Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", namespaced=False)
REPLICAS = ("a", "b")
USERS = tuple(f"{kind}-{letter}" for kind in ("old", "new") for letter in REPLICAS)
WRITES = frozenset({"create", "update", "patch", "delete", "deletecollection"})
_RANK = {None: -1, PENDING: 0, PROVISIONING: 1, RUNNING: 2}
_STARTING = re.compile(r"jupyternetes-operator (\S+) starting from (\S+)")
_IDENTITY = re.compile(r"(\S+): attempting to acquire lease")


# -- what a watch on instances says: status transitions and flaps ----------------------------------

@dataclass(frozen=True)
class Seen:
    """An instance's status as one watch event showed it."""

    phase: str | None
    ready: str
    """The Ready condition's status (``""`` when absent)."""
    deleting: bool

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> Seen:
        return cls(phase(obj), str(condition(obj, READY).get("status", "")),
                   bool(obj["metadata"].get("deletionTimestamp")))


def flaps(states: Sequence[Seen]) -> list[str]:
    """Every step back in one instance's observed statuses (deletion ends the record): its phase lower in
    Pending < Provisioning < Running (or its status wiped), Running left for anything, Ready leaving True."""
    found: list[str] = []
    for before, after in itertools.pairwise(states):
        if after.deleting:
            break
        step = f"{before.phase}/Ready={before.ready} -> {after.phase}/Ready={after.ready}"
        if (before.phase in _RANK and after.phase in _RANK and _RANK[after.phase] < _RANK[before.phase]) \
                or (before.phase == RUNNING and after.phase != RUNNING) \
                or (before.ready == "True" and after.ready != "True"):
            found.append(step)
    return found


@dataclass
class Statuses:
    """Each instance's distinct statuses in the order a watch delivered them."""

    seen: dict[str, list[Seen]] = field(default_factory=dict)
    gaps: int = 0
    """Watches that had to relist (410 Gone): transitions in between may be missing."""

    def record(self, obj: Mapping[str, Any]) -> None:
        states = self.seen.setdefault(str(obj["metadata"]["name"]), [])
        state = Seen.of(obj)
        if not states or states[-1] != state:
            states.append(state)

    def flapped(self) -> dict[str, list[str]]:
        return {name: found for name, states in sorted(self.seen.items()) if (found := flaps(states))}

    def paths(self) -> dict[str, int]:
        """How many instances went each way (``None -> Provisioning/False -> Running/True``), most first."""
        counts: dict[str, int] = {}
        for states in self.seen.values():
            path = " -> ".join(f"{s.phase}/{s.ready or '-'}" + ("/deleting" if s.deleting else "") for s in states)
            counts[path] = counts.get(path, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: -kv[1]))

    @property
    def transitions(self) -> int:
        return sum(len(states) - 1 for states in self.seen.values())


# -- what a watch on the Lease says: who held it, from when ------------------------------------------

@dataclass(frozen=True)
class Term:
    holder: str
    """``""``: released, nobody holds it."""
    start: datetime
    """The Lease's ``acquireTime`` (the holder's clock; a release stamps its own time there)."""
    last_renew: datetime


def parse_time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


@dataclass
class LeaseHistory:
    terms: list[Term] = field(default_factory=list)

    def record(self, lease: Mapping[str, Any]) -> None:
        spec = lease.get("spec") or {}
        if not spec.get("acquireTime"):
            return
        holder = str(spec.get("holderIdentity") or "")
        start, renew = parse_time(spec["acquireTime"]), parse_time(spec.get("renewTime") or spec["acquireTime"])
        if self.terms and self.terms[-1].holder == holder and self.terms[-1].start == start:
            self.terms[-1] = Term(holder, start, renew)
        else:
            self.terms.append(Term(holder, start, renew))

    def holder_at(self, at: datetime) -> str | None:
        """Who held the Lease at ``at`` (None before the first term seen)."""
        held = None
        for term in self.terms:
            if term.start <= at:
                held = term.holder
        return held

    def leader_changes(self) -> int:
        holders = [t.holder for t in self.terms if t.holder]
        return sum(a != b for a, b in itertools.pairwise(holders))

    def leaderless(self) -> list[float]:
        """For each handover, seconds from the last sign of the old holder (its release, or its last
        renewal when the Lease was taken over after expiry) to the new holder's acquisition."""
        gaps: list[float] = []
        for before, after in itertools.pairwise(self.terms):
            if not after.holder:
                continue
            since = before.start if not before.holder else before.last_renew
            gaps.append(max(0.0, (after.start - since).total_seconds()))
        return gaps


async def follow(kube: Client, resource: Resource, namespace: str, on: Callable[[Mapping[str, Any]], None],
                 statuses: Statuses | None = None, field_selector: str | None = None) -> None:
    """LIST then WATCH ``resource``, calling ``on(obj)`` for every object seen (deletions apart); reopen
    at the last version when the stream ends or the API server fails it, relist (and count a gap) on 410.
    Until cancelled."""
    rv: str | None = None
    while True:
        if rv is None:
            listed = await retrying(lambda: kube.list(resource, namespace, field_selector=field_selector))
            for obj in listed["items"]:
                on(obj)
            rv = str(listed["metadata"]["resourceVersion"])
        try:
            async with watch(kube, resource, namespace, resource_version=rv, timeout_seconds=240,
                             inactivity_timeout=90.0, field_selector=field_selector) as events:
                async for event in events:
                    rv = str(event.object["metadata"]["resourceVersion"])
                    if event.type not in (BOOKMARK, DELETED):
                        on(event.object)
        except Gone:
            rv = None
            if statuses is not None:
                statuses.gaps += 1
        except TRANSIENT:  # the API server is busy or (re)initializing its watch cache: reopen from rv
            await anyio.sleep(0.5)


# -- who wrote what, by the API server's audit log --------------------------------------------------

def audit_log_of(env: FaultEnv) -> Path | None:
    for arg in env.control_plane.config.apiserver_args:
        if arg.startswith("--audit-log-path="):
            return Path(arg.split("=", 1)[1])
    return None


@dataclass(frozen=True)
class LateWrite:
    """A write the API server received from a replica while the Lease did not name it."""

    user: str
    resource: str
    what: str


def writes_outside_terms(events: Iterable[Mapping[str, Any]], identities: Mapping[str, frozenset[str]],
                         history: LeaseHistory, since: datetime) -> tuple[int, list[LateWrite]]:
    """(writes checked, those not made by the Lease's holder of their moment): every successful write
    since ``since`` by a user in ``identities`` (user -> the Lease identities its processes campaigned as),
    Leases apart."""
    checked, late = 0, []
    for event in events:
        user = event["user"]["username"]
        resource = str((event.get("objectRef") or {}).get("resource", ""))
        if user not in identities or event["verb"] not in WRITES or resource == "leases":
            continue
        if not 200 <= (event.get("responseStatus") or {}).get("code", 0) < 300:
            continue
        at = parse_time(event["requestReceivedTimestamp"])
        if at < since:
            continue
        checked += 1
        if (holder := history.holder_at(at)) not in identities[user]:
            late.append(LateWrite(user, resource, f"{user} {event['verb']} {event['requestURI']} at "
                                                  f"{at.isoformat()} while the Lease named {holder!r}"))
    return checked, late


def audit_events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# -- the replicas --------------------------------------------------------------------------------------

def reported_version(replica: OperatorProcess, build: Build) -> tuple[str, str | None]:
    """(the version, the package directory it runs from) by the replica's own startup log line; for a
    build that predates that line (None: its code is not the working tree's), what its isolated
    interpreter's ``--version`` says."""
    if found := _STARTING.findall(replica.log.read_text(errors="replace")):
        version, where = found[-1]
        return version, where
    return build.version, None


def identities_of(replica: OperatorProcess) -> frozenset[str]:
    """The Lease identities of each process the replica ran (one per start)."""
    return frozenset(_IDENTITY.findall(replica.log.read_text(errors="replace")))


async def as_user(env: FaultEnv, user: str) -> Path | None:
    """A kubeconfig of its own for a replica (cluster-admin), so the audit log tells replicas apart;
    None when the control plane has no such token user."""
    if user not in env.control_plane.config.users:
        return None
    with contextlib.suppress(AlreadyExists):
        await retrying(lambda: env.kube.create(CLUSTER_ROLE_BINDINGS, {
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": f"jupyternetes-operator-{user}"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]}))
    return env.control_plane.kubeconfig_for(user)


async def replica(env: FaultEnv, name: str, build: Build) -> OperatorProcess:
    """A replica (not started) of ``build``, as its own user when the control plane has one of that name."""
    kubeconfig = await as_user(env, name)
    return OperatorProcess(kubeconfig or env.control_plane.kubeconfig, (env.namespace,), env.workdir / f"{name}.log",
                           "--log-format=text", python=build.python)


async def apply_crds(env: FaultEnv, build: Build) -> None:
    """``build``'s CRDs, server-side applied and Established (what ``helm upgrade`` does first)."""
    plane = env.control_plane
    await anyio.to_thread.run_sync(lambda: plane.kubectl("apply", "--server-side", "--force-conflicts",
                                                         "-f", str(build.crds)))
    await anyio.to_thread.run_sync(lambda: plane.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                                                         "-f", str(build.crds)))


async def watch_leaders(replicas: Mapping[str, OperatorProcess], overlaps: list[str]) -> None:
    """Sample every live replica's ``leader_election_master_status``; record any moment two said 1."""
    while True:
        says = {name: await leading(r) for name, r in list(replicas.items()) if r.running}
        if sum(bool(s) for s in says.values()) > 1:
            overlaps.append(f"{sorted(n for n, s in says.items() if s)} at {time.monotonic():.2f}")
        await anyio.sleep(0.25)


# -- the scenario -------------------------------------------------------------------------------------

@dataclass
class Fleet:
    """The Deployment's pods: every replica, those running now (``live``), and a kubelet that starts
    again, a second later, a live replica that exited without being asked to (a lease lost under load
    exits 1 by design); such exits are recorded, never hidden."""

    replicas: Mapping[str, OperatorProcess]
    live: dict[str, OperatorProcess] = field(default_factory=dict)
    stopping: set[str] = field(default_factory=set)
    unplanned: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def start(self, name: str) -> OperatorProcess:
        self.replicas[name].start()
        self.live[name] = self.replicas[name]
        return self.live[name]

    async def terminate(self, name: str) -> tuple[int, float, bool]:
        """SIGTERM ``name`` and wait until it exits: (exit code, seconds, whether it had exited before)."""
        self.stopping.add(name)
        try:
            replica = self.live[name]
            gone = not replica.running
            at = time.monotonic()
            code = await replica.stop(timeout=GRACE_PERIOD)
            return code, time.monotonic() - at, gone
        finally:
            del self.live[name]
            self.stopping.discard(name)

    async def supervise(self) -> None:
        while True:
            for name, replica in list(self.live.items()):
                if name not in self.stopping and replica.proc is not None \
                        and (code := replica.proc.poll()) is not None:
                    self.unplanned.append(f"{name} exited {code} at {time.monotonic() - self.started:.1f} s")
                    await anyio.sleep(1.0)  # the kubelet's first restart backoff
                    if name in self.live and name not in self.stopping:
                        replica.start()
            await anyio.sleep(0.1)


@dataclass
class Spawns:
    created: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    during_roll: int = 0


async def spawn_steadily(env: FaultEnv, rng: random.Random, spawns: Spawns, size: int, interval: float,
                         rolling: anyio.Event, rolled: anyio.Event) -> None:
    """Create an instance every ``interval`` s until ``size`` exist and the roll is over (``4 * size`` at
    most: a roll slowed down by a loaded machine); every fourth create also deletes a random earlier
    instance (Running or not yet)."""
    index = 0
    while (len(spawns.created) < size or not rolled.is_set()) and len(spawns.created) < 4 * size:
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
    spawns = Spawns()
    rolling, rolled = anyio.Event(), anyio.Event()
    started_at = datetime.now().astimezone()
    fleet = Fleet(replicas)
    live = fleet.live
    try:
        for name in ("old-a", "old-b"):
            fleet.start(name)
        await template_valid(env.kube, TEMPLATE["metadata"]["name"], env.namespace, timeout=60)
        if await sole_leader(live, timeout=60) is None:
            run.report.problems.append("the old replicas never settled on one leader")
        started = fleet.started = time.monotonic()
        async with anyio.create_task_group() as watchers:
            watchers.start_soon(fleet.supervise)
            watchers.start_soon(follow, env.kube, INSTANCES, env.namespace, statuses.record, statuses)
            watchers.start_soon(follow, env.kube, LEASES, env.namespace, lease.record, None,
                                f"metadata.name={LEASE_NAME}")
            watchers.start_soon(watch_leaders, live, overlaps)
            async with anyio.create_task_group() as tg:
                tg.start_soon(spawn_steadily, env, rng, spawns, size, interval, rolling, rolled)
                while len(spawns.created) < max(2, size // 5):  # noqa: ASYNC110 (spawns are counted, not signalled)
                    await anyio.sleep(0.05)
                await apply_crds(env, new)
                rolling.set()
                roll_started = time.monotonic()
                await roll(run, fleet)
                if restart:
                    await restart_leader(run, fleet)
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


async def roll(run: FaultRun, fleet: Fleet) -> None:
    """Replace each old replica by a new one: start it, wait until it is ready, SIGTERM an old one (the
    leader first, so the Lease changes hands once to each build) and wait until it exits."""
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


async def restart_leader(run: FaultRun, fleet: Fleet) -> None:
    """SIGTERM the leader, wait until it exits, start it again (a new process, a new identity) and wait
    until it is ready: what a ``kubectl rollout restart`` or a node drain does to one replica."""
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


def builds_run(replicas: Mapping[str, OperatorProcess], builds: Mapping[str, Build],
               problems: list[str]) -> dict[str, str]:
    """Each started replica's version and where its code came from; a problem for any replica not
    running its own build (the working tree must say so in its log; an old one's location too, if
    its build has the log line)."""
    versions: dict[str, str] = {}
    for name, replica in replicas.items():
        if not replica.starts:
            continue
        build = builds[name]
        version, where = reported_version(replica, build)
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
