"""The fault proxy, and the fault runs through it: watches stalled without a FIN (the inactivity
watchdog must cut them), connections reset mid-stream, and 429 / 500 / slow answers (Retry-After must
be honoured). Each run must converge with nothing duplicated, orphaned or lost."""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import anyio
import pytest

from faults.proxy import FaultProxy
from faults.proxy_faults import RETRY_AFTER, api_errors, watch_drop, watch_stall
from faults.proxy_rules import Action, Rule
from faults.run import FaultEnv, FaultRun
from jupyternetes_operator.cli import _parser, settings_from
from jupyternetes_operator.kube.client import Client, TransportError
from jupyternetes_operator.kube.errors import ServerError, TooManyRequests
from jupyternetes_operator.kube.resources import CONFIG_MAPS, EVENTS, LEASES
from jupyternetes_operator.machinery.events import EventRecorder
from jupyternetes_operator.testing import ControlPlane
from jupyternetes_operator.testing.controlplane import ADMIN

# The fault proxy serves with a certificate from the session plane's own CA and its admin token.
pytestmark = pytest.mark.controls_processes


@pytest.fixture
async def proxy(control_plane: ControlPlane, tmp_path: Path) -> AsyncIterator[FaultProxy]:
    async with FaultProxy.for_control_plane(control_plane, tmp_path, seed=7) as running:
        yield running


@pytest.fixture
async def proxied(proxy: FaultProxy, control_plane: ControlPlane, tmp_path: Path) -> AsyncIterator[Client]:
    kubeconfig = proxy.write_kubeconfig(tmp_path / "proxy.yaml", control_plane.tokens[ADMIN])
    async with await Client.from_kubeconfig(str(kubeconfig)) as client:
        yield client


def config_map(name: str) -> dict[str, object]:
    return {"metadata": {"name": name}, "data": {"k": "v"}}


def test_the_inactivity_timeout_is_a_run_flag() -> None:
    assert settings_from(_parser().parse_args(["run"])).watch_inactivity_timeout == 150.0
    args = _parser().parse_args(["run", "--watch-inactivity-timeout=2.5"])
    assert settings_from(args).watch_inactivity_timeout == 2.5


async def test_requests_pass_through_and_are_recorded(proxy: FaultProxy, proxied: Client, kube: Client,
                                                     namespace: str) -> None:
    created = await proxied.create(CONFIG_MAPS, config_map("one"), namespace)
    assert (await kube.get(CONFIG_MAPS, "one", namespace))["metadata"]["uid"] == created["metadata"]["uid"]
    listed = await proxied.list(CONFIG_MAPS, namespace)
    assert [c["metadata"]["name"] for c in listed["items"] if c["metadata"]["name"] == "one"] == ["one"]
    post = next(s for s in proxy.seen if s.method == "POST")
    assert (post.object, post.action, post.status) == (f"/api/v1/namespaces/{namespace}/configmaps/one",
                                                       Action.PASS, 201)
    assert not proxy.injected


async def test_429_carries_retry_after_and_a_status_500_too(proxy: FaultProxy, proxied: Client,
                                                            namespace: str) -> None:
    await proxied.create(CONFIG_MAPS, config_map("one"), namespace)
    proxy.add(Rule(Action.THROTTLE, methods=frozenset({"GET"}), path="/configmaps/", times=1, retry_after=3))
    proxy.add(Rule(Action.FAIL, methods=frozenset({"GET"}), path="/configmaps/", times=1))
    with pytest.raises(TooManyRequests) as throttled:
        await proxied.get(CONFIG_MAPS, "one", namespace)
    assert (throttled.value.retry_after, throttled.value.reason) == (3.0, "TooManyRequests")
    assert throttled.value.body["details"] == {"retryAfterSeconds": 3}
    with pytest.raises(ServerError) as failed:
        await proxied.get(CONFIG_MAPS, "one", namespace)
    assert failed.value.reason == "InternalError"
    assert (await proxied.get(CONFIG_MAPS, "one", namespace))["metadata"]["name"] == "one"  # rules spent
    assert proxy.injected == {"429": 1, "500": 1}
    assert [(s.status, s.retry_after) for s in proxy.seen if s.method == "GET"] == [(429, 3), (500, None), (200, None)]


async def test_the_lease_is_spared_unless_asked(proxy: FaultProxy, proxied: Client, namespace: str) -> None:
    proxy.add(Rule(Action.FAIL))
    assert await proxied.get_or_none(LEASES, "nothing", namespace) is None  # 404 from the server itself
    proxy.clear()
    proxy.add(Rule(Action.FAIL, leases=True))
    with pytest.raises(ServerError):
        await proxied.get(LEASES, "nothing", namespace)


async def read_until(body: aiohttp.StreamReader, needle: bytes) -> None:
    seen = b""
    with anyio.fail_after(10):
        while needle not in seen:
            chunk = await body.readany()
            assert chunk, f"the watch ended before {needle!r}"
            seen += chunk


async def test_a_silenced_watch_gets_no_bytes_and_no_fin(proxy: FaultProxy, proxied: Client, kube: Client,
                                                         namespace: str) -> None:
    cm = proxied.stream(CONFIG_MAPS.path(namespace), params={"watch": True, "timeoutSeconds": 60})
    async with cm as body:
        await kube.create(CONFIG_MAPS, config_map("before"), namespace)
        await read_until(body, b'"before"')
        assert proxy.silence() == 1
        await kube.create(CONFIG_MAPS, config_map("after"), namespace)
        with pytest.raises(TimeoutError), anyio.fail_after(2):
            await body.readany()  # neither data nor EOF: the connection is open and silent
        assert not body.at_eof()
        (watch,) = proxy.open_exchanges()
        assert watch.silenced is not None
        assert watch.ended is None
    with anyio.fail_after(5):
        while watch.ended is None:  # noqa: ASYNC110 (the proxy notices the close by polling)
            await anyio.sleep(0.05)
    assert watch.client_closed


async def test_a_stalled_new_watch_gets_no_response(proxy: FaultProxy, proxied: Client, namespace: str) -> None:
    rule = proxy.stall_watches()
    started = time.monotonic()
    with pytest.raises(TimeoutError), anyio.fail_after(2):
        async with proxied.stream(CONFIG_MAPS.path(namespace), params={"watch": True, "timeoutSeconds": 60}):
            pass
    assert time.monotonic() - started >= 2
    (stalled,) = proxy.watches()
    assert stalled.action is Action.STALL
    proxy.remove(rule)
    async with proxied.stream(CONFIG_MAPS.path(namespace), params={"watch": True, "timeoutSeconds": 1}) as body:
        with anyio.fail_after(10):
            while await body.readany():
                pass  # the server ends it after a second: a clean end
    assert proxy.injected == {"stall": 1}


async def test_a_dropped_watch_ends_without_a_clean_end(proxy: FaultProxy, proxied: Client, kube: Client,
                                                        namespace: str) -> None:
    async with proxied.stream(CONFIG_MAPS.path(namespace), params={"watch": True, "timeoutSeconds": 60}) as body:
        await kube.create(CONFIG_MAPS, config_map("before"), namespace)
        await read_until(body, b'"before"')
        assert proxy.drop() == 1
        with pytest.raises(aiohttp.ClientError), anyio.fail_after(5):  # not b"": the response never ended
            await body.readany()
    (watch,) = proxy.watches()
    assert watch.dropped is not None
    assert not watch.client_closed



async def test_an_answer_reset_mid_response_is_an_oserror_and_the_write_happened(
        proxy: FaultProxy, proxied: Client, kube: Client, namespace: str) -> None:
    proxy.add(Rule(Action.DROP, methods=frozenset({"POST"}), path="/configmaps$", times=1))
    with pytest.raises(OSError, match="Response payload is not completed") as reset:
        await proxied.create(CONFIG_MAPS, config_map("one"), namespace)
    assert isinstance(reset.value, TransportError)  # an OSError: every caller's network-failure branch
    assert await kube.get_or_none(CONFIG_MAPS, "one", namespace) is not None  # the server acted on it
    assert proxy.injected == {"drop": 1}


async def test_the_event_recorder_survives_a_reset_answer(proxy: FaultProxy, proxied: Client, kube: Client,
                                                          namespace: str) -> None:
    recorder = EventRecorder(proxied, controller="example.com/test", instance="test")
    regarding = await kube.create(CONFIG_MAPS, config_map("subject"), namespace)
    proxy.add(Rule(Action.DROP, methods=frozenset({"POST"}), path="/events$", times=1))
    async with anyio.create_task_group() as tg:
        tg.start_soon(recorder.run)
        recorder.emit(regarding, "Normal", "First", "its answer is reset")
        recorder.emit(regarding, "Normal", "Second", "recorded")
        with anyio.fail_after(10):
            while not [e for e in (await kube.list(EVENTS, namespace))["items"] if e["reason"] == "Second"]:  # noqa: ASYNC110
                await anyio.sleep(0.1)
        tg.cancel_scope.cancel()
    assert proxy.injected == {"drop": 1}

# -- the fault runs (``python -m bench.faults`` runs them large) --


def env_for(control_plane: ControlPlane, kube: Client, namespace: str, tmp_path: Path) -> FaultEnv:
    return FaultEnv(control_plane, kube, namespace, tmp_path)


def converged(run: FaultRun, instances: int, running: int | None = None) -> None:
    print(run.row())  # the report's row, for -s runs
    assert run.ok, run.report.problems
    r = run.report
    assert (r.instances, r.running, r.duplicates, r.orphans, r.lost_retained_claims) == (
        instances, instances if running is None else running, 0, 0, 0)


async def test_stalled_watches_are_cut_by_the_watchdog(control_plane: ControlPlane, kube: Client, namespace: str,
                                                       tmp_path: Path) -> None:
    run = await watch_stall(env_for(control_plane, kube, namespace, tmp_path), 12, random.Random(20261201))
    converged(run, 12, 12 - 1)
    n = run.notes
    assert n["silent_streams"] > 0
    assert n["cut_by_watchdog"] == n["silent_streams"]  # every one, each within INACTIVITY + SLACK
    assert n["reopened_after_stall"] == n["informers"]
    assert n["stalled_restarts_metric"] >= n["silent_streams"]


async def test_connections_reset_mid_stream(control_plane: ControlPlane, kube: Client, namespace: str,
                                            tmp_path: Path) -> None:
    run = await watch_drop(env_for(control_plane, kube, namespace, tmp_path), 16, random.Random(20261202))
    converged(run, 16)
    assert run.notes["watches_reset"] > 0
    assert len(run.faults) == 6


async def test_api_errors_and_retry_after(control_plane: ControlPlane, kube: Client, namespace: str,
                                          tmp_path: Path) -> None:
    run = await api_errors(env_for(control_plane, kube, namespace, tmp_path), 12, random.Random(20261203))
    converged(run, 12)
    n = run.notes
    assert min(n["throttled"], n["failed"], n["slowed"]) > 0
    assert n["retried_after_429"] > 0
    assert n["min_retry_gap_s"] >= RETRY_AFTER - 0.05
