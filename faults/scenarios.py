"""Every fault run, by short name, in report order: the one registry. ``python -m bench.faults``
runs these (all, or those named by ``--scenarios``); the test suite runs each at a small size.
A scenario is ``async (FaultEnv, size, rng) -> FaultRun`` (:data:`faults.run.Scenario`)."""

from __future__ import annotations

from .apiserver_faults import (
    apiserver_restart_during_burst,
    apiserver_restart_during_leader_renewal,
    compaction_while_watches_are_down,
)
from .badinput.scale import bad_input_at_scale
from .process_faults import sigkill_during_burst, sigterm_during_burst
from .proxy_faults import api_errors, watch_drop, watch_stall
from .run import Scenario
from .upgrade import rolling_upgrade
from .writer_faults import conflicting_writer

SCENARIOS: dict[str, Scenario] = {
    "sigkill": sigkill_during_burst,
    "apiserver-restart": apiserver_restart_during_burst,
    "apiserver-restart-leader": apiserver_restart_during_leader_renewal,
    "compaction": compaction_while_watches_are_down,
    "conflicts": conflicting_writer,
    "sigterm": sigterm_during_burst,
    "watch-stall": watch_stall,
    "watch-drop": watch_drop,
    "api-errors": api_errors,
    "bad-input": bad_input_at_scale,
    "rolling-upgrade": rolling_upgrade,
}

LOCAL_ONLY: frozenset[str] = frozenset({
    "apiserver-restart", "apiserver-restart-leader", "compaction",  # restart or compact the control plane
    "watch-stall", "watch-drop", "api-errors",  # the proxy fronts its API server with its certificates
    "rolling-upgrade",  # applies an earlier release's CRDs, then the new ones
})
"""The scenarios that need a :class:`~jupyternetes_operator.testing.ControlPlane` this process
started, not a cluster reached by kubeconfig."""
