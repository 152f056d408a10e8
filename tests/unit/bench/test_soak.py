import math
from dataclasses import replace

import pytest

from bench.soak.analysis import (
    MB,
    Limits,
    Sample,
    Spawn,
    api_errors,
    edges,
    errors_between,
    evaluate,
    slope,
    steady,
    time_to_ready,
    tolerated_by,
)
from bench.soak.report import markdown, summary


def series(minutes: float, rss: float = 100 * MB, rss_per_min: float = 0.0, fds: int = 50, fds_per_min: float = 0.0,
           tasks: int = 60, tasks_per_min: float = 0.0, interval: float = 10.0) -> list[Sample]:
    """Samples every ``interval`` s from t=0 to ``minutes``, each quantity growing linearly."""
    out = []
    for k in range(int(minutes * 60 / interval) + 1):
        t = k * interval
        m = t / 60
        out.append(Sample(t=t, rss=int(rss + rss_per_min * m), fds=int(fds + fds_per_min * m),
                          tasks=int(tasks + tasks_per_min * m), queue_depth=0.0, watch_restarts=0.0,
                          api_errors={"409 POST": 3.0}, live=2000, spawned=k, failed=0))
    return out


def ready(n: int) -> list[Spawn]:
    return [Spawn(f"s{i}", "spawner" if i % 10 == 9 else "instance", float(i), 1.0 + i / n) for i in range(n)]


def goals(evaluation: object) -> dict[str, bool]:
    return {g.name: g.met for g in evaluation.goals}  # type: ignore[attr-defined]


# -- slope --------------------------------------------------------------------------------------

def test_slope_of_a_line_is_exact() -> None:
    xs = [0.0, 1.0, 2.0, 3.0, 4.0]
    assert slope(xs, [3 + 2 * x for x in xs]) == pytest.approx(2.0)
    assert slope(xs, [7.0] * 5) == 0.0


def test_slope_is_least_squares_through_noise() -> None:
    xs = [0.0, 1.0, 2.0, 3.0]
    assert slope(xs, [0.0, 2.0, 1.0, 3.0]) == pytest.approx(0.8)  # numpy.polyfit(xs, ys, 1)[0]


def test_slope_of_too_few_points_is_zero_and_lengths_must_match() -> None:
    assert slope([], []) == 0.0
    assert slope([1.0], [5.0]) == 0.0
    assert slope([2.0, 2.0], [1.0, 9.0]) == 0.0
    with pytest.raises(ValueError, match="length"):
        slope([1.0, 2.0], [1.0])


# -- windows ------------------------------------------------------------------------------------

def test_steady_keeps_the_last_window_and_never_the_fill() -> None:
    samples = [replace(s, t=s.t - 60) for s in series(3)]  # t from -60 to 120
    assert [s.t for s in steady(samples, 60)] == [60, 70, 80, 90, 100, 110, 120]
    assert steady(samples, 1000)[0].t == 0  # the fill (t < 0) never counts
    assert steady([], 60) == []


def test_edges_average_each_end() -> None:
    samples = series(10, fds=10, fds_per_min=6)  # +1 per sample
    first, last = edges(samples, 60, "fds")
    assert first == pytest.approx(13)  # 10..16
    assert last == pytest.approx(67)  # 64..70
    assert all(math.isnan(v) for v in edges([], 60, "fds"))


# -- metrics text ---------------------------------------------------------------------------------

METRICS = """# HELP rest_client_requests_total Number of HTTP requests
rest_client_requests_total{code="200",method="GET"} 45.0
rest_client_requests_total{code="404",method="GET"} 1.0
rest_client_requests_total{code="201",method="POST"} 797.0
rest_client_requests_total{code="409",method="POST"} 25.0
rest_client_requests_total{code="<error>",method="GET"} 2.0
rest_client_requests_total{code="404",method="DELETE"} 3.0
rest_client_requests_created{code="404",method="GET"} 1.7e9
"""


def test_api_errors_are_the_non_2xx_by_code_and_method() -> None:
    assert api_errors(METRICS) == {"404 GET": 1.0, "409 POST": 25.0, "<error> GET": 2.0, "404 DELETE": 3.0}
    assert api_errors("") == {}


def test_errors_between_counts_only_what_grew() -> None:
    first, last = series(1)[0], series(1)[-1]
    first = replace(first, api_errors={"404 GET": 1.0, "409 POST": 2.0})
    last = replace(last, api_errors={"404 GET": 1.0, "409 POST": 5.0, "500 PATCH": 1.0})
    assert errors_between(first, last) == {"409 POST": 3.0, "500 PATCH": 1.0}


def test_time_to_ready_skips_failures() -> None:
    spawns = [Spawn("a", "instance", 0, 1.0), Spawn("b", "instance", 0, 3.0), Spawn("c", "instance", 0, None, "x")]
    assert time_to_ready(spawns) == {"p50": 2.0, "p99": pytest.approx(2.98), "max": 3.0}
    assert math.isnan(time_to_ready([])["p50"])


# -- goals --------------------------------------------------------------------------------------

def test_a_flat_hour_meets_every_goal() -> None:
    evaluation = evaluate(series(60), ready(100), window=2400)
    assert evaluation.met, evaluation.missed()
    f = evaluation.figures
    assert f["window_minutes"] == 40
    assert f["rss_slope_mb_per_10min"] == 0
    assert f["api_errors"] == {}
    assert f["api_tolerated"] == {}
    assert f["spawns_by_via"] == {"instance": 90, "spawner": 10}


def test_a_slow_rss_leak_misses_the_rss_goal_only() -> None:
    evaluation = evaluate(series(60, rss_per_min=0.15 * MB), ready(10), window=2400)  # 1.5 MB/10 min
    assert goals(evaluation) == {"RSS flat": False, "fds flat": True, "tasks flat": True, "every spawn Ready": True,
                                 "no API errors": True}
    assert evaluation.figures["rss_slope_mb_per_10min"] == pytest.approx(1.5, abs=0.01)


def test_growth_before_the_window_does_not_count() -> None:
    early = series(20, rss_per_min=5 * MB)  # growing to its working size for 20 minutes...
    flat = [replace(s, t=s.t + 1200 + 10, rss=early[-1].rss) for s in series(40)]  # ...then flat for 40
    assert evaluate(early + flat, ready(10), window=2400).met


def test_leaked_fds_and_tasks_miss_their_goals() -> None:
    leaking = evaluate(series(60, fds_per_min=1, tasks_per_min=1), ready(10), window=2400)  # +39 over the window
    assert goals(leaking)["fds flat"] is False
    assert goals(leaking)["tasks flat"] is False
    assert goals(evaluate(series(60, fds_per_min=0.2), ready(10), window=2400))["fds flat"] is True  # +8 <= 10


def test_a_lost_spawn_misses_its_goal_and_is_named() -> None:
    spawns = [*ready(10), Spawn("lost", "spawner", 5.0, None, "TimeoutError: ")]
    evaluation = evaluate(series(60), spawns, window=2400)
    assert [g.name for g in evaluation.missed()] == ["every spawn Ready"]
    assert evaluation.figures["failures"] == ["lost: TimeoutError: "]


def test_no_spawn_at_all_is_not_success() -> None:
    assert goals(evaluate(series(60), [], window=2400))["every spawn Ready"] is False


def test_tolerated_by_code_and_method_or_code_alone() -> None:
    assert tolerated_by("409 POST", ("409 POST", "404"))
    assert tolerated_by("404 DELETE", ("409 POST", "404"))
    assert not tolerated_by("409 PUT", ("409 POST", "404"))
    assert not tolerated_by("<error> GET", ("409 POST", "404"))


def test_api_errors_miss_unless_tolerated_and_client_errors_always_miss() -> None:
    samples = series(60)
    samples[-1] = replace(samples[-1], api_errors={"409 POST": 10.0, "404 PATCH": 1.0, "404 GET": 2.0,
                                                   "409 PATCH": 1.0, "500 PATCH": 2.0})
    evaluation = evaluate(samples, ready(10), window=2400)
    assert [g.name for g in evaluation.missed()] == ["no API errors"]
    assert evaluation.figures["api_errors"] == {"409 PATCH": 1.0, "500 PATCH": 2.0}
    assert evaluation.figures["api_tolerated"] == {"404 GET": 2.0, "404 PATCH": 1.0, "409 POST": 7.0}
    samples[-1] = replace(samples[-1], api_errors={"409 POST": 10.0})
    assert evaluate(samples, ready(10), window=2400).met
    assert not evaluate(samples, ready(10), window=2400, limits=Limits(tolerated=())).met
    assert not evaluate(series(60), ready(10), window=2400, client_errors=1).met


def test_too_few_samples_is_a_missed_goal() -> None:
    evaluation = evaluate(series(0.2), ready(1), window=2400)
    assert not evaluation.met
    assert evaluation.missed()[0].name == "enough samples"


def test_the_markdown_names_every_goal_and_the_score() -> None:
    evaluation = evaluate(series(60, rss_per_min=0.15 * MB), ready(10), window=2400)
    params = {"rate": 5.0, "live": 2000, "duration": 3600.0}
    doc = summary(params, {}, series(60), ready(10), evaluation, {"operator_cpu_percent": 40.0})
    md = markdown(doc)
    assert "Goals met: **4/5**" in md
    assert "| RSS flat | +1.50 MB/10 min over the last 40 min | <= 1 MB/10 min | **no** |" in md
    assert "| spawns (Ready / all) | 10 / 10" in md
    assert "40% of a core" in md
