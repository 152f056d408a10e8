"""Fault runs at a large size: every scenario of :data:`faults.scenarios.SCENARIOS`
(operator SIGKILL/SIGTERM, API server restarts, etcd compaction, a conflicting writer, the API-proxy
faults, bad input) each in a fresh namespace, and the report of what they cost and lost.

``python -m bench.faults [--size N] [--scenarios a,b] [--seed S] [--out DIR] [--kubeconfig FILE]``
writes ``faults.json`` (machine, versions, parameters, one row per run) and ``faults.md`` under
``--out``, and exits non-zero if any run is not ok. This module is the pure part: rows, summary,
Markdown; :mod:`bench.faults.__main__` does the I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from faults.run import FaultRun

COLUMNS = ("scenario", "instances", "faults injected", "converge s", "duplicates", "orphans",
           "lost retained PVCs", "ok")


def row(name: str, run: FaultRun, seconds: float) -> dict[str, Any]:
    """One run as the JSON report keeps it: its short name, its wall time, then :meth:`FaultRun.row`
    (with the problems, which ``row()`` leaves out; a time never measured is null, not NaN)."""
    fields = run.row()
    if math.isnan(fields["converge_s"]):
        fields["converge_s"] = None
    return {"name": name, "seconds": round(seconds, 1), **fields, "problems": list(run.report.problems)}


def crashed(name: str, size: int, error: BaseException) -> FaultRun:
    """The run of a scenario that raised instead of reporting: not ok, with the error as its problem."""
    run = FaultRun(name, size)
    run.report.problems.append(f"the scenario raised {type(error).__name__}: {error}"[:2000])
    return run


def summary(rows: Sequence[Mapping[str, Any]], *, when: str, machine: Mapping[str, Any],
            versions: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict[str, Any]:
    return {"benchmark": "faults", "when": when, "machine": dict(machine), "versions": dict(versions),
            "parameters": dict(parameters), "ok": all(r["ok"] for r in rows), "runs": [dict(r) for r in rows]}


def _seconds(value: Any) -> str:
    return "-" if not isinstance(value, int | float) or math.isnan(value) else f"{value:.1f}"


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(report: Mapping[str, Any]) -> str:
    """``faults.md``: the table (one row per run), then per run what was injected, measured and wrong."""
    p, m = report["parameters"], report["machine"]
    load = m.get("loadavg_before")
    lines = ["# Fault runs", "",
             f"Size {p['size']}, seed {p['seed']}, {report['when']}; {m.get('cpus')} CPUs"
             + (f", load {load[0]:.1f}" if load else "") + f"; cluster: {p['cluster']}.", "",
             "| " + " | ".join(COLUMNS) + " |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in report["runs"]:
        lines.append(f"| {_cell(r['name'])} | {r['instances']} | {r['faults']} | {_seconds(r['converge_s'])} | "
                     f"{r['duplicates']} | {r['orphans']} | {r['lost_retained_pvcs']} | "
                     f"{'yes' if r['ok'] else '**NO**'} |")
    lines.append("")
    known = {"name", "seconds", "scenario", "instances", "faults", "injected", "converge_s", "duplicates",
             "orphans", "lost_retained_pvcs", "not_ready", "stale_status", "ok", "problems"}
    for r in report["runs"]:
        lines += [f"## {r['name']}: {r['scenario']}", "", f"- wall time: {_seconds(r['seconds'])} s"]
        if r["injected"]:
            lines.append(f"- injected: {_cell(r['injected'])}")
        notes = {k: v for k, v in r.items() if k not in known}
        if notes:
            lines.append("- measured: " + "; ".join(f"{k} = {_cell(v)}" for k, v in notes.items()))
        for problem in r.get("problems") or ():
            lines.append(f"- **problem**: {_cell(problem)}")
        lines.append("")
    return "\n".join(lines)
