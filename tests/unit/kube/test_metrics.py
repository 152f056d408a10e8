"""The REST client's metrics (off by default, client-go's names when on) and its field manager
(the caller's to name: the client layer has none of its own)."""

from __future__ import annotations

import aiohttp
import prometheus_client
import pytest
from kubernetes_asyncio.client import Configuration
from prometheus_client import CollectorRegistry

from jupyternetes_operator.kube.client import Client
from jupyternetes_operator.kube.metrics import ClientMetrics
from jupyternetes_operator.kube.resources import CONFIG_MAPS


def unreachable() -> Configuration:
    configuration = Configuration()
    configuration.host = "https://127.0.0.1:1"  # nothing listens
    return configuration


class CountingThrottle:
    def __init__(self) -> None:
        self.waits = 0

    async def wait(self) -> None:
        self.waits += 1


def test_without_a_registry_nothing_is_declared_or_recorded() -> None:
    before = {f.name for f in prometheus_client.REGISTRY.collect()}
    metrics = ClientMetrics()
    metrics.request("GET", "GET", "200", 0.1)
    metrics.throttled("GET", 0.1)
    assert {f.name for f in prometheus_client.REGISTRY.collect()} == before


def test_recorded_under_client_go_names() -> None:
    registry = CollectorRegistry()
    metrics = ClientMetrics(registry)
    metrics.request("LIST", "GET", "200", 0.25)
    metrics.throttled("LIST", 0.5)
    value = registry.get_sample_value
    assert value("rest_client_requests_total", {"code": "200", "method": "GET"}) == 1
    assert value("rest_client_request_duration_seconds_sum", {"verb": "LIST"}) == 0.25
    assert value("rest_client_rate_limiter_duration_seconds_sum", {"verb": "LIST"}) == 0.5


async def test_a_client_records_a_failed_request_and_its_throttle_wait() -> None:
    registry = CollectorRegistry()
    throttle = CountingThrottle()
    async with Client(unreachable(), metrics=ClientMetrics(registry), throttle=throttle) as client:
        with pytest.raises(aiohttp.ClientConnectionError):
            await client.get(CONFIG_MAPS, "x", "ns")
    value = registry.get_sample_value
    assert throttle.waits == 1
    assert value("rest_client_requests_total", {"code": "<error>", "method": "GET"}) == 1
    assert value("rest_client_request_duration_seconds_count", {"verb": "GET"}) == 1
    assert value("rest_client_rate_limiter_duration_seconds_count", {"verb": "GET"}) == 1


async def test_a_client_without_metrics_still_works() -> None:
    async with Client(unreachable()) as client:
        with pytest.raises(aiohttp.ClientConnectionError):
            await client.get(CONFIG_MAPS, "x", "ns")


async def test_the_field_manager_is_the_callers() -> None:
    async with Client(unreachable(), field_manager="example-operator") as named:
        assert named._write_params(False) == {"fieldManager": "example-operator"}
    async with Client(unreachable()) as anonymous:
        assert anonymous._write_params(True) == {"dryRun": "All"}  # the server names it after the User-Agent
        with pytest.raises(ValueError, match="field manager"):
            await anonymous.apply(CONFIG_MAPS, {"metadata": {"name": "x"}}, "ns")
