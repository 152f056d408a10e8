import math
from typing import Any

import pytest

from bench.spawn.cluster import bare_pod
from bench.spawn.phases import (
    ACKED,
    DONE,
    OPERATOR_SAW,
    POD_CREATED,
    READY,
    RUNNING,
    SCHEDULED,
    SENT,
    Marks,
    Spawn,
    breakdown,
    done_curve,
    goals,
    instance_marks,
    percentile,
    phases,
    pod_marks,
    summarize,
)
from jupyternetes_operator.testing.operator import metric_sum, parse_proc


def test_percentile_interpolates_like_numpy() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(values, 0) == 1.0
    assert percentile(values, 50) == 3.0
    assert percentile(values, 100) == 5.0
    assert percentile(values, 25) == 2.0
    assert percentile([1.0, 2.0], 99) == pytest.approx(1.99)
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError, match=r"within 0\.\.100"):
        percentile([1.0], 101)


def pod(phase: str = "Pending", node: str | None = None, ip: str | None = None,
        instance: str | None = None) -> dict[str, Any]:
    labels = {"jupyternetes.io/instance": instance} if instance else {}
    return {"metadata": {"name": "pod-x", "labels": labels}, "spec": {"nodeName": node} if node else {},
            "status": {"phase": phase, **({"podIP": ip} if ip else {})}}


def test_pod_marks() -> None:
    assert pod_marks(pod()) == {POD_CREATED}
    assert pod_marks(pod(node="n1")) == {POD_CREATED, SCHEDULED}
    assert pod_marks({"metadata": {}, "status": {"conditions": [{"type": "PodScheduled", "status": "True"}]}}) \
        == {POD_CREATED, SCHEDULED}
    assert pod_marks(pod("Running", "n1")) == {POD_CREATED, SCHEDULED}  # no IP yet
    assert pod_marks(pod("Running", "n1", "10.0.0.1")) == {POD_CREATED, SCHEDULED, RUNNING}


def test_instance_marks() -> None:
    assert instance_marks({"metadata": {"name": "i"}}) == set()
    assert instance_marks({"status": {"phase": "Provisioning"}}) == {OPERATOR_SAW}
    ready = {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    assert instance_marks(ready) == {OPERATOR_SAW, READY}
    assert instance_marks({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}) == {OPERATOR_SAW}


def test_marks_keep_the_first_observation_and_key_pods_by_instance() -> None:
    marks = Marks()
    assert marks.pod_event(pod(instance="jupyter-a"), 1.0) == [("jupyter-a", POD_CREATED)]
    assert marks.pod_event(pod(node="n", instance="jupyter-a"), 2.0) == [("jupyter-a", SCHEDULED)]
    assert marks.pod_event(pod("Running", "n", "10.0.0.1", "jupyter-a"), 3.0) == [("jupyter-a", RUNNING)]
    assert marks.pod_event(pod("Running", "n", "10.0.0.1", "jupyter-a"), 9.0) == []
    assert marks.pod_event(pod(), 4.0) == [("pod-x", POD_CREATED)]  # a bare pod: its own name
    assert marks.times["jupyter-a"] == {POD_CREATED: 1.0, SCHEDULED: 2.0, RUNNING: 3.0}


def test_phases_and_breakdown() -> None:
    marks = {SENT: 10.0, ACKED: 10.01, POD_CREATED: 10.05, OPERATOR_SAW: 10.08, SCHEDULED: 10.1,
             RUNNING: 10.2, READY: 10.25, DONE: 10.25}
    since = phases(marks)
    assert since[OPERATOR_SAW] == pytest.approx(0.05)  # the pod showed the operator at work first
    assert since[DONE] == pytest.approx(0.25)
    parts = breakdown(marks)
    assert all(v >= 0 for v in parts.values())
    assert sum(parts.values()) == pytest.approx(0.25)
    assert parts[POD_CREATED] == pytest.approx(0.0)
    assert phases({ACKED: 1.0}) == {}


def spawn(key: str, sent: float, latency: float | None, error: str | None = None) -> Spawn:
    marks = {SENT: sent, ACKED: sent + 0.001}
    if latency is not None:
        marks[DONE] = sent + latency
    return Spawn(key, marks, error)


def test_summarize_and_done_curve() -> None:
    spawns = [spawn("a", 0.0, 0.1), spawn("b", 0.0, 0.3), spawn("c", 0.1, 0.2), spawn("d", 0.0, None, "Timeout")]
    s = summarize(spawns)
    assert (s["spawns"], s["done"], s["errors"]) == (4, 3, 1)
    assert s["latency"]["p50"] == pytest.approx(0.2)
    assert s["all_done_seconds"] == pytest.approx(0.3)
    assert s["throughput_per_second"] == pytest.approx(10.0)
    times, counts = done_curve(spawns)
    assert times == pytest.approx([0.1, 0.3, 0.3])
    assert counts == [1, 2, 3]
    assert summarize([spawn("x", 0, None, "boom")]) == {"spawns": 1, "done": 0, "errors": 1}


def test_goals() -> None:
    results: dict[str, Any] = {"sequential": {"bare": {"latency": {"p50": 0.100, "p99": 0.200}},
                              "jupyternetes": {"latency": {"p50": 0.110, "p99": 0.300}}},
               "burst": {"bare": {"all_done_seconds": 10.0}, "jupyternetes": {"all_done_seconds": 12.0}}}
    g = goals(results, {"rss_max_mb": 150.0, "idle_cpu_percent": 2.0})
    assert g["sequential p50: jupyternetes <= bare + 15 ms"]["status"] == "met"
    assert g["sequential p99: jupyternetes <= 1.3 x bare"]["status"] == "not met"
    assert g["burst all-Ready: jupyternetes <= 1.3 x bare"]["status"] == "met"
    assert g["spawner p50 at a 200 burst <= 0.5 x KubeSpawner"]["status"] == "not measured"
    assert g["operator RSS <= 200 MB (max seen)"]["status"] == "met"
    assert g["operator idle CPU < 1% of a core"]["status"] == "not met"
    assert not any(name.startswith("scale: operator") for name in g)


def test_goals_of_the_large_runs() -> None:
    results: dict[str, Any] = {
        "burst5000": {"bare": {"all_done_seconds": 100.0}, "jupyternetes": {"all_done_seconds": 140.0, "errors": 1}},
        "burst200": {"spawner": {"latency": {"p50": 1.0, "p99": 2.0}},
                     "kubespawner": {"latency": {"p50": 3.0, "p99": 3.0}}},
        "scale": {"jupyternetes@empty": {"latency": {"p50": 0.030}}, "jupyternetes@live": {"latency": {"p50": 0.032}}},
    }
    g = goals(results, {"scale": {"live": 10000, "rss_max_mb": 250.0, "idle_cpu_percent": 0.2}})
    assert g["burst 5,000 all-Ready: jupyternetes <= 1.5 x bare, no failures"]["status"] == "not met"  # 1 error
    assert g["spawner p50 at a 200 burst <= 0.5 x KubeSpawner"]["status"] == "met"
    assert g["spawner p99 at a 200 burst <= 0.5 x KubeSpawner"]["status"] == "not met"
    assert g["scale: sequential p50 beside the live notebooks <= 1.1 x empty"]["status"] == "met"
    assert g["scale: operator RSS <= 200 MB with 10,000 live"]["status"] == "not met"
    assert g["scale: idle CPU < 1% of a core with 10,000 live"]["status"] == "met"


def test_parse_proc_and_metrics() -> None:
    stat = "1234 (python -m x) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 4 0 100"
    status = "Name:\tpython\nVmRSS:\t  51200 kB\nThreads:\t4\n"
    assert parse_proc(stat, status, ticks=100) == (51200 * 1024, 3.0)
    text = ('# HELP rest_client_requests_total x\nrest_client_requests_total{code="200",method="GET"} 3.0\n'
            'rest_client_requests_total{code="201",method="POST"} 2.0\nrest_client_requests_created 1.7e9\n')
    assert metric_sum(text, "rest_client_requests_total") == 5.0


def test_bare_pod_drops_owner_and_server_fields() -> None:
    rendered = {"metadata": {"name": "jupyter-a-notebook", "uid": "u", "resourceVersion": "5",
                             "labels": {"jupyternetes.io/instance": "jupyter-a", "app": "x"},
                             "ownerReferences": [{"uid": "u"}], "annotations": {"a": "b"}},
                "spec": {"nodeName": "n1", "containers": [{"name": "c"}]}, "status": {"phase": "Running"}}
    pod = bare_pod(rendered)
    assert pod == {"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {"app": "x"}, "annotations": {"a": "b"}},
                   "spec": {"containers": [{"name": "c"}]}}
