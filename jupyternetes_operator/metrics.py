"""Every collector the operator exports, on one registry, built once by the composition root.

Each subsystem declares its own (``kube.metrics``, ``machinery.metrics``), under the names
existing dashboards know: client-go's ``workqueue_*``, ``rest_client_*`` and
``leader_election_master_status``, controller-runtime's ``controller_runtime_*``. Here
live only the product's own, prefixed ``jupyternetes_`` (:class:`JupyternetesMetrics`), and
:class:`Metrics`, which builds every part on one registry so that the composition root can hand
each subsystem its part. The informer metrics take the same prefix.

Two :class:`Metrics` — two operators in one process, or two tests — never share a counter.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Gauge, Histogram, PlatformCollector, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .kube.metrics import ClientMetrics
from .machinery.metrics import ControllerMetrics, InformerMetrics, LeaderMetrics, WorkQueueMetrics

PREFIX = "jupyternetes"
_SPAWN_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)


class JupyternetesMetrics:
    """The product's own metrics: spawn latency, instances by phase, templates by validity, outdated servers."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry()
        self._spawn_duration = Histogram(
            "spawn_duration_seconds", "Time from an instance first seen by the operator to Ready",
            namespace=PREFIX, buckets=_SPAWN_BUCKETS, registry=r)
        self._instances = Gauge("instances", "Instances by phase", ["phase"], namespace=PREFIX, registry=r)
        self._templates = Gauge("templates", "Templates by validity", ["valid"], namespace=PREFIX, registry=r)
        self._outdated = Gauge("outdated_instances", "Instances whose server runs an older generation of its "
                               "template", namespace=PREFIX, registry=r)

    def spawned(self, seconds: float) -> None:
        """An instance became Ready ``seconds`` after the operator first saw it."""
        self._spawn_duration.observe(seconds)

    def instances(self, phase: str, count: int) -> None:
        self._instances.labels(phase).set(count)

    def outdated(self, count: int) -> None:
        self._outdated.set(count)

    def templates(self, valid: str, count: int) -> None:
        """``valid`` is ``true``, ``false`` or ``unknown`` (the Valid condition's status)."""
        self._templates.labels(valid).set(count)


class AsyncioCollector(Collector):
    """``jupyternetes_asyncio_tasks``: the asyncio tasks alive on the event loop that scrapes it (the
    operator serves ``/metrics`` on its own loop). A count that only grows is a leaked task; the soak
    benchmark watches it. Scraped from a thread with no running loop, the family has no sample."""

    NAME = f"{PREFIX}_asyncio_tasks"
    HELP = "Asyncio tasks not yet done on the operator's event loop"

    def describe(self) -> Iterable[Metric]:
        return [GaugeMetricFamily(self.NAME, self.HELP)]

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(self.NAME, self.HELP)
        with contextlib.suppress(RuntimeError):  # no running event loop in this thread
            family.add_metric([], len(asyncio.all_tasks()))
        return [family]


class Metrics:
    """Each subsystem's metrics and the product's, all on :attr:`registry` (a fresh one by default)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry if registry is not None else CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=r)  # process_resident_memory_bytes, process_cpu_seconds_total, ...
        PlatformCollector(registry=r)  # python_info
        r.register(AsyncioCollector())  # jupyternetes_asyncio_tasks
        self.client = ClientMetrics(r)
        self.workqueue = WorkQueueMetrics(r)
        self.controller = ControllerMetrics(r)
        self.informer = InformerMetrics(r, namespace=PREFIX)
        self.leader = LeaderMetrics(r)
        self.jupyternetes = JupyternetesMetrics(r)
