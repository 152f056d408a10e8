"""Fault runs at a small size (``python -m bench.faults`` runs them large): each injects its faults
during a burst, and the cluster must converge with nothing duplicated, orphaned or lost."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from faults.apiserver_faults import (
    apiserver_restart_during_burst,
    apiserver_restart_during_leader_renewal,
    compaction_while_watches_are_down,
)
from faults.process_faults import sigkill_during_burst, sigterm_during_burst
from faults.replicas import GRACE_PERIOD
from faults.run import FaultEnv, FaultRun
from faults.writer_faults import conflicting_writer
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.testing import ControlPlane

SEED = 20261125


def env(control_plane: ControlPlane, kube: Client, namespace: str, tmp_path: Path) -> FaultEnv:
    return FaultEnv(control_plane, kube, namespace, tmp_path)


def counts(run: FaultRun) -> tuple[int, int, int, int, int]:
    r = run.report
    return r.instances, r.running, r.duplicates, r.orphans, r.lost_retained_claims


async def test_sigkill_during_a_burst_ten_times(control_plane: ControlPlane, kube: Client, namespace: str,
                                                tmp_path: Path) -> None:
    run = await sigkill_during_burst(env(control_plane, kube, namespace, tmp_path), 30, random.Random(SEED))
    assert run.ok, run.report.problems
    assert counts(run) == (30, 30, 0, 0, 0)
    assert len(run.faults) == 10


@pytest.mark.controls_processes  # restarts the session plane's API server
async def test_apiserver_killed_three_times_during_a_burst(control_plane: ControlPlane, kube: Client,
                                                           namespace: str, tmp_path: Path) -> None:
    run = await apiserver_restart_during_burst(env(control_plane, kube, namespace, tmp_path), 20,
                                               random.Random(SEED))
    assert run.ok, run.report.problems
    assert counts(run) == (20, 20, 0, 0, 0)
    assert len(run.faults) == 3
    # One process rode out every outage; its watches got 410 from the restarted API server's fresh
    # watch cache, and relisting (a bounded number of times: no 410 loop) brought the caches back.
    assert run.notes["operator_cache"] == {"jupyternotebookinstances": 20, "pods": 20, "persistentvolumeclaims": 20}
    assert run.notes["relists"]["gone"] > 0, run.notes["relists"]


@pytest.mark.controls_processes  # restarts the session plane's API server
async def test_apiserver_down_past_the_renew_deadline_ends_the_leader(control_plane: ControlPlane, kube: Client,
                                                                      namespace: str, tmp_path: Path) -> None:
    # One outage here: the scheduler's and kwok's own backoffs after each outage cost a minute or more.
    run = await apiserver_restart_during_leader_renewal(env(control_plane, kube, namespace, tmp_path), 20,
                                                        random.Random(SEED), outages=1)
    assert run.ok, run.report.problems
    assert counts(run) == (20, 20, 0, 0, 0)
    # The outage ended the leader (exit 1, a lost lease, no crash) before the API server was back,
    # and only the leader; the replica restarted meanwhile waited for the API server.
    assert len(run.notes["leader_stopped_after_s"]) == len(run.faults) == 1
    assert run.notes["leader_stopped_after_s"][0] < 5, run.notes
    assert run.notes["exits"] in (["a:1"], ["b:1"])
    assert run.notes["leader"] in ("a", "b")


@pytest.mark.controls_processes  # compacts the session plane's etcd
async def test_compaction_while_the_operator_is_frozen(control_plane: ControlPlane, kube: Client, namespace: str,
                                                       tmp_path: Path) -> None:
    run = await compaction_while_watches_are_down(env(control_plane, kube, namespace, tmp_path), 30,
                                                  random.Random(SEED))
    assert run.ok, run.report.problems
    # 2 cycles x (3 pods + 3 instances) deleted: 24 instances left, 18 of them Running.
    assert counts(run) == (24, 18, 0, 0, 0)
    assert (run.notes["pods_deleted"], run.notes["instances_deleted"]) == (6, 6)
    assert run.notes["relists"]["gone"] > 0
    assert run.notes["operator_cache"]["jupyternotebookinstances"] == 24


async def test_another_writer_is_never_clobbered(control_plane: ControlPlane, kube: Client, namespace: str,
                                                 tmp_path: Path) -> None:
    run = await conflicting_writer(env(control_plane, kube, namespace, tmp_path), 30, random.Random(SEED))
    assert run.ok, run.report.problems
    assert counts(run) == (30, 30, 0, 0, 0)
    assert run.notes["foreign_keys"] > 30, run.notes


async def test_sigterm_during_a_burst(control_plane: ControlPlane, kube: Client, namespace: str,
                                      tmp_path: Path) -> None:
    run = await sigterm_during_burst(env(control_plane, kube, namespace, tmp_path), 30, random.Random(SEED))
    assert run.ok, run.report.problems
    assert counts(run) == (30, 30, 0, 0, 0)
    assert len(run.notes["exit_s"]) == 4
    # Well within the grace period, the follower (third) included: it has nothing to drain.
    assert max(run.notes["exit_s"]) < GRACE_PERIOD / 2, run.notes
    assert len(run.notes["takeover_s"]) == 3
