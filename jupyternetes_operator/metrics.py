"""Every Prometheus collector, declared once with fixed label sets.

Names follow what existing dashboards know: client-go's ``workqueue_*`` and
``rest_client_*``, controller-runtime's ``controller_runtime_*``, and
``leader_election_master_status``; our own are prefixed ``jupyternetes_``.

A :class:`Metrics` is built on an injected registry (the composition root passes
the one it serves on ``/metrics``; tests get a private one), so two operators in
one process — or two tests — never share counters.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, PlatformCollector, ProcessCollector

# Same buckets as client-go's workqueue metrics: 10ns .. 10^3s, decades.
_QUEUE_BUCKETS = tuple(1e-8 * 10**i for i in range(12))
_RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7,
                      0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20,
                      25, 30, 40, 50, 60)
_REQUEST_BUCKETS = (0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)
_SPAWN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        ProcessCollector(registry=r)  # process_resident_memory_bytes, process_cpu_seconds_total, ...
        PlatformCollector(registry=r)  # python_info

        # -- work queue (client-go / controller-runtime names) --
        self.workqueue_depth = Gauge("workqueue_depth", "Current depth of workqueue", ["name"], registry=r)
        self.workqueue_adds = Counter("workqueue_adds", "Total number of adds handled by workqueue",
                                      ["name"], registry=r)
        self.workqueue_queue_duration = Histogram(
            "workqueue_queue_duration_seconds", "How long in seconds an item stays in workqueue before being requested",
            ["name"], buckets=_QUEUE_BUCKETS, registry=r)
        self.workqueue_work_duration = Histogram(
            "workqueue_work_duration_seconds", "How long in seconds processing an item from workqueue takes",
            ["name"], buckets=_QUEUE_BUCKETS, registry=r)
        self.workqueue_unfinished_work = Gauge(
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has been done that is in progress and hasn't been observed by "
            "work_duration. Large values indicate stuck threads.", ["name"], registry=r)
        self.workqueue_longest_running_processor = Gauge(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running.", ["name"], registry=r)
        self.workqueue_retries = Counter("workqueue_retries", "Total number of retries handled by workqueue",
                                         ["name"], registry=r)

        # -- controller (controller-runtime names) --
        self.reconcile_total = Counter("controller_runtime_reconcile", "Total number of reconciliations per controller",
                                       ["controller", "result"], registry=r)
        self.reconcile_errors = Counter("controller_runtime_reconcile_errors",
                                        "Total number of reconciliation errors per controller", ["controller"],
                                        registry=r)
        self.reconcile_terminal_errors = Counter(
            "controller_runtime_terminal_reconcile_errors",
            "Total number of terminal reconciliation errors per controller", ["controller"], registry=r)
        self.reconcile_panics = Counter("controller_runtime_reconcile_panics",
                                        "Total number of reconciliation panics per controller", ["controller"],
                                        registry=r)
        self.reconcile_time = Histogram("controller_runtime_reconcile_time_seconds",
                                        "Length of time per reconciliation per controller", ["controller"],
                                        buckets=_RECONCILE_BUCKETS, registry=r)
        self.active_workers = Gauge("controller_runtime_active_workers",
                                    "Number of currently used workers per controller", ["controller"], registry=r)
        self.max_concurrent_reconciles = Gauge("controller_runtime_max_concurrent_reconciles",
                                               "Maximum number of concurrent reconciles per controller",
                                               ["controller"], registry=r)

        # -- leader election --
        self.leader_status = Gauge("leader_election_master_status",
                                   "Gauge of if the reporting system is master of the relevant lease, 0 indicates "
                                   "backup, 1 indicates master. 'name' is the string used to identify the lease.",
                                   ["name"], registry=r)

        # -- REST client (client-go names) --
        self.rest_requests = Counter("rest_client_requests",
                                     "Number of HTTP requests, partitioned by status code and method.",
                                     ["code", "method"], registry=r)
        self.rest_request_duration = Histogram("rest_client_request_duration_seconds",
                                               "Request latency in seconds. Broken down by verb.", ["verb"],
                                               buckets=_REQUEST_BUCKETS, registry=r)
        self.rest_rate_limiter_duration = Histogram(
            "rest_client_rate_limiter_duration_seconds",
            "Client side rate limiter latency in seconds. Broken down by verb.", ["verb"],
            buckets=_REQUEST_BUCKETS, registry=r)

        # -- informers --
        self.informer_events = Counter("jupyternetes_informer_events", "Watch events applied to an informer's store",
                                       ["resource", "type"], registry=r)
        self.informer_relists = Counter("jupyternetes_informer_relists",
                                        "Full LISTs an informer made, by why (initial, gone, error)",
                                        ["resource", "reason"], registry=r)
        self.informer_watch_restarts = Counter("jupyternetes_informer_watch_restarts",
                                               "Watch streams an informer (re)opened, by why the last one ended",
                                               ["resource", "reason"], registry=r)
        self.informer_objects = Gauge("jupyternetes_informer_objects", "Objects in an informer's cache",
                                      ["resource"], registry=r)
        self.informer_last_sync = Gauge("jupyternetes_informer_last_sync_timestamp_seconds",
                                        "Unix time of the informer's last completed LIST", ["resource"], registry=r)

        # -- the product --
        self.spawn_duration = Histogram("jupyternetes_spawn_duration_seconds",
                                        "Time from an instance first seen by the operator to Ready",
                                        buckets=_SPAWN_BUCKETS, registry=r)
        self.instances = Gauge("jupyternetes_instances", "Instances by phase", ["phase"], registry=r)
        self.templates = Gauge("jupyternetes_templates", "Templates by validity", ["valid"], registry=r)
