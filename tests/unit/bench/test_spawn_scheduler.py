"""bench.spawn.scheduler: the kube-scheduler's requests and rate-limiter wait, from its metrics text."""

from __future__ import annotations

from bench.spawn.scheduler import SchedulerCounters, parse

TEXT = """\
# HELP rest_client_rate_limiter_duration_seconds [ALPHA] Client side rate limiter latency in seconds.
# TYPE rest_client_rate_limiter_duration_seconds histogram
rest_client_rate_limiter_duration_seconds_bucket{host="127.0.0.1:6443",verb="POST",le="0.005"} 10
rest_client_rate_limiter_duration_seconds_sum{host="127.0.0.1:6443",verb="GET"} 0.25
rest_client_rate_limiter_duration_seconds_count{host="127.0.0.1:6443",verb="GET"} 5
rest_client_rate_limiter_duration_seconds_sum{host="127.0.0.1:6443",verb="POST"} 53.75
rest_client_rate_limiter_duration_seconds_count{host="127.0.0.1:6443",verb="POST"} 404
rest_client_requests_total{code="201",host="127.0.0.1:6443",method="POST"} 404
"""


def test_every_verbs_requests_and_wait_are_summed() -> None:
    assert parse(TEXT) == SchedulerCounters(requests=409, limiter_wait_seconds=54.0)


def test_a_window_is_the_difference() -> None:
    assert parse(TEXT) - SchedulerCounters(9, 4.0) == SchedulerCounters(400, 50.0)
    assert parse("") == SchedulerCounters(0, 0)
