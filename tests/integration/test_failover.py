"""Two operator replicas with leader election on short timings. The leader is frozen
(SIGSTOP, not killed) past its lease, the other takes over, then the old one resumes:
it must not write once after losing the lease, and it exits so it can restart as a
follower. Every write's sender comes from the API server's audit log."""

from __future__ import annotations

import contextlib
import json
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from faults.invariants import check
from jupyternetes_operator.api import INSTANCES, TEMPLATES
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.errors import AlreadyExists
from jupyternetes_operator.kube.resources import LEASES, NAMESPACES, Resource
from jupyternetes_operator.testing import ControlPlane, ControlPlaneConfig

from .operator_harness import TEMPLATE, OperatorProcess, instance, ready_instance, template_valid, wait_for

CLUSTER_ROLE_BINDINGS = Resource("rbac.authorization.k8s.io", "v1", "clusterrolebindings", namespaced=False)
LEASE_DURATION, RETRY_PERIOD = 4.0, 0.5
WRITES = {"create", "update", "patch", "delete", "deletecollection"}


@pytest.fixture(scope="module")
def audited(control_plane: ControlPlane,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ControlPlane, Path]]:
    directory = tmp_path_factory.mktemp("failover")
    policy = directory / "policy.yaml"
    policy.write_text(yaml.safe_dump({"apiVersion": "audit.k8s.io/v1", "kind": "Policy",
                                      "omitStages": ["RequestReceived"], "rules": [{"level": "Metadata"}]}))
    plane = ControlPlane(ControlPlaneConfig(nodes=1, apiserver_args=(
        f"--audit-policy-file={policy}", f"--audit-log-path={directory / 'audit.log'}",
        "--audit-log-format=json", "--audit-log-mode=blocking")), control_plane.binaries)
    plane.start()
    try:
        yield plane, directory / "audit.log"
    finally:
        plane.stop()


def writes_by(audit_log: Path, user: str, after: datetime) -> list[dict[str, Any]]:
    """Successful writes by ``user`` the API server received after ``after``."""
    found = []
    for line in audit_log.read_text().splitlines():
        event = json.loads(line)
        if event["user"]["username"] != user or event["verb"] not in WRITES:
            continue
        if not 200 <= (event.get("responseStatus") or {}).get("code", 0) < 300:
            continue
        if datetime.fromisoformat(event["requestReceivedTimestamp"].replace("Z", "+00:00")) > after:
            found.append(event)
    return found


async def test_frozen_leader_stops_acting_before_the_other_takes_over(audited: tuple[ControlPlane, Path],
                                                                     tmp_path: Path) -> None:
    plane, audit_log = audited
    namespace = f"failover-{uuid.uuid4().hex[:8]}"  # a fresh one for each repetition (--count)
    async with await Client.from_kubeconfig(str(plane.kubeconfig)) as kube:
        await kube.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        for user in ("alice", "bob"):  # each replica its own identity, so the audit log tells them apart
            with contextlib.suppress(AlreadyExists):  # made by an earlier repetition
                await kube.create(CLUSTER_ROLE_BINDINGS, {
                    "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                    "metadata": {"name": f"operator-{user}"},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                "name": "cluster-admin"},
                    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}]})
        await kube.create(TEMPLATES, TEMPLATE, namespace)
        replicas = {user: OperatorProcess(plane.kubeconfig_for(user), (namespace,), tmp_path / f"{user}.log",
                                          "--log-format=text", f"--lease-duration={LEASE_DURATION}",
                                          f"--retry-period={RETRY_PERIOD}")
                    for user in ("alice", "bob")}
        replicas["alice"].start()
        try:
            await wait_for(kube, LEASES, "jupyternetes-operator", namespace,
                           lambda lease: lease and lease["spec"].get("holderIdentity"), what="a leader")
            replicas["bob"].start()
            await template_valid(kube, "jupyterlab", namespace)
            for name in ("one", "two"):
                await kube.create(INSTANCES, instance(name), namespace)
                await ready_instance(kube, name, namespace)
            leader = (await kube.get(LEASES, "jupyternetes-operator", namespace))["spec"]["holderIdentity"]

            replicas["alice"].signal(signal.SIGSTOP)  # frozen, not dead: its connections stay open
            frozen = time.monotonic()
            lease = await wait_for(kube, LEASES, "jupyternetes-operator", namespace,
                                   lambda lease: lease["spec"].get("holderIdentity") not in (None, "", leader),
                                   timeout=20, what="the follower to take over")
            failover = time.monotonic() - frozen
            taken_at = datetime.fromisoformat(lease["spec"]["acquireTime"].replace("Z", "+00:00"))

            # The new leader serves spawns while the old one is still frozen ...
            await kube.create(INSTANCES, instance("three"), namespace)
            await ready_instance(kube, "three", namespace)
            # ... and a change that the old leader's stale cache would act on is waiting for it.
            await kube.delete(INSTANCES, "one", namespace)
            replicas["alice"].signal(signal.SIGCONT)
            # It finds its lease lost once it runs again, and exits by itself: waited for, never signalled
            # (a SIGTERM sent at once raced that exit and sometimes won: CI saw -15).
            code = await replicas["alice"].exited(timeout=30)
            await anyio.sleep(1)  # anything it still had in flight has reached the audit log by now

            assert failover <= LEASE_DURATION + 2 * RETRY_PERIOD + 1.5, failover
            assert code == 1, "a replica that lost the lease exits so it restarts as a follower"
            assert "lost the leader lease" in (tmp_path / "alice.log").read_text()
            late = writes_by(audit_log, "alice", taken_at)
            assert late == [], [f"{e['verb']} {e['requestURI']}" for e in late]
            assert writes_by(audit_log, "bob", taken_at)

            report = await check(kube, [namespace])
            assert report.ok, report.problems
            assert (report.instances, report.running, report.duplicates) == (2, 2, 0)
        finally:
            for replica in replicas.values():
                if replica.proc is not None and replica.proc.poll() is None:
                    replica.signal(signal.SIGCONT)
                replica.kill()
