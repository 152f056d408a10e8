"""Median and spread over repeated runs of one scenario (issue 18 asks each goal's ratios from 3 runs).

``python -m bench.spawn.repeats LABEL=DIR[,DIR...] [LABEL=DIR...]`` reads the one ``spawn-*.json``
in each ``DIR`` (a ``bench.spawn --out`` directory), and prints a markdown table: per label and
variant, the median ``[min-max]`` of p50 (also minus bare's), p99 and all-Ready times bare pods
in the same run, p50 and p99 against KubeSpawner in the same run (when it ran), and the
operator's CPU, API requests and instance reconciles per spawn. Labels are for paired code: run
``A`` and ``B`` interleaved, one label each.
"""

from __future__ import annotations

import json
import statistics
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .variants import BARE, KUBESPAWNER

COLUMNS = ("p50 x bare", "p50 - bare ms", "p99 x bare", "all Ready x bare", "p50 x KubeSpawner", "p99 x KubeSpawner",
           "op CPU ms/spawn", "op API req/spawn", "op reconciles/spawn")


def figures(run: Mapping[str, Any]) -> dict[str, dict[str, float | None]]:
    """Per variant but bare, the figures of ``COLUMNS`` from one ``spawn-*.json``."""
    results, ratios = run["results"], run["ratios_vs_bare"]
    windows = (run.get("operator") or {}).get("windows") or {}
    kube = (results.get(KUBESPAWNER) or {}).get("latency") or {}
    out: dict[str, dict[str, float | None]] = {}
    for variant, result in results.items():
        if variant == BARE:
            continue
        ratio, latency, window = ratios.get(variant) or {}, result.get("latency") or {}, windows.get(variant) or {}
        spawns = window.get("operated_spawns") or 0
        reconciles = window.get("instance_reconciles")
        out[variant] = dict(zip(COLUMNS, (
            ratio.get("p50"), ratio.get("p50_minus_bare_ms"), ratio.get("p99"), ratio.get("all_done"),
            _over(latency.get("p50"), kube.get("p50")) if variant != KUBESPAWNER else None,
            _over(latency.get("p99"), kube.get("p99")) if variant != KUBESPAWNER else None,
            window.get("cpu_ms_per_spawn"), window.get("api_requests_per_spawn"),
            reconciles / spawns if spawns and reconciles is not None else None), strict=True))
    return out


def _over(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def spread(values: Iterable[float | None]) -> str:
    """``median [min-max]`` of the values given (None skipped); ``-`` when there are none."""
    xs = sorted(v for v in values if v is not None)
    if not xs:
        return "-"
    return f"{statistics.median(xs):.2f} [{xs[0]:.2f}-{xs[-1]:.2f}]" if len(xs) > 1 else f"{xs[0]:.2f}"


def table(runs: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """The markdown table of ``runs`` (label -> its runs' JSON), one row per label and variant."""
    lines = ["| code | variant | runs | " + " | ".join(COLUMNS) + " |", "| --- " * (3 + len(COLUMNS)) + "|"]
    for label, group in runs.items():
        each = [figures(run) for run in group]
        for variant in dict.fromkeys(v for f in each for v in f):
            cells = [spread(f[variant][c] for f in each if variant in f) for c in COLUMNS]
            lines.append(f"| {label} | {variant} | {sum(variant in f for f in each)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    runs: dict[str, list[dict[str, Any]]] = {}
    for arg in argv:
        label, _, dirs = arg.partition("=")
        for d in dirs.split(","):
            found = sorted(Path(d).glob("spawn-*.json"))
            if len(found) != 1:
                print(f"{d}: expected one spawn-*.json, found {len(found)}", file=sys.stderr)
                return 2
            runs.setdefault(label, []).append(json.loads(found[0].read_text()))
    print(table(runs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
