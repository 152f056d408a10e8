"""Each machinery subsystem's metrics: off by default (nothing declared, nothing recorded), and
recording under the names and labels dashboards know when built on a registry."""

from __future__ import annotations

import anyio
import prometheus_client
import pytest
from prometheus_client import CollectorRegistry

from jupyternetes_operator.machinery.controller import Controller, TerminalError
from jupyternetes_operator.machinery.leader import LeaderElectionConfig, LeaderElector
from jupyternetes_operator.machinery.metrics import (
    ControllerMetrics,
    ControllerSeries,
    InformerMetrics,
    InformerSeries,
    LeaderMetrics,
    LeaseSeries,
    QueueSeries,
    WorkQueueMetrics,
)
from jupyternetes_operator.machinery.workqueue import WorkQueue

from .fakeclock import FakeClock
from .test_leader import FakeLock


def names(registry: CollectorRegistry) -> set[str]:
    return {family.name for family in registry.collect()}


def test_without_a_registry_nothing_is_declared_and_every_call_is_a_no_op() -> None:
    before = names(prometheus_client.REGISTRY)
    queue = WorkQueueMetrics().queue("q")
    controller = ControllerMetrics().controller("c")
    informer = InformerMetrics(namespace="x").informer("pods")
    lease = LeaderMetrics().lease("lease")
    assert (type(queue), type(controller), type(informer), type(lease)) == (
        QueueSeries, ControllerSeries, InformerSeries, LeaseSeries)
    queue.added(), queue.depth(1), queue.waited(0.1), queue.worked(0.1), queue.in_flight(1.0, 1.0), queue.retried()
    controller.workers(2), controller.active(1), controller.reconciled("success"), controller.took(0.1)
    controller.failed(terminal=True, panic=True)
    informer.event("ADDED"), informer.relisted("initial"), informer.watch_restarted("error")
    informer.objects(3), informer.synced()
    lease.leading(True)
    assert names(prometheus_client.REGISTRY) == before


async def test_the_default_queue_and_controller_run_without_metrics() -> None:
    clock = FakeClock()
    queue: WorkQueue[str] = WorkQueue("q", clock=clock)
    seen: list[str] = []

    async def reconcile(key: str) -> None:
        seen.append(key)

    controller = Controller("c", reconcile, queue, workers=1, clock=clock)
    await controller.process("a")
    assert seen == ["a"]


def test_work_queue_metrics_record_per_queue_name() -> None:
    registry = CollectorRegistry()
    metrics = WorkQueueMetrics(registry)
    one, two = metrics.queue("one"), metrics.queue("two")
    one.added(), one.added(), two.added()
    one.depth(2), one.waited(0.5), one.worked(1.5), one.in_flight(3.0, 2.0), one.retried()
    value = registry.get_sample_value
    assert value("workqueue_adds_total", {"name": "one"}) == 2
    assert value("workqueue_adds_total", {"name": "two"}) == 1
    assert value("workqueue_depth", {"name": "one"}) == 2
    assert value("workqueue_queue_duration_seconds_sum", {"name": "one"}) == 0.5
    assert value("workqueue_work_duration_seconds_sum", {"name": "one"}) == 1.5
    assert value("workqueue_unfinished_work_seconds", {"name": "one"}) == 3.0
    assert value("workqueue_longest_running_processor_seconds", {"name": "one"}) == 2.0
    assert value("workqueue_retries_total", {"name": "one"}) == 1


async def test_controller_metrics_record_outcomes_errors_and_workers() -> None:
    registry = CollectorRegistry()
    clock = FakeClock()

    async def reconcile(key: str) -> None:
        if key == "terminal":
            raise TerminalError("bad input")
        if key == "bug":
            raise KeyError(key)

    metrics = ControllerMetrics(registry)
    controller = Controller("c", reconcile, WorkQueue("q", clock=clock), workers=3, metrics=metrics, clock=clock)
    for key in ("ok", "terminal", "bug"):
        await controller.process(key)
    value = registry.get_sample_value
    c = {"controller": "c"}
    assert value("controller_runtime_reconcile_total", {**c, "result": "success"}) == 1
    assert value("controller_runtime_reconcile_total", {**c, "result": "error"}) == 2
    assert value("controller_runtime_reconcile_errors_total", c) == 2
    assert value("controller_runtime_terminal_reconcile_errors_total", c) == 1
    assert value("controller_runtime_reconcile_panics_total", c) == 1
    assert value("controller_runtime_reconcile_time_seconds_count", c) == 3
    assert value("controller_runtime_active_workers", c) == 0
    metrics.controller("d").workers(3)
    assert value("controller_runtime_max_concurrent_reconciles", {"controller": "d"}) == 3


def test_informer_metrics_carry_the_given_prefix() -> None:
    registry = CollectorRegistry()
    series = InformerMetrics(registry, namespace="app").informer("pods")
    series.event("ADDED"), series.relisted("gone"), series.watch_restarted("stalled"), series.objects(4)
    series.synced()
    value = registry.get_sample_value
    assert value("app_informer_events_total", {"resource": "pods", "type": "ADDED"}) == 1
    assert value("app_informer_relists_total", {"resource": "pods", "reason": "gone"}) == 1
    assert value("app_informer_watch_restarts_total", {"resource": "pods", "reason": "stalled"}) == 1
    assert value("app_informer_objects", {"resource": "pods"}) == 4
    assert (value("app_informer_last_sync_timestamp_seconds", {"resource": "pods"}) or 0) > 0
    bare = CollectorRegistry()
    InformerMetrics(bare)  # no prefix: the bare names
    assert "informer_objects" in names(bare)


@pytest.mark.parametrize("leading", [True, False])
async def test_leader_metrics_follow_the_elector(leading: bool) -> None:
    registry = CollectorRegistry()
    lease = LeaderMetrics(registry).lease("lease")
    lease.leading(leading)
    assert registry.get_sample_value("leader_election_master_status", {"name": "lease"}) == (1 if leading else 0)


async def test_an_elector_without_metrics_leads() -> None:
    clock = FakeClock()
    elector = LeaderElector(LeaderElectionConfig("lease", "ns", "me"), FakeLock(), clock=clock, jitter=lambda: 0.0)
    done = anyio.Event()

    async def work() -> None:
        done.set()

    with anyio.fail_after(5):
        await elector.run(work)
    assert done.is_set()


@pytest.mark.parametrize("declare", [WorkQueueMetrics, ControllerMetrics, InformerMetrics, LeaderMetrics])
def test_a_subsystem_declares_its_collectors_once_per_registry(declare: type) -> None:
    registry = CollectorRegistry()
    declare(registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        declare(registry)
