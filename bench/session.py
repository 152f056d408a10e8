"""What every cluster benchmark's ``main`` starts with: progress bars, and the cluster to run against
(the one ``--kubeconfig`` names, or a local control plane started here and stopped at the end)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .watch_hotpath import Display

PODS_PER_NODE = 500
"""Pods a fake kwok node is given (the sample template's CPU request fills one at ~640)."""


class Cluster(NamedTuple):
    kubeconfig: Path
    display: Display
    scheduler_metrics: str | None
    """The kube-scheduler's ``/metrics`` where it is known (the local control plane's), else None."""


@contextmanager
def bench_cluster(console: Console, kubeconfig: Path | None, pods: float) -> Iterator[Cluster]:
    """The cluster of a run: ``kubeconfig`` as given, else a local control plane with one fake node per
    :data:`PODS_PER_NODE` of ``pods`` (at least two), stopped when the run ends."""
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        display = Display(progress)
        if kubeconfig is not None:
            yield Cluster(kubeconfig, display, None)
            return
        from jupyternetes_operator.testing import ControlPlane, ControlPlaneConfig

        plane = ControlPlane(ControlPlaneConfig(nodes=max(2, math.ceil(pods / PODS_PER_NODE)), users=()))
        plane.start(display.status)
        try:
            yield Cluster(plane.kubeconfig, display, plane.scheduler_metrics_url)
        finally:
            display.status("stopping the control plane")
            plane.stop()
