"""The replicas of a rolling upgrade, as a Deployment has them: each its build's interpreter and its
own API user (so the audit log tells them apart), what each says of its version and Lease identity,
and a kubelet that starts again one that exits unasked."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import anyio.to_thread

from jupyternetes_operator.kube.client import Resource
from jupyternetes_operator.kube.errors import AlreadyExists
from jupyternetes_operator.testing.operator import OperatorProcess

from .replicas import GRACE_PERIOD, leading
from .run import FaultEnv, retrying
from .upgrade_build import Build

CLUSTER_ROLE_BINDINGS = Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", namespaced=False)
_STARTING = re.compile(r"jupyternetes-operator (\S+) starting from (\S+)")
_IDENTITY = re.compile(r"(\S+): attempting to acquire lease")


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
