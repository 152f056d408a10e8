"""What the kube-scheduler spent on a run, from its own ``/metrics`` (``--scheduler-metrics``): the
API requests it made (a bind and a ``Scheduled`` Event per pod) and how long they waited in its
client-side rate limiter (50 requests per second, burst 100, by default). A burst whose pods all
arrive at once waits there; pods that arrive spread out do not."""

from __future__ import annotations

import ssl
import urllib.request
from dataclasses import dataclass

import anyio.to_thread

from jupyternetes_operator.testing.operator import metric_sum


@dataclass(frozen=True)
class SchedulerCounters:
    requests: float
    limiter_wait_seconds: float

    def __sub__(self, other: SchedulerCounters) -> SchedulerCounters:
        return SchedulerCounters(self.requests - other.requests, self.limiter_wait_seconds - other.limiter_wait_seconds)


def parse(text: str) -> SchedulerCounters:
    """The counters from a Prometheus text exposition of the scheduler's metrics."""
    return SchedulerCounters(metric_sum(text, "rest_client_rate_limiter_duration_seconds_count"),
                             metric_sum(text, "rest_client_rate_limiter_duration_seconds_sum"))


async def read(url: str) -> SchedulerCounters:
    """The counters now (a test cluster's scheduler: its serving certificate is not checked)."""
    def get() -> str:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with urllib.request.urlopen(url, timeout=10, context=context) as response:
            return str(response.read().decode())
    return parse(await anyio.to_thread.run_sync(get))
