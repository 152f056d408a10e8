"""The soak benchmark for 5 minutes (``python -m bench.soak`` runs the hour): 250 live servers, 2.5
spawns and 2.5 stops a second for 3.5 minutes, every 10th spawn through ``JupyternetesSpawner``,
against the test control plane with the operator as its own process. It fails on a lost spawn, an
API error, or an operator that grows: open fds, asyncio tasks or RSS.

Marked ``soak``: ``scripts/test`` leaves it out (it alone took a fifth of the suite's 19.5 minutes);
``scripts/soak`` runs it, and so does CI after the suite.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from bench.soak.__main__ import execute
from bench.soak.analysis import Limits
from bench.soak.run import SoakConfig
from jupyternetes_operator.testing import ControlPlane

CONFIG = SoakConfig(rate=2.5, live=250, duration=210.0, interval=5.0, timeout=120.0, spawner_every=10)
WINDOW = 150.0
"""The goals are judged on the last 2.5 of the 3.5 minutes: the first minute of churn still grows the
operator's heap to its working size (the spawns in flight, the Events, the caches' churn)."""
LIMITS = Limits(
    # 775 spawns in all, ~375 in the window: a leak of 10 kB per spawn is 3.75 MB over 2.5 minutes,
    # 15 MB per 10 minutes. A flat operator's slope over so short a window wanders: +1.6 MB/10 min on
    # a quiet machine, +9.6 on one at load 60 where the queues backed up (140 deep; work waiting holds
    # memory) and drained again. Hence 15 here, the hour's is 1: leaks smaller than ~10 kB a spawn are
    # the hour's to find (and the cache check below finds a forgotten object of any size).
    rss_mb_per_10min=15.0,
    # fds: the operator's connections to the API server (pooled; the watches) and the metrics
    # server's: 52-60 in every run so far, varying by a handful as pooled connections come and go;
    # one fd leaked per spawn would be +150 in a minute.
    fds_growth=8,
    # Tasks: fixed workers and informers, plus requests in flight, which follow the load (66-68 so
    # far; more while a backlog drains); a task leaked per spawn would be +150 in a minute.
    tasks_growth=15,
)
pytestmark = pytest.mark.soak

CACHE_GROWTH = 60
"""Objects in the operator's caches (instances, their pods, the spawner's Secrets ...) follow the live
set, 250 plus the spawns in flight (a few seconds' worth at 2.5/s, each with 2-3 objects). An object
kept per deleted instance would be +150 a minute."""


def test_five_minutes_of_churn_lose_nothing_and_grow_nothing(control_plane: ControlPlane, tmp_path: Path) -> None:
    config = SoakConfig(**{**CONFIG.__dict__, "namespace": f"soak-{secrets.token_hex(3)}"})
    result, evaluation = execute(config, control_plane.kubeconfig, tmp_path / "operator.log", WINDOW, LIMITS)
    f = evaluation.figures
    print(json.dumps(f, indent=1))  # shown when it fails: the whole picture, not pytest's truncated repr
    missed = [f"{g.name}: {g.figure} (bound {g.bound})" for g in evaluation.missed()]
    assert not missed, (missed, f)
    # What "met" rests on, asserted directly too:
    expected = CONFIG.live + round(CONFIG.rate * CONFIG.duration)
    assert f["spawns"] == f["spawns_ready"] == expected, f["failures"]
    assert f["spawns_by_via"]["spawner"] == expected // CONFIG.spawner_every
    assert f["api_errors"] == {}
    assert f["client_errors"] == 0
    assert f["live"]["min"] >= CONFIG.live - 2 * CONFIG.rate * CONFIG.interval  # it churned around the target
    assert result.churn_seconds < CONFIG.duration + CONFIG.timeout
    assert f["cached_objects"]["last"] - f["cached_objects"]["first"] <= CACHE_GROWTH
