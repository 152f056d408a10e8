"""Fault runs at a small size (``python -m bench.faults`` runs them large): each injects its faults
during a burst, and the cluster must converge with nothing duplicated, orphaned or lost."""

from __future__ import annotations

import random
from pathlib import Path

from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.testing import ControlPlane
from jupyternetes_operator.testing.faultruns import FaultEnv, sigkill_during_burst


async def test_sigkill_during_a_burst_ten_times(control_plane: ControlPlane, kube: Client, namespace: str,
                                                tmp_path: Path) -> None:
    run = await sigkill_during_burst(FaultEnv(control_plane, kube, namespace, tmp_path), 30, random.Random(20261125))
    assert run.ok, run.report.problems
    r = run.report
    assert (r.instances, r.running, r.duplicates, r.orphans, r.lost_retained_claims) == (30, 30, 0, 0, 0)
    assert len(run.faults) == 10
