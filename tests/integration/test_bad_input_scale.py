"""Bad input at scale: the whole corpus, 40 fuzzed templates and 200 healthy instances created at once
against one operator process (the full size: about 85 s here, on two cores shared with other work).
Every healthy instance comes up, every bad object gets its answer, and the process never restarts,
stays within its memory bound and drains its queues."""

from __future__ import annotations

import random
from pathlib import Path

from faults.badinput.cases import CASES
from faults.badinput.scale import bad_input_at_scale
from faults.run import FaultEnv
from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.testing import ControlPlane

SIZE = 200


async def test_bad_input_beside_200_healthy_instances(control_plane: ControlPlane, kube: Client, namespace: str,
                                                      tmp_path: Path) -> None:
    run = await bad_input_at_scale(FaultEnv(control_plane, kube, namespace, tmp_path), SIZE, random.Random(20261125))
    notes = run.notes
    assert run.ok, run.report.problems
    assert run.report.instances == SIZE + len(CASES)
    assert run.report.running == SIZE + sum(1 for c in CASES if not c.bad)
    assert notes["bad_cases"] >= 60
    assert notes["rejected_at_admission"] >= 25
    assert notes["fuzzed"] == SIZE // 5
    assert notes["fuzzed_rejected"] + notes["fuzzed_accepted"] == notes["fuzzed"]
    assert notes["fuzzed_accepted"] > 0
    assert notes["rss_peak_mb"] <= notes["rss_bound_mb"]
    assert 0 < max(notes["max_queue_depth"].values()) <= SIZE + len(CASES) + notes["fuzzed"]
