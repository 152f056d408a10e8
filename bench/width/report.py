"""A width run's outputs: ``width.json``, ``width.png`` and ``width.md`` (pure, apart from writing
the plot).

Stages: ``one`` (the sequential spawns while one namespace holds notebooks) and ``wide`` (the same
after ``namespaces`` x ``per_namespace`` more exist). Every figure is a comparison between the two
stages of the same run, so the machine's load of the day cancels as far as it can.
"""

from __future__ import annotations

import datetime
import math
import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import package_version
from ..spawn.phases import Spawn, summarize
from ..spawn.variants import BARE, JUPYTERNETES

ONE, WIDE = "one", "wide"
STAGES = (ONE, WIDE)
P50_TOLERANCE = 1.10
"""The goal: sequential p50 beside 1,000 namespaces within 10 % of the one-namespace run."""


def label(variant: str, stage: str) -> str:
    return f"{variant}@{stage}"


def per_unit(before: float, after: float, units: int) -> float | None:
    """``(after - before) / units`` (e.g. RSS bytes per namespace added); None without units."""
    return (after - before) / units if units > 0 else None


def p50(results: Mapping[str, Any], name: str) -> float | None:
    value = (results.get(name) or {}).get("latency", {}).get("p50")
    return None if value is None else float(value)


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def ratios(results: Mapping[str, Any]) -> dict[str, float | None]:
    """p50 at the wide stage over p50 at the one-namespace stage, per variant, and jupyternetes' over
    bare's (the share of a slowdown the machine's load does not explain)."""
    out = {v: ratio(p50(results, label(v, WIDE)), p50(results, label(v, ONE))) for v in (JUPYTERNETES, BARE)}
    out["jupyternetes_over_bare"] = ratio(out[JUPYTERNETES], out[BARE])
    return out


def goals(stages: Mapping[str, Mapping[str, Any]], r: Mapping[str, float | None]) -> dict[str, dict[str, Any]]:
    """Met or not, with what was measured."""
    one, wide = stages[ONE], stages[WIDE]
    conn_one, conn_wide = one["connections"]["min"], wide["connections"]["min"]
    w_one, w_wide = one.get("operator_watches_apiserver"), wide.get("operator_watches_apiserver")
    ns_one = one["apiserver_watches"].get("scope=namespace", 0)
    ns_wide = wide["apiserver_watches"].get("scope=namespace", 0)
    p, q = r.get(JUPYTERNETES), r.get("jupyternetes_over_bare")
    return {
        "operator's connections constant, one per informer (/proc)": {
            "met": conn_wide == conn_one == len(one.get("operator_informers", ())),
            "measured": f"{conn_one} at 1 namespace, {conn_wide} at {wide['namespaces']:,} "
                        f"({len(one.get('operator_informers', ()))} informers)"},
        "operator's WATCHes constant (API server)": {"met": w_one == w_wide,
                                                     "measured": f"{w_one} at 1 namespace, {w_wide} at "
                                                                 f"{wide['namespaces']:,}"},
        "no namespace-scoped WATCH opened (API server)": {"met": ns_wide <= ns_one,
                                                          "measured": f"{ns_one} -> {ns_wide}"},
        "every instance Ready": {"met": wide["ready"] == wide["created"],
                                 "measured": f"{wide['ready']:,}/{wide['created']:,}"},
        f"sequential p50 within {100 * (P50_TOLERANCE - 1):.0f} % of one namespace": {
            "met": p is not None and p <= P50_TOLERANCE, "measured": "-" if p is None else f"{p:.2f}x"},
        # The cluster's own speed moves between the stages (bare pods, same run, same namespace):
        # this row takes that out and leaves what the width costs the operator.
        f"sequential p50 within {100 * (P50_TOLERANCE - 1):.0f} % of one namespace, relative to bare pods": {
            "met": q is not None and q <= P50_TOLERANCE,
            "measured": "-" if q is None else f"{q:.2f}x (bare pods {r.get(BARE) or 0:.2f}x)"},
    }


def summary_of(parameters: Mapping[str, Any], raw: Mapping[str, Any], stages: Mapping[str, Mapping[str, Any]],
               load: Sequence[float]) -> dict[str, Any]:
    spawns: dict[str, list[Spawn]] = raw["spawns"]
    results = {v: summarize(s) for v, s in spawns.items()}
    one, wide = stages[ONE], stages[WIDE]
    added_ns, added_inst = wide["namespaces"] - one["namespaces"], wide["instances"] - one["instances"]
    rss_ns = per_unit(one["rss_mb"] * 1e6, wide["rss_mb"] * 1e6, added_ns)
    rss_inst = per_unit(one["rss_mb"] * 1e6, wide["rss_mb"] * 1e6, added_inst)
    r = ratios(results)
    return {
        "benchmark": "width",
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "machine": platform.machine(), "cpus": os.cpu_count(),
                    "loadavg_before": list(load), "loadavg_after": list(os.getloadavg())},
        "versions": {"python": platform.python_version(),
                     **{p: package_version(p) for p in ("jupyternetes-operator", "kubernetes_asyncio")}},
        "parameters": dict(parameters),
        "stages": {k: dict(v) for k, v in stages.items()},
        "results": results,
        "p50_wide_over_one": r,
        "rss_per_namespace_kb": None if rss_ns is None else rss_ns / 1e3,
        "rss_per_instance_kb": None if rss_inst is None else rss_inst / 1e3,
        "goals": goals(stages, r),
        "operator": {**raw["operator"], "windows": raw["windows"]},
        "spawns": {v: [{"key": s.key, "error": s.error, "marks": dict(s.marks)} for s in ss]
                   for v, ss in spawns.items()},
    }


def _ms(x: float | None) -> str:
    return "-" if x is None or math.isnan(x) else f"{1000 * x:,.0f}"


def _x(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def markdown(s: Mapping[str, Any]) -> str:
    p, wide = s["parameters"], s["stages"][WIDE]
    load = s["machine"]["loadavg_before"][0], s["machine"]["loadavg_after"][0]
    lines = [
        "# Width: the operator in the all-namespaces mode across many namespaces", "",
        f"{p['namespaces']:,} namespaces x {p['per_namespace']} instances, {p['n']} sequential spawns per "
        f"variant and stage ({s['when']}, load {load[0]:.1f} before, {load[1]:.1f} after, "
        f"{s['machine']['cpus']} CPUs).", "",
        "| stage | namespaces with notebooks | live instances | operator RSS MB | idle CPU % | "
        "operator's informers (its /metrics) | operator conns to API server (min/max over idle, /proc) | "
        "operator WATCHes (API server: closed when it stopped) | API server WATCHes open (all clients) | "
        "of which namespace-scoped |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name in STAGES:
        st = s["stages"][name]
        w = st["apiserver_watches"]
        lines.append(f"| {name} | {st['namespaces']:,} | {st['instances']:,} | {st['rss_mb']:.0f} | "
                     f"{st['idle_cpu_percent']:.2f} | {len(st.get('operator_informers', ()))} | "
                     f"{st['connections']['min']}/{st['connections']['max']} | "
                     f"{st.get('operator_watches_apiserver', '-')} | "
                     f"{w.get('total', 0)} | {w.get('scope=namespace', 0)} |")
    per_ns, per_inst = s["rss_per_namespace_kb"], s["rss_per_instance_kb"]
    lines += ["", f"RSS per namespace added (with its {p['per_namespace']} instances and pods): "
              f"**{'-' if per_ns is None else f'{per_ns:.1f}'} KB** ({'-' if per_inst is None else f'{per_inst:.1f}'}"
              f" KB per instance). Populating took {wide.get('populate_seconds', math.nan):.0f} s.", "",
              "| variant@stage | done/n | p50 ms | p90 ms | p99 ms | max ms |",
              "| --- | --- | --- | --- | --- | --- |"]
    for v, r in s["results"].items():
        lat = r.get("latency", {})
        lines.append(f"| {v} | {r['done']}/{r['spawns']} | {_ms(lat.get('p50'))} | {_ms(lat.get('p90'))} | "
                     f"{_ms(lat.get('p99'))} | {_ms(lat.get('max'))} |")
    r = s["p50_wide_over_one"]
    lines += ["", f"p50 wide / one: jupyternetes **{_x(r.get(JUPYTERNETES))}**, bare pods (control) "
              f"{_x(r.get(BARE))}, jupyternetes relative to bare {_x(r.get('jupyternetes_over_bare'))}.", "",
              "| goal | status | measured |", "| --- | --- | --- |"]
    for name, g in s["goals"].items():
        lines.append(f"| {name} | {'met' if g['met'] else '**not met**'} | {g['measured']} |")
    return "\n".join(lines) + "\n"


def plot(s: Mapping[str, Any], spawns: Mapping[str, Sequence[Spawn]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (cdf, usage) = plt.subplots(1, 2, figsize=(14, 4.6))
    colors = {BARE: "tab:gray", JUPYTERNETES: "tab:blue"}
    for v, ss in spawns.items():
        variant, _, stage = v.partition("@")
        lat = sorted(1000 * x.latency for x in ss if x.latency is not None and x.error is None)
        if lat:
            cdf.step(lat, [(i + 1) / len(lat) for i in range(len(lat))], where="post", label=v,
                     color=colors.get(variant), linestyle="-" if stage == WIDE else "--")
    cdf.set(xscale="log", xlabel="sequential spawn latency, ms (client clock)", ylabel="fraction done",
            title="one namespace (dashed) vs wide (solid)")
    cdf.grid(alpha=0.3)
    cdf.legend()
    rss = s["operator"].get("rss_samples_mb") or []
    usage.plot([t for t, _ in rss], [m for _, m in rss], color="tab:blue", label="operator RSS, MB")
    usage.set(xlabel="seconds since the operator started", ylabel="RSS, MB",
              title="operator RSS and its connections to the API server")
    usage.grid(alpha=0.3)
    conns = s["operator"].get("connection_samples") or []
    twin = usage.twinx()
    twin.step([t for t, _ in conns], [c for _, c in conns], where="post", color="tab:red", label="connections")
    twin.set_ylabel("established connections to the API server", color="tab:red")
    twin.set_ylim(0, max([c for _, c in conns] + [1]) * 1.5)
    for name in STAGES:
        at = s["stages"][name].get("measured_at")
        if at is not None:
            usage.axvline(at, color="black", alpha=0.3, linestyle=":")
            usage.annotate(f"{name}: {s['stages'][name]['namespaces']:,} ns", (at, usage.get_ylim()[0]),
                           rotation=90, fontsize=8, va="bottom")
    p = s["parameters"]
    fig.suptitle(f"width: {p['namespaces']:,} namespaces x {p['per_namespace']} instances, all-namespaces mode")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
