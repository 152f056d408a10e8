"""What the machinery reports: one class per subsystem, each declaring its collectors once.

- :class:`WorkQueueMetrics` — client-go's ``workqueue_*`` (label ``name``);
- :class:`ControllerMetrics` — controller-runtime's ``controller_runtime_*`` (label ``controller``);
- :class:`InformerMetrics` — ``<namespace>_informer_*`` (label ``resource``; client-go has none);
- :class:`LeaderMetrics` — client-go's ``leader_election_master_status`` (label ``name``).

Guaranteed: built on a registry, a class declares its collectors there and nowhere else, with
fixed label sets; built without one (every subsystem's default) it declares nothing and records
nothing. A subsystem binds its own label value once (``metrics.queue(name)``) and gets a
*series* object whose methods are plain calls — the no-op series is the base class, the
recording one overrides it. Two registries never share a counter.
"""

from __future__ import annotations

from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Same buckets as client-go's workqueue metrics: 10ns .. 10^3s, decades.
_QUEUE_BUCKETS = tuple(1e-8 * 10**i for i in range(12))
# controller-runtime's reconcile_time buckets.
_RECONCILE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7,
                      0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8, 9, 10, 15, 20,
                      25, 30, 40, 50, 60)


# -- work queue -------------------------------------------------------------------------------


class QueueSeries:
    """One queue's series. This base records nothing."""

    def added(self) -> None:
        """A key was added (deduplicated adds count too, as in client-go)."""

    def depth(self, keys: int) -> None:
        """Keys now waiting, including keys re-added while in flight."""

    def waited(self, seconds: float) -> None:
        """A key was handed out ``seconds`` after it was added."""

    def worked(self, seconds: float) -> None:
        """A key was done ``seconds`` after it was handed out."""

    def in_flight(self, unfinished: float, longest: float) -> None:
        """Seconds of work in progress, summed over keys and for the oldest."""

    def retried(self) -> None:
        """A rate-limited re-add."""


class _RecordedQueue(QueueSeries):
    def __init__(self, m: _QueueCollectors, name: str) -> None:
        self._depth = m.depth.labels(name)
        self._adds = m.adds.labels(name)
        self._queue_duration = m.queue_duration.labels(name)
        self._work_duration = m.work_duration.labels(name)
        self._unfinished = m.unfinished.labels(name)
        self._longest = m.longest.labels(name)
        self._retries = m.retries.labels(name)

    def added(self) -> None:
        self._adds.inc()

    def depth(self, keys: int) -> None:
        self._depth.set(keys)

    def waited(self, seconds: float) -> None:
        self._queue_duration.observe(seconds)

    def worked(self, seconds: float) -> None:
        self._work_duration.observe(seconds)

    def in_flight(self, unfinished: float, longest: float) -> None:
        self._unfinished.set(unfinished)
        self._longest.set(longest)

    def retried(self) -> None:
        self._retries.inc()


class _QueueCollectors:
    def __init__(self, r: CollectorRegistry) -> None:
        self.depth = Gauge("workqueue_depth", "Current depth of workqueue", ["name"], registry=r)
        self.adds = Counter("workqueue_adds", "Total number of adds handled by workqueue", ["name"], registry=r)
        self.queue_duration = Histogram(
            "workqueue_queue_duration_seconds", "How long in seconds an item stays in workqueue before being requested",
            ["name"], buckets=_QUEUE_BUCKETS, registry=r)
        self.work_duration = Histogram(
            "workqueue_work_duration_seconds", "How long in seconds processing an item from workqueue takes",
            ["name"], buckets=_QUEUE_BUCKETS, registry=r)
        self.unfinished = Gauge(
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has been done that is in progress and hasn't been observed by "
            "work_duration. Large values indicate stuck threads.", ["name"], registry=r)
        self.longest = Gauge(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running.", ["name"], registry=r)
        self.retries = Counter("workqueue_retries", "Total number of retries handled by workqueue", ["name"],
                               registry=r)


class WorkQueueMetrics:
    """client-go's work queue metrics; :meth:`queue` binds one queue's ``name``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._collectors = _QueueCollectors(registry) if registry is not None else None

    def queue(self, name: str) -> QueueSeries:
        return QueueSeries() if self._collectors is None else _RecordedQueue(self._collectors, name)


# -- controller -------------------------------------------------------------------------------

Outcome = Literal["success", "error", "requeue", "requeue_after"]
"""The ``result`` label of ``controller_runtime_reconcile_total``: a fixed set."""


class ControllerSeries:
    """One controller's series. This base records nothing."""

    def workers(self, maximum: int) -> None:
        """The controller's worker count (``max_concurrent_reconciles``)."""

    def active(self, workers: int) -> None:
        """Workers reconciling right now."""

    def reconciled(self, outcome: Outcome) -> None:
        """One reconcile ended with ``outcome``."""

    def took(self, seconds: float) -> None:
        """One reconcile (whatever its end, cancellation included) took ``seconds``."""

    def failed(self, *, terminal: bool, panic: bool) -> None:
        """One reconcile raised: ``terminal`` (not retried) or, if ``panic``, with an unexpected error."""


class _RecordedController(ControllerSeries):
    def __init__(self, m: _ControllerCollectors, name: str) -> None:
        self._name = name
        self._m = m
        self._max = m.max_concurrent.labels(name)
        self._active = m.active.labels(name)
        self._time = m.time.labels(name)
        self._errors = m.errors.labels(name)
        self._terminal = m.terminal.labels(name)
        self._panics = m.panics.labels(name)

    def workers(self, maximum: int) -> None:
        self._max.set(maximum)

    def active(self, workers: int) -> None:
        self._active.set(workers)

    def reconciled(self, outcome: Outcome) -> None:
        self._m.total.labels(self._name, outcome).inc()

    def took(self, seconds: float) -> None:
        self._time.observe(seconds)

    def failed(self, *, terminal: bool, panic: bool) -> None:
        self._errors.inc()
        if terminal:
            self._terminal.inc()
        if panic:
            self._panics.inc()


class _ControllerCollectors:
    def __init__(self, r: CollectorRegistry) -> None:
        self.total = Counter("controller_runtime_reconcile", "Total number of reconciliations per controller",
                             ["controller", "result"], registry=r)
        self.errors = Counter("controller_runtime_reconcile_errors",
                              "Total number of reconciliation errors per controller", ["controller"], registry=r)
        self.terminal = Counter("controller_runtime_terminal_reconcile_errors",
                                "Total number of terminal reconciliation errors per controller", ["controller"],
                                registry=r)
        self.panics = Counter("controller_runtime_reconcile_panics",
                              "Total number of reconciliation panics per controller", ["controller"], registry=r)
        self.time = Histogram("controller_runtime_reconcile_time_seconds",
                              "Length of time per reconciliation per controller", ["controller"],
                              buckets=_RECONCILE_BUCKETS, registry=r)
        self.active = Gauge("controller_runtime_active_workers", "Number of currently used workers per controller",
                            ["controller"], registry=r)
        self.max_concurrent = Gauge("controller_runtime_max_concurrent_reconciles",
                                    "Maximum number of concurrent reconciles per controller", ["controller"],
                                    registry=r)


class ControllerMetrics:
    """controller-runtime's controller metrics; :meth:`controller` binds one ``controller``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._collectors = _ControllerCollectors(registry) if registry is not None else None

    def controller(self, name: str) -> ControllerSeries:
        return ControllerSeries() if self._collectors is None else _RecordedController(self._collectors, name)


# -- informer and reflector -------------------------------------------------------------------

class InformerSeries:
    """One informer's series (its reflector reports here too). This base records nothing."""

    def event(self, type_: str) -> None:
        """A watch event of ``type_`` (ADDED, MODIFIED, DELETED, BOOKMARK) applied to the store."""

    def relisted(self, reason: str) -> None:
        """A full LIST began, for ``reason``."""

    def watch_restarted(self, reason: str) -> None:
        """A watch stream was (re)opened because the last one ended for ``reason``."""

    def objects(self, count: int) -> None:
        """Objects now in the cache."""

    def synced(self) -> None:
        """A LIST completed now."""


class _RecordedInformer(InformerSeries):
    def __init__(self, m: _InformerCollectors, name: str) -> None:
        self._name = name
        self._m = m
        self._objects = m.objects.labels(name)
        self._last_sync = m.last_sync.labels(name)

    def event(self, type_: str) -> None:
        self._m.events.labels(self._name, type_).inc()

    def relisted(self, reason: str) -> None:
        self._m.relists.labels(self._name, reason).inc()

    def watch_restarted(self, reason: str) -> None:
        self._m.watch_restarts.labels(self._name, reason).inc()

    def objects(self, count: int) -> None:
        self._objects.set(count)

    def synced(self) -> None:
        self._last_sync.set_to_current_time()


class _InformerCollectors:
    def __init__(self, r: CollectorRegistry, namespace: str) -> None:
        self.events = Counter("informer_events", "Watch events applied to an informer's store",
                              ["resource", "type"], namespace=namespace, registry=r)
        self.relists = Counter("informer_relists", "Full LISTs an informer made, by why (initial, gone, error)",
                               ["resource", "reason"], namespace=namespace, registry=r)
        self.watch_restarts = Counter("informer_watch_restarts",
                                      "Watch streams an informer (re)opened, by why the last one ended",
                                      ["resource", "reason"], namespace=namespace, registry=r)
        self.objects = Gauge("informer_objects", "Objects in an informer's cache", ["resource"],
                             namespace=namespace, registry=r)
        self.last_sync = Gauge("informer_last_sync_timestamp_seconds",
                               "Unix time of the informer's last completed LIST", ["resource"],
                               namespace=namespace, registry=r)


class InformerMetrics:
    """Informer metrics; :meth:`informer` binds one ``resource`` (the informer's name).

    client-go exports none, so the names carry the exporting application's ``namespace``
    (prefix), given by the composition root.
    """

    def __init__(self, registry: CollectorRegistry | None = None, *, namespace: str = "") -> None:
        self._collectors = _InformerCollectors(registry, namespace) if registry is not None else None

    def informer(self, name: str) -> InformerSeries:
        return InformerSeries() if self._collectors is None else _RecordedInformer(self._collectors, name)


# -- leader election --------------------------------------------------------------------------


class LeaseSeries:
    """One lease's series. This base records nothing."""

    def leading(self, leading: bool) -> None:
        """Whether this replica now holds the lease."""


class _RecordedLease(LeaseSeries):
    def __init__(self, status: Gauge, name: str) -> None:
        self._status = status.labels(name=name)

    def leading(self, leading: bool) -> None:
        self._status.set(1 if leading else 0)


class LeaderMetrics:
    """client-go's leader election metric; :meth:`lease` binds one lease ``name``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._status = None if registry is None else Gauge(
            "leader_election_master_status",
            "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates "
            "master. 'name' is the string used to identify the lease.", ["name"], registry=registry)

    def lease(self, name: str) -> LeaseSeries:
        return LeaseSeries() if self._status is None else _RecordedLease(self._status, name)
