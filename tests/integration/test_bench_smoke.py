"""The spawn benchmark at a tiny size, every scenario and variant, and with home claims, so that it
never rots (the full runs are in ``bench/README.md``). Against the test control plane, as
``python -m bench.spawn``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.spawn.home import claim_name
from bench.spawn.phases import CLAIM_BOUND, CLAIM_CREATED
from bench.spawn.variants import namespace_of
from jupyternetes_operator.api import LABEL_INSTANCE
from jupyternetes_operator.testing import ControlPlane

REPO = Path(__file__).parents[2]
VARIANTS = "bare,jupyternetes,spawner,kubespawner"


def bench(control_plane: ControlPlane, out: Path, *args: str) -> None:
    argv = [sys.executable, "-m", "bench.spawn", *args, "--kubeconfig", str(control_plane.kubeconfig),
            "--out", str(out), "--idle", "0.5", "--settle", "0"]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


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
    bench(control_plane, tmp_path, "--scenario", scenario, "--variants", VARIANTS, *args)
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


def test_home_claims_are_made_bound_and_mounted(control_plane: ControlPlane, tmp_path: Path) -> None:
    bench(control_plane, tmp_path, "--scenario", "burst", "--n", "3", "--concurrency", "3", "--home",
          "--variants", VARIANTS)
    summary = json.loads((tmp_path / "spawn-burst3-home.json").read_text())
    assert summary["parameters"]["home"] is True
    assert {v: (r["done"], r["errors"]) for v, r in summary["results"].items()} == {
        v: (3, 0) for v in VARIANTS.split(",")}
    assert (tmp_path / "spawn-burst3-home.png").exists()
    assert "with home claims" in (tmp_path / "spawn.md").read_text()
    for variant, spawns in summary["spawns"].items():
        ns = namespace_of(variant)
        claims = {c["metadata"]["name"]: c for c in json.loads(
            control_plane.kubectl("get", "pvc", "-n", ns, "-o", "json").stdout)["items"]}
        pods = json.loads(control_plane.kubectl("get", "pods", "-n", ns, "-o", "json").stdout)["items"]
        for spawn in spawns:
            assert CLAIM_BOUND in spawn["phases"], spawn  # the bench's claim watch saw it Bound
            assert spawn["phases"][CLAIM_CREATED] <= spawn["phases"][CLAIM_BOUND], spawn  # ... after it was made
            claim = claims[claim_name(spawn["key"])]
            assert claim["status"]["phase"] == "Bound"
            pod = next(p for p in pods if spawn["key"] in (p["metadata"]["name"], (p["metadata"].get("labels") or {})
                                                           .get(LABEL_INSTANCE)))
            assert [v["persistentVolumeClaim"]["claimName"] for v in pod["spec"]["volumes"]
                    if "persistentVolumeClaim" in v] == [claim["metadata"]["name"]]
            assert pod["status"]["phase"] == "Running"


def test_the_writes_control_adds_the_operators_three_writes_to_bare_pods(control_plane: ControlPlane,
                                                                         tmp_path: Path) -> None:
    bench(control_plane, tmp_path, "--scenario", "burst", "--n", "3", "--concurrency", "3", "--variants", "bare,writes",
          "--scheduler-metrics", control_plane.scheduler_metrics_url)
    summary = json.loads((tmp_path / "spawn-burst3.json").read_text())
    assert {v: (r["done"], r["errors"]) for v, r in summary["results"].items()} == {"bare": (3, 0), "writes": (3, 0)}
    assert summary["operator"]["windows"]["writes"]["client_requests"]["writes"] == 3 * 4  # pod + the three
    for variant in ("bare", "writes"):  # the scheduler's bind and Scheduled Event per pod, and their wait
        window = summary["operator"]["windows"][variant]
        assert window["scheduler_requests"] >= 2 * 3
        assert window["scheduler_limiter_wait_seconds"] >= 0
    assert "| scheduler req | scheduler limiter ms/req |" in (tmp_path / "spawn.md").read_text()
    ns = namespace_of("writes")
    records = {c["metadata"]["name"]: c["data"] for c in json.loads(
        control_plane.kubectl("get", "configmaps", "-n", ns, "-o", "json").stdout)["items"]}
    events = [e["regarding"]["name"] for e in json.loads(
        control_plane.kubectl("get", "events.events.k8s.io", "-n", ns, "-o", "json").stdout)["items"]
        if e.get("reportingController") == "bench"]
    for spawn in summary["spawns"]["writes"]:
        assert records[spawn["key"]] == {"phase": "Running"}  # created beside the pod, patched once it ran
        assert events.count(spawn["key"]) == 1
