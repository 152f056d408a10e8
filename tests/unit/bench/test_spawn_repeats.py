"""Repeated runs: median and spread per label and variant, KubeSpawner ratios only where it ran."""

from typing import Any

from bench.spawn.repeats import figures, spread, table


def run(p50: float, kube_p50: float | None = None, cpu: float = 4.0) -> dict[str, Any]:
    results: dict[str, Any] = {"bare": {"latency": {"p50": 1.0, "p99": 2.0}},
                               "spawner": {"latency": {"p50": p50, "p99": 2 * p50}}}
    if kube_p50 is not None:
        results["kubespawner"] = {"latency": {"p50": kube_p50, "p99": 4.0}}
    return {"results": results,
            "ratios_vs_bare": {"spawner": {"p50": p50, "p99": p50, "all_done": 1.1, "p50_minus_bare_ms": 7.5}},
            "operator": {"windows": {"spawner": {"cpu_ms_per_spawn": cpu, "api_requests_per_spawn": 4.0,
                                                 "instance_reconciles": 900, "operated_spawns": 200}}}}


def test_figures_take_ratios_from_the_same_run() -> None:
    f = figures(run(1.5, kube_p50=1.0))
    assert f["spawner"]["p50 x KubeSpawner"] == 1.5
    assert f["spawner"]["p99 x KubeSpawner"] == 0.75
    assert f["spawner"]["op reconciles/spawn"] == 4.5
    assert f["spawner"]["p50 - bare ms"] == 7.5
    assert f["kubespawner"]["p50 x KubeSpawner"] is None  # not against itself
    assert "bare" not in f
    assert figures(run(1.5))["spawner"]["p50 x KubeSpawner"] is None  # KubeSpawner did not run


def test_spread_is_the_median_and_the_range() -> None:
    assert spread([1.4, None, 1.2, 2.0]) == "1.40 [1.20-2.00]"
    assert spread([1.0]) == "1.00"
    assert spread([None]) == "-"


def test_the_table_has_a_row_per_label_and_variant() -> None:
    text = table({"A": [run(1.6), run(1.8), run(1.5)], "B": [run(1.3, cpu=3.0)]})
    rows = [line for line in text.splitlines() if line.startswith("| A") or line.startswith("| B")]
    assert rows[0].startswith("| A | spawner | 3 | 1.60 [1.50-1.80] |")
    assert rows[1].startswith("| B | spawner | 1 | 1.30 |")
    assert "| 3.00 |" in rows[1]
