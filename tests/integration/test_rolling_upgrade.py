"""A rolling upgrade of two leader-elected replicas, an earlier commit's build replaced by the working
tree's one by one (maxSurge 1, maxUnavailable 0) while instances are created and deleted: nothing lost
or doubled, no status ever going backwards, one leader at a time by the Lease's history, and every
write to the cluster made by the replica the Lease named at that moment, by the API server's audit log
(each replica has a user of its own). The scenario is :func:`faults.upgrade.rolling_upgrade`."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from faults.run import FaultEnv
from faults.upgrade import audited_plane, rolling_upgrade
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.resources import NAMESPACES
from jupyternetes_operator.testing import ControlPlane

SEED = 20261130


@pytest.fixture(scope="module")
def audited(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A control plane of its own that writes an audit log and has a token user per replica."""
    plane = audited_plane(tmp_path_factory.mktemp("upgrade"), control_plane.binaries)
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()


async def test_rolling_upgrade_during_spawns(audited: ControlPlane, tmp_path: Path) -> None:
    namespace = f"upgrade-{uuid.uuid4().hex[:8]}"  # a fresh one for each repetition (--count)
    async with await Client.from_kubeconfig(str(audited.kubeconfig)) as kube:
        await kube.create(NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        run = await rolling_upgrade(FaultEnv(audited, kube, namespace, tmp_path), 16, random.Random(SEED))
    notes = run.notes
    assert run.ok, (run.report.problems, run.faults, notes)
    # Nothing lost or doubled: every instance not deleted is Running with one pod, no orphan.
    created, deleted = notes["spawns"], notes["deleted"]
    r = run.report
    assert (r.instances, r.running, r.duplicates, r.orphans) == (created - deleted, created - deleted, 0, 0)
    assert created >= 16, notes
    assert deleted >= 3, notes
    assert notes["spawns_during_roll"] >= 5, notes
    # Two builds, each replica running the one it was started from.
    assert notes["versions"]["old-a"].split()[0] != notes["versions"]["new-a"].split()[0], notes["versions"]
    assert [("exit 0" in f) for f in run.faults] == [True, True, True], run.faults  # two old, then the new leader
    # No flapping, one leader at a time: the Lease handed from the old build to the new (and once more
    # from a new leader restarted), ending with a new replica; no
    # write of any replica outside its term (but an Event an old build had in flight as it let go: that
    # build predates the fenced release).
    assert notes["statuses_flapped"] == 0, notes
    assert notes["status_transitions"] >= created - deleted, notes
    holders = notes["lease_holders"]
    assert notes["leader_changes"] >= 2, holders
    assert holders[0].startswith("old-"), holders
    assert [h.startswith("new-") for h in holders[-2:]] == [True, True], holders
    assert notes["writes_by_non_holder"] == 0, notes
    assert notes["writes_checked"] > 0, notes
