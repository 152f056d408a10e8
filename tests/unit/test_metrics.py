"""The operator's whole metric surface: every subsystem's part on one registry, under exactly the
names and labels the dashboard, the alerts and the README know, plus the product's own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from jupyternetes_operator.metrics import JupyternetesMetrics, Metrics

EXPECTED = {  # family name -> (type, label names)
    "workqueue_depth": ("gauge", ("name",)),
    "workqueue_adds": ("counter", ("name",)),
    "workqueue_queue_duration_seconds": ("histogram", ("name",)),
    "workqueue_work_duration_seconds": ("histogram", ("name",)),
    "workqueue_unfinished_work_seconds": ("gauge", ("name",)),
    "workqueue_longest_running_processor_seconds": ("gauge", ("name",)),
    "workqueue_retries": ("counter", ("name",)),
    "controller_runtime_reconcile": ("counter", ("controller", "result")),
    "controller_runtime_reconcile_errors": ("counter", ("controller",)),
    "controller_runtime_terminal_reconcile_errors": ("counter", ("controller",)),
    "controller_runtime_reconcile_panics": ("counter", ("controller",)),
    "controller_runtime_reconcile_time_seconds": ("histogram", ("controller",)),
    "controller_runtime_active_workers": ("gauge", ("controller",)),
    "controller_runtime_max_concurrent_reconciles": ("gauge", ("controller",)),
    "leader_election_master_status": ("gauge", ("name",)),
    "rest_client_requests": ("counter", ("code", "method")),
    "rest_client_request_duration_seconds": ("histogram", ("verb",)),
    "rest_client_rate_limiter_duration_seconds": ("histogram", ("verb",)),
    "jupyternetes_informer_events": ("counter", ("resource", "type")),
    "jupyternetes_informer_relists": ("counter", ("resource", "reason")),
    "jupyternetes_informer_watch_restarts": ("counter", ("resource", "reason")),
    "jupyternetes_informer_objects": ("gauge", ("resource",)),
    "jupyternetes_informer_last_sync_timestamp_seconds": ("gauge", ("resource",)),
    "jupyternetes_spawn_duration_seconds": ("histogram", ()),
    "jupyternetes_instances": ("gauge", ("phase",)),
    "jupyternetes_templates": ("gauge", ("valid",)),
    "jupyternetes_outdated_instances": ("gauge", ()),
}


def declared(registry: CollectorRegistry) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Every labelled or plain collector on ``registry`` (process and platform collectors aside)."""
    out = {}
    for collector in registry._collector_to_names:  # what each collector declared, even before a sample
        name = getattr(collector, "_name", None)
        if name is not None:
            out[name] = (collector._type, tuple(collector._labelnames))
    return out


def test_every_name_and_label_set_is_what_dashboards_know() -> None:
    assert declared(Metrics().registry) == EXPECTED


def test_process_metrics_are_exported_too() -> None:
    families = {f.name for f in Metrics().registry.collect()}
    assert {"process_resident_memory_bytes", "python_info"} <= families


def test_two_operators_never_share_a_counter() -> None:
    one, two = Metrics(), Metrics()
    one.jupyternetes.spawned(1.0)
    assert one.registry.get_sample_value("jupyternetes_spawn_duration_seconds_count") == 1
    assert two.registry.get_sample_value("jupyternetes_spawn_duration_seconds_count") == 0


def test_the_product_metrics_record() -> None:
    registry = CollectorRegistry()
    metrics = JupyternetesMetrics(registry)
    metrics.spawned(2.5)
    metrics.instances("Running", 3)
    metrics.templates("true", 2)
    value = registry.get_sample_value
    assert value("jupyternetes_spawn_duration_seconds_sum") == 2.5
    assert value("jupyternetes_instances", {"phase": "Running"}) == 3
    assert value("jupyternetes_templates", {"valid": "true"}) == 2


def test_asyncio_tasks_are_counted_on_the_scraping_loop() -> None:
    import asyncio

    registry = Metrics().registry
    assert registry.get_sample_value("jupyternetes_asyncio_tasks") is None  # no loop in this thread

    async def scrape() -> tuple[float | None, float | None]:
        before = registry.get_sample_value("jupyternetes_asyncio_tasks")
        sleepers = [asyncio.create_task(asyncio.sleep(10)) for _ in range(3)]
        after = registry.get_sample_value("jupyternetes_asyncio_tasks")
        for task in sleepers:
            task.cancel()
        await asyncio.gather(*sleepers, return_exceptions=True)
        return before, after

    before, after = asyncio.run(scrape())
    assert before == 1  # the scraping task itself
    assert after == 4
