"""The soak's outputs: ``soak.json`` (everything), ``soak.png`` (the series over time) and ``soak.md``
(the goals and figures as a table). :func:`markdown` is pure; the others write files."""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

from .analysis import MB, Evaluation, Sample, Spawn


def summary(params: dict[str, Any], machine: dict[str, Any], samples: list[Sample], spawns: list[Spawn],
            evaluation: Evaluation, extra: dict[str, Any]) -> dict[str, Any]:
    return {"params": params, "machine": machine, **evaluation.as_dict(), **extra,
            "samples": [asdict(s) | {"t": round(s.t, 2)} for s in samples],
            "spawns": [[s.name, s.via, round(s.t, 2), None if s.ready is None else round(s.ready, 3), s.error]
                       for s in spawns]}


def markdown(doc: dict[str, Any]) -> str:
    """The goals and the main figures of a :func:`summary`."""
    p, f = doc["params"], doc["figures"]
    met = sum(g["met"] for g in doc["goals"])
    lines = [f"## Soak: {p['duration'] / 60:g} min at {p['rate']:g} spawns/s and as many stops, "
             f"~{p['live']} live", "",
             f"Goals met: **{met}/{len(doc['goals'])}**", "",
             "| goal | figure | bound | met |", "| --- | --- | --- | --- |"]
    lines += [f"| {g['name']} | {g['figure']} | {g['bound']} | {'yes' if g['met'] else '**no**'} |"
              for g in doc["goals"]]
    if f:
        ttr = f["time_to_ready_s"]
        lines += ["", "| figure | value |", "| --- | --- |",
                  f"| spawns (Ready / all) | {f['spawns_ready']} / {f['spawns']} ({f['spawns_by_via']}) |",
                  f"| time to Ready p50 / p99 / max | {_s(ttr['p50'])} / {_s(ttr['p99'])} / {_s(ttr['max'])} |",
                  f"| RSS window start / end / max | {f['rss_mb']['window_start']} / {f['rss_mb']['window_end']} / "
                  f"{f['rss_mb']['max']} MB |",
                  f"| RSS slope (last {f['window_minutes']:g} min) | {f['rss_slope_mb_per_10min']:+.2f} MB/10 min |",
                  f"| open fds first / last minute (max) | {f['fds']['first']} / {f['fds']['last']} "
                  f"({f['fds']['max']}) |",
                  f"| asyncio tasks first / last minute (max) | {f['tasks']['first']} / {f['tasks']['last']} "
                  f"({f['tasks']['max']}) |",
                  f"| workqueue depth max / window mean | {f['queue_depth']['max']:g} / "
                  f"{f['queue_depth']['window_mean']:g} |",
                  f"| live instances in the window | {f['live']['min']}-{f['live']['max']} |",
                  f"| objects in the operator's caches, first / last minute | "
                  f"{f['cached_objects']['first']} / {f['cached_objects']['last']} |",
                  f"| operator watch restarts | {f['watch_restarts']:g} |",
                  f"| operator non-2xx requests (errors) | {f['api_errors'] or 0} |",
                  f"| operator non-2xx tolerated (creates that met their own, 404s of deleted objects) | "
                  f"{f['api_tolerated'] or 0} |",
                  f"| client errors | {f['client_errors']} |"]
        if "operator_cpu_percent" in doc:
            lines.append(f"| operator CPU during the churn | {doc['operator_cpu_percent']:.0f}% of a core |")
    return "\n".join(lines) + "\n"


def _s(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds:.2f} s"


def write(doc: dict[str, Any], out: Path) -> tuple[Path, Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = out / "soak.json", out / "soak.png", out / "soak.md"
    paths[0].write_text(json.dumps(doc, indent=1) + "\n")
    plot(doc, paths[1])
    paths[2].write_text(markdown(doc))
    return paths


def plot(doc: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    samples = doc["samples"]
    t = [s["t"] / 60 for s in samples]
    panels = [("operator RSS, MB", [s["rss"] / MB for s in samples]),
              ("open fds", [s["fds"] for s in samples]),
              ("asyncio tasks", [s["tasks"] for s in samples]),
              ("workqueue depth (sum)", [s["queue_depth"] for s in samples]),
              ("live instances", [s["live"] for s in samples])]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 11), sharex=True)
    window = doc["figures"].get("window_minutes")
    for ax, (label, ys) in zip(axes, panels, strict=True):
        ax.plot(t, ys, lw=1)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.axvline(0, color="gray", ls=":", lw=1)
        if window is not None and t:
            ax.axvspan(t[-1] - window, t[-1], color="tab:green", alpha=0.06)
    slope = doc["figures"].get("rss_slope_mb_per_10min")
    p = doc["params"]
    title = f"soak: {p['rate']:g}/s spawns and stops around {p['live']} live"
    if slope is not None:
        title += f"; RSS slope {slope:+.2f} MB/10 min over the shaded window"
    axes[0].set_title(title)
    axes[-1].set_xlabel("minutes since the churn began (before 0: filling)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
