"""The spawn benchmark at a tiny size, every scenario and variant, so that it never rots (the full
runs are in ``bench/README.md``). Against the test control plane, as ``python -m bench.spawn``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jupyternetes_operator.testing import ControlPlane

REPO = Path(__file__).parents[2]
VARIANTS = "bare,jupyternetes,spawner,kubespawner"


@pytest.mark.parametrize(("scenario", "args", "runs"), [
    ("sequential", ["--n", "2"], {"bare": 2, "jupyternetes": 2, "spawner": 2, "kubespawner": 2}),
    ("burst", ["--n", "3", "--concurrency", "3"], {"bare": 3, "jupyternetes": 3, "spawner": 3, "kubespawner": 3}),
    ("sustained", ["--rate", "5", "--duration", "0.6"], {"bare": 3, "jupyternetes": 3, "spawner": 3,
                                                          "kubespawner": 3}),
    ("scale", ["--n", "1", "--live", "4", "--variants", "bare,jupyternetes"],
     {"bare@empty": 1, "jupyternetes@empty": 1, "bare@live": 1, "jupyternetes@live": 1, "bare@live-burst": 1,
      "jupyternetes@live-burst": 1}),
])
def test_every_scenario_runs_and_reports(control_plane: ControlPlane, tmp_path: Path, scenario: str,
                                         args: list[str], runs: dict[str, int]) -> None:
    argv = [sys.executable, "-m", "bench.spawn", "--scenario", scenario, "--variants", VARIANTS, *args,
            "--kubeconfig", str(control_plane.kubeconfig), "--out", str(tmp_path), "--idle", "0.5", "--settle", "0"]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    name = "burst3" if scenario == "burst" else scenario
    summary = json.loads((tmp_path / f"spawn-{name}.json").read_text())
    assert {v: r["done"] for v, r in summary["results"].items()} == runs
    assert all(r["errors"] == 0 for r in summary["results"].values())
    for result in summary["results"].values():
        assert 0 < result["latency"]["p50"] < 60
    assert (tmp_path / f"spawn-{name}.png").stat().st_size > 10_000
    assert "## Goals" in (tmp_path / "spawn.md").read_text()
    if scenario == "burst":  # the hub's own requests: Secret create, instance create (the operator owns the Secret)
        windows = summary["operator"]["windows"]
        assert windows["spawner"]["client_requests"]["spawner"] == 3 * 2
        assert windows["kubespawner"]["client_requests"]["kubespawner"] >= 3
    if scenario == "scale":
        assert summary["operator"]["live_notebooks"] >= 4
        assert summary["operator"]["idle_at_live"]["rss_mb"] > 0
