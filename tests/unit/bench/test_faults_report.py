"""The fault-run report: a run's JSON row and the Markdown table, from plain FaultRuns."""

from __future__ import annotations

import json
import math
from typing import Any

from bench.faults import COLUMNS, crashed, markdown, row, summary
from faults.invariants import Report
from faults.run import FaultRun

MACHINE = {"platform": "Linux", "machine": "x86_64", "cpus": 2, "loadavg_before": (1.25, 1.0, 0.5)}
PARAMETERS = {"size": 300, "seed": 7, "scenarios": ["sigkill", "compaction"], "cluster": "local control plane"}


def good() -> FaultRun:
    run = FaultRun("operator SIGKILL x10 during a burst", 300, faults=["SIGKILL at 0.50 s", "SIGKILL at 1.00 s"],
                   converge_seconds=12.345, report=Report(instances=300, running=300))
    run.notes["relists"] = {"initial": 7, "gone": 14}
    return run


def bad() -> FaultRun:
    report = Report(instances=300, running=290, duplicates=2, orphans=1, lost_retained_claims=3)
    report.problems += ["2 Pods for instance ns/a, logical name notebook", "x | y"]
    return FaultRun("etcd compaction", 300, faults=["SIGSTOP"], converge_seconds=120.0, report=report)


def report_of(*runs: tuple[str, FaultRun]) -> dict[str, Any]:
    rows = [row(name, run, 30.04) for name, run in runs]
    return summary(rows, when="2026-11-25T22:00:00+00:00", machine=MACHINE, versions={"python": "3.11"},
                   parameters=PARAMETERS)


def test_a_row_carries_the_name_the_counts_the_notes_and_the_problems() -> None:
    r = row("compaction", bad(), 30.04)
    assert r["name"] == "compaction"
    assert r["seconds"] == 30.0
    assert (r["instances"], r["faults"], r["converge_s"]) == (300, 1, 120.0)
    assert (r["duplicates"], r["orphans"], r["lost_retained_pvcs"], r["ok"]) == (2, 1, 3, False)
    assert r["problems"] == ["2 Pods for instance ns/a, logical name notebook", "x | y"]
    assert row("sigkill", good(), 1)["relists"] == {"initial": 7, "gone": 14}


def test_the_summary_is_json_and_ok_only_if_every_run_is() -> None:
    both = report_of(("sigkill", good()), ("compaction", bad()))
    assert json.loads(json.dumps(both))["ok"] is False
    assert report_of(("sigkill", good()))["ok"] is True
    assert [r["name"] for r in both["runs"]] == ["sigkill", "compaction"]
    assert both["parameters"] == PARAMETERS
    assert both["machine"]["cpus"] == 2


def test_markdown_has_one_table_row_per_run_with_the_columns_of_the_issue() -> None:
    md = markdown(report_of(("sigkill", good()), ("compaction", bad())))
    lines = md.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| scenario"))
    assert lines[header] == "| " + " | ".join(COLUMNS) + " |"
    assert lines[header + 2] == "| sigkill | 300 | 2 | 12.3 | 0 | 0 | 0 | yes |"
    assert lines[header + 3] == "| compaction | 300 | 1 | 120.0 | 2 | 1 | 3 | **NO** |"
    assert lines[header + 4] == ""
    assert "Size 300, seed 7, 2026-11-25T22:00:00+00:00; 2 CPUs, load 1.2; cluster: local control plane." in md
    assert "- injected: SIGKILL at 0.50 s; SIGKILL at 1.00 s" in md
    assert "- measured: relists = {'initial': 7, 'gone': 14}" in md
    assert "- **problem**: x \\| y" in md  # a pipe cannot break the table


def test_a_crashed_scenario_is_a_failed_row_with_its_error() -> None:
    run = crashed("conflicts", 30, RuntimeError("restarting kube-apiserver needs the local control plane"))
    assert not run.ok
    assert math.isnan(run.converge_seconds)
    report = report_of(("conflicts", run))
    assert report["runs"][0]["converge_s"] is None  # JSON has no NaN
    json.dumps(report, allow_nan=False)
    md = markdown(report)
    assert "| conflicts | 30 | 0 | - | 0 | 0 | 0 | **NO** |" in md
    assert "the scenario raised RuntimeError: restarting kube-apiserver" in md
