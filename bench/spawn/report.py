"""A spawn run's outputs: the JSON summary, the PNG plot and ``spawn.md`` (pure, apart from writing
the plot).

The summary keeps every spawn's phases and the ratios against bare pods; ``spawn.md`` puts every
run's table side by side, then the goals measured over all of them (see :func:`.phases.goals`).
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import package_version
from .phases import CLAIM_MARKS, LABELS, ORDER, Spawn, done_curve, goals, phases, summarize
from .prepared import prepared_variants
from .variants import BARE, JUPYTERNETES, OPERATED, SPAWNER

HOME_SUFFIX = "-home"
"""Ends the names of runs made with home claims (``--home``)."""
PREPARED_SUFFIX = "-prepared"
"""Follows :data:`HOME_SUFFIX` in the names of runs whose operated variants' homes were prepared
(``--prepared-homes``)."""
ALL_SUFFIX = "-all"
"""Follows :data:`PREPARED_SUFFIX` when KubeSpawner's homes were prepared too (``--prepare-kubespawner``)."""
PREPARED_NOTE = ("prepared before the run for jupyternetes and spawner only (bare and KubeSpawner create "
                 "theirs at spawn time)")
"""How ``spawn.md`` titles a ``--prepared-homes`` run, after "with home claims"."""
PREPARED_ALL_NOTE = ("prepared before the run for jupyternetes and spawner (prepare requests) and for KubeSpawner "
                     "too (its own claims, created and Bound: its create at spawn is answered AlreadyExists); "
                     "only bare creates its claims at spawn time")
"""How ``spawn.md`` titles a ``--prepared-homes --prepare-kubespawner`` run, after "with home claims"."""


def suffix(home: bool = False, prepared: bool = False, kubespawner: bool = False) -> str:
    """What home claims add to a run's name: :data:`HOME_SUFFIX`, then :data:`PREPARED_SUFFIX` if the
    operated variants' were prepared, then :data:`ALL_SUFFIX` if KubeSpawner's were too."""
    return ((HOME_SUFFIX if home or prepared else "") + (PREPARED_SUFFIX if prepared else "")
            + (ALL_SUFFIX if prepared and kubespawner else ""))


def run_name(scenario: str, n: int, home: bool = False, prepared: bool = False, kubespawner: bool = False) -> str:
    """A run's name (and file name): the scenario, a burst's size unless it is the default 1,000,
    and the :func:`suffix` of its home claims."""
    name = f"burst{n}" if scenario == "burst" and n != 1000 else scenario
    return name + suffix(home, prepared, kubespawner)


def summary_of(args: argparse.Namespace, raw: dict[str, Any], load: tuple[float, ...]) -> dict[str, Any]:
    spawns: dict[str, list[Spawn]] = raw["spawns"]
    prepared = bool(getattr(args, "prepared_homes", False))
    kubespawner = prepared and bool(getattr(args, "prepare_kubespawner", False))
    results = {v: summarize(s) for v, s in spawns.items()}
    ratios: dict[str, dict[str, float]] = {}
    for v, r in results.items():
        variant, _, stage = v.partition("@")
        base = results.get(BARE + (f"@{stage}" if stage else ""), {})
        if variant == BARE or "latency" not in r or "latency" not in base:
            continue
        ratios[v] = {q: r["latency"][q] / base["latency"][q] for q in ("p50", "p90", "p99")}
        ratios[v]["p50_minus_bare_ms"] = 1000 * (r["latency"]["p50"] - base["latency"]["p50"])
        ratios[v]["all_done"] = r["all_done_seconds"] / base["all_done_seconds"]
    return {
        "benchmark": "spawn", "scenario": args.scenario,
        "run": run_name(args.scenario, args.n, args.home, prepared, kubespawner),
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "machine": platform.machine(), "cpus": os.cpu_count(),
                    "loadavg_before": load, "loadavg_after": os.getloadavg()},
        "versions": {"python": platform.python_version(), **{p: package_version(p) for p in (
            "jupyternetes-operator", "jupyterhub", "jupyterhub-kubespawner", "kubernetes_asyncio")}},
        "parameters": {"n": args.n, "concurrency": args.concurrency if args.scenario == "burst" else 1,
                       **({"rate": args.rate, "duration": args.duration} if args.scenario == "sustained" else {}),
                       **({"live": args.live} if args.scenario == "scale" else {}),
                       "variants": list(args.variants), "home": args.home,
                       "prepared_homes": prepared, "prepared_kubespawner": kubespawner,
                       "cluster": str(args.kubeconfig or "local control plane"),
                       "timeout": args.timeout, "idle_seconds": args.idle, "operator_args": args.operator_arg,
                       "operator_commit": args.operator_commit},
        "results": results, "ratios_vs_bare": ratios, "operator": {**raw["operator"], "windows": raw["windows"]},
        "watch_lines": raw["watch_lines"],
        "spawns": {v: [{"key": s.key, "error": s.error, "phases": phases(s.marks)} for s in ss]
                   for v, ss in spawns.items()},
    }


def plot(summary: dict[str, Any], spawns: dict[str, list[Spawn]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (cdf, parts, rate) = plt.subplots(1, 3, figsize=(16, 4.4))
    colors = {BARE: "tab:gray", JUPYTERNETES: "tab:blue", SPAWNER: "tab:orange", "kubespawner": "tab:green"}
    for v, ss in spawns.items():
        lat = sorted(1000 * s.latency for s in ss if s.latency is not None and s.error is None)
        if lat:
            cdf.step(lat, [(i + 1) / len(lat) for i in range(len(lat))], where="post", label=v, color=colors.get(v))
        times, counts = done_curve(ss)
        rate.step(times, counts, where="post", label=v, color=colors.get(v))
    cdf.set(xscale="log", xlabel="spawn latency, ms (client clock)", ylabel="fraction done", title="latency CDF")
    cdf.grid(alpha=0.3)
    cdf.legend()
    rate.set(xlabel="seconds since the first create", ylabel="spawns done", title="throughput over time")
    rate.grid(alpha=0.3)
    rate.legend()
    names = list(spawns)
    left = [0.0] * len(names)
    for mark in ORDER[1:]:
        widths = [1000 * summary["results"][v].get("breakdown_mean", {}).get(mark, 0.0) for v in names]
        if any(widths):
            parts.barh(names, widths, left=left, label=LABELS[mark])
            left = [a + b for a, b in zip(left, widths, strict=True)]
    parts.set(xlabel="mean ms spent reaching each mark", title="per-phase breakdown (from the create sent)")
    parts.invert_yaxis()
    parts.legend(fontsize=7)
    fig.suptitle(f"spawn latency, {summary['scenario']} n={summary['parameters']['n']}"
                 + (f", concurrency {summary['parameters']['concurrency']}" if summary["scenario"] == "burst" else "")
                 + (", with home claims" if summary["parameters"].get("home") else "")
                 + _prepared_title(summary["parameters"]))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _ms(x: float | None) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{1000 * x:,.0f}"


def _times(ratio: dict[str, float], key: str, variant: str) -> str:
    """A ratio to bare: 1.00 on bare's own row, ``-`` in a run without bare pods."""
    return "1.00" if variant == BARE else f"{ratio[key]:.2f}" if key in ratio else "-"


def _prepared_title(parameters: dict[str, Any]) -> str:
    """What the plot's title says of prepared homes."""
    if not parameters.get("prepared_homes"):
        return ""
    if parameters.get("prepared_kubespawner"):
        return ", prepared for jupyternetes, spawner and kubespawner (not bare)"
    return ", prepared for jupyternetes and spawner"


def _claims_note(summary: dict[str, Any]) -> str:
    """What the phase table says of claims already there when their spawn was sent (prepared homes)."""
    p = summary["parameters"]
    prepared = prepared_variants(bool(p.get("prepared_kubespawner"))) if p.get("prepared_homes") else ()
    before = {v: (r.get("claims_bound_before_sent", 0), r["done"]) for v, r in summary["results"].items()
              if r.get("claims_bound_before_sent") or v.partition("@")[0] in prepared}
    if not before:
        return ""
    counts = ", ".join(f"{v} {n}/{done}" for v, (n, done) in before.items())
    return ("A claim created or bound before its spawn's create was sent (a prepared home) was already there: "
            "0 ms, and not the operator's first sign of the spawn. Claims Bound before their spawn's create: "
            f"{counts}.")


def markdown(summaries: Sequence[dict[str, Any]]) -> str:
    """``spawn.md``: one table per scenario run, then the goals from every run together."""
    lines = ["# Spawn latency", ""]
    by_scenario: dict[str, Any] = {}
    operator: dict[str, Any] = {}
    for s in summaries:
        by_scenario[s.get("run", s["scenario"])] = s["results"]
        op = s["operator"]
        if s["scenario"] == "scale":
            operator["scale"] = {"live": s["parameters"]["live"], "rss_max_mb": op["rss_max_mb"],
                                 **op.get("idle_at_live", {})}
        operator["rss_max_mb"] = max(operator.get("rss_max_mb", 0), op["rss_max_mb"])
        operator["idle_cpu_percent"] = max(operator.get("idle_cpu_percent", 0), op["idle_cpu_percent"])
        p = s["parameters"]
        lines += [f"## {s.get('run', s['scenario'])}: n={p['n']}" + (f", concurrency {p['concurrency']}"
                                                        if s["scenario"] == "burst" else "")
                  + (", with home claims" if p.get("home") else "")
                  + (f", {PREPARED_ALL_NOTE if p.get('prepared_kubespawner') else PREPARED_NOTE}"
                     if p.get("prepared_homes") else "")
                  + f" ({s['when']}, load {s['machine']['loadavg_before'][0]:.1f})", "",
                  "| variant | done/n | p50 ms | p90 ms | p99 ms | max ms | p50 x bare | p99 x bare | "
                  "all done s | x bare | client API req/spawn | op CPU ms/spawn | op API req/spawn | "
                  "op reconciles/spawn | scheduler req | scheduler limiter ms/req |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        windows = op["windows"]
        for v, r in s["results"].items():
            lat, ratio = r.get("latency", {}), s["ratios_vs_bare"].get(v, {})
            variant, at, stage = v.partition("@")
            w = windows.get(v) or windows.get("all" + at + stage) or {}
            operated = variant in OPERATED
            per_spawn = w.get("cpu_ms_per_spawn") if operated else None
            reqs = w.get("api_requests_per_spawn") if operated else None
            spawned = w.get("operated_spawns") or 0
            recs = f"{w['instance_reconciles'] / spawned:.0f}" if operated and spawned and \
                "instance_reconciles" in w else "-"
            # Sequential runs interleave the variants: no all-done time.
            burst = s["scenario"] in ("burst", "sustained") or stage.endswith("burst")
            sent = (w.get("client_requests") or {}).get(variant)
            client = f"{sent / r['spawns']:.1f}" if sent is not None and r["spawns"] else "-"
            all_done = f"{r.get('all_done_seconds', math.nan):.1f}" if burst else "-"
            all_done_ratio = _times(ratio, "all_done", variant) if burst else "-"
            # The scheduler's, over the variant's window (a sequential run's is all variants').
            sched = w.get("scheduler_requests")
            waited = f"{1000 * w['scheduler_limiter_wait_seconds'] / sched:.0f}" if sched else "-"
            lines.append(
                f"| {v} | {r['done']}/{r['spawns']} | {_ms(lat.get('p50'))} | {_ms(lat.get('p90'))} | "
                f"{_ms(lat.get('p99'))} | {_ms(lat.get('max'))} | {_times(ratio, 'p50', variant)} | "
                f"{_times(ratio, 'p99', variant)} | {all_done} | {all_done_ratio} | {client} | "
                f"{'-' if per_spawn is None else f'{per_spawn:.1f}'} | "
                f"{'-' if reqs is None else f'{reqs:.1f}'} | {recs} | {'-' if sched is None else f'{sched:.0f}'} | "
                f"{waited} |")
        # A claim mark only where there are claims (--home): the other runs' tables stay as they were.
        marks = [m for m in ORDER[1:]
                 if m not in CLAIM_MARKS or any(m in r.get("phase_p50", {}) for r in s["results"].values())]
        lines += ["", "Median ms from the create sent to each mark (client clock):", "",
                  "| variant | " + " | ".join(LABELS[m] for m in marks) + " |",
                  "| --- |" + " --- |" * len(marks)]
        for v, r in s["results"].items():
            p50 = r.get("phase_p50", {})
            lines.append(f"| {v} | " + " | ".join(_ms(p50.get(m)) for m in marks) + " |")
        if note := _claims_note(s):
            lines += ["", note]
        lines += ["", f"Operator: peak RSS {op['rss_max_mb']:.0f} MB with {op['live_notebooks']} live notebooks, "
                  f"idle CPU {op['idle_cpu_percent']:.2f}% of a core.", ""]
    lines += ["## Goals", "", "| goal | status | measured | limit |", "| --- | --- | --- | --- |"]
    for name, g in goals(by_scenario, operator).items():
        lines.append(f"| {name} | {g['status']} | {g.get('measured', '-'):.4g} | {g.get('limit', '-'):.4g} |"
                     if "measured" in g else f"| {name} | {g['status']} | - | - |")
    return "\n".join(lines) + "\n"
