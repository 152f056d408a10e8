"""What the REST client reports, under client-go's names (``k8s.io/client-go/tools/metrics``).

Guaranteed: the collectors are declared once, when a :class:`ClientMetrics` is built on a
registry, with fixed label sets —

- ``rest_client_requests_total{code,method}``: every request that was sent; ``code`` is the
  HTTP status, or ``<error>`` when no answer came;
- ``rest_client_request_duration_seconds{verb}``: time from leaving the throttle to the end;
- ``rest_client_rate_limiter_duration_seconds{verb}``: time spent waiting on the throttle.

``verb`` is the Kubernetes verb (``GET``, ``LIST``, ``WATCH``, ``POST``, ...). Built without a
registry (the client's default) it records nothing and costs one attribute test per call.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

_REQUEST_BUCKETS = (0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)


class ClientMetrics:
    """Request counts and latencies of one or more clients sharing a registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._requests: Counter | None = None
        self._duration: Histogram | None = None
        self._throttled: Histogram | None = None
        if registry is None:
            return
        self._requests = Counter("rest_client_requests",
                                 "Number of HTTP requests, partitioned by status code and method.",
                                 ["code", "method"], registry=registry)
        self._duration = Histogram("rest_client_request_duration_seconds",
                                   "Request latency in seconds. Broken down by verb.", ["verb"],
                                   buckets=_REQUEST_BUCKETS, registry=registry)
        self._throttled = Histogram("rest_client_rate_limiter_duration_seconds",
                                    "Client side rate limiter latency in seconds. Broken down by verb.", ["verb"],
                                    buckets=_REQUEST_BUCKETS, registry=registry)

    def request(self, verb: str, method: str, code: str, seconds: float) -> None:
        """One request done (or failed: ``code`` ``<error>``) after ``seconds`` in flight."""
        if self._requests is not None and self._duration is not None:
            self._requests.labels(code, method).inc()
            self._duration.labels(verb).observe(seconds)

    def throttled(self, verb: str, seconds: float) -> None:
        """One request waited ``seconds`` for the client-side throttle."""
        if self._throttled is not None:
            self._throttled.labels(verb).observe(seconds)
