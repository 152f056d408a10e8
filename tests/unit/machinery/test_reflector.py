"""The reflector's state machine against a scripted list/watch source and a fake clock."""

from __future__ import annotations

import random
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from kubernetes_asyncio.client import Configuration
from prometheus_client import CollectorRegistry

from jupyternetes_operator.kube.client import Client, Resource
from jupyternetes_operator.kube.errors import BadRequest, Gone, ServerError
from jupyternetes_operator.kube.resources import PODS
from jupyternetes_operator.kube.watch import WatchEvent, WatchStalled
from jupyternetes_operator.machinery.metrics import InformerMetrics
from jupyternetes_operator.machinery.reflector import Reflector, ReflectorOptions, ResourceListerWatcher

from .fakeclock import FakeClock

HANG = "hang"


def obj(name: str, rv: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": rv}}


def ev(kind: str, name: str, rv: str, **annotations: str) -> WatchEvent:
    o = obj(name, rv)
    if annotations:
        o["metadata"]["annotations"] = annotations
    return WatchEvent(kind, o)


class ScriptedSource:
    """Lists and watch streams handed out in order; an exhausted script blocks forever."""

    def __init__(self) -> None:
        self.lists: deque[tuple[list[dict[str, Any]], str] | Exception] = deque()
        self.watches: deque[list[WatchEvent | Exception | str] | Exception] = deque()
        self.calls: list[tuple[Any, ...]] = []

    async def list(self, resource_version: str | None) -> tuple[list[dict[str, Any]], str]:
        self.calls.append(("list", resource_version))
        if not self.lists:
            await anyio.sleep_forever()
        item = self.lists.popleft()
        if isinstance(item, Exception):
            raise item
        return item

    def watch(self, resource_version: str | None, *, timeout_seconds: int, inactivity_timeout: float,
              send_initial_events: bool = False) -> Any:
        self.calls.append(("watch", resource_version, timeout_seconds, send_initial_events))
        script = self.watches.popleft() if self.watches else [HANG]
        return self._open(script)

    @asynccontextmanager
    async def _open(self, script: list[WatchEvent | Exception | str] | Exception) -> AsyncIterator[Any]:
        if isinstance(script, Exception):
            raise script

        async def stream() -> AsyncIterator[WatchEvent]:
            for item in script:
                if isinstance(item, Exception):
                    raise item
                if item == HANG:
                    await anyio.sleep_forever()
                assert isinstance(item, WatchEvent)
                yield item

        yield stream()


class RecordingSink:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def replace(self, objects: list[dict[str, Any]], resource_version: str) -> None:
        self.calls.append(("replace", ([o["metadata"]["name"] for o in objects], resource_version)))

    def upsert(self, o: dict[str, Any]) -> None:
        self.calls.append(("upsert", o["metadata"]["name"]))

    def remove(self, o: dict[str, Any]) -> None:
        self.calls.append(("remove", o["metadata"]["name"]))


async def until(condition: Callable[[], bool]) -> None:
    with anyio.fail_after(5):
        while not condition():
            await anyio.lowlevel.checkpoint()


async def run_reflector(source: ScriptedSource, check: Callable[[Reflector, FakeClock], Awaitable[None]],
                        options: ReflectorOptions | None = None, metrics: InformerMetrics | None = None) -> None:
    clock = FakeClock()
    sink = RecordingSink()
    series = (metrics or InformerMetrics()).informer("pods")
    reflector = Reflector("pods", source, sink, options or ReflectorOptions(), clock, series, random.Random(7))
    reflector.sink = sink
    async with anyio.create_task_group() as tg:
        tg.start_soon(reflector.run)
        await check(reflector, clock)
        tg.cancel_scope.cancel()


def sink_of(r: Reflector) -> RecordingSink:
    assert isinstance(r.sink, RecordingSink)
    return r.sink


async def test_lists_at_zero_then_watches_from_the_list_version() -> None:
    src = ScriptedSource()
    src.lists.append(([obj("a", "5"), obj("b", "6")], "10"))
    src.watches.append([ev("ADDED", "c", "11"), ev("MODIFIED", "a", "12"), ev("DELETED", "b", "13"),
                        ev("BOOKMARK", "", "20"), HANG])

    async def check(r: Reflector, clock: FakeClock) -> None:
        await until(lambda: r.resource_version == "20")
        assert src.calls[0] == ("list", "0")
        assert src.calls[1][:2] == ("watch", "10")
        assert sink_of(r).calls == [("replace", (["a", "b"], "10")), ("upsert", "c"), ("upsert", "a"),
                                    ("remove", "b")]  # the bookmark moved the version, nothing else

    await run_reflector(src, check)


async def test_watch_timeout_is_randomized_within_bounds() -> None:
    src = ScriptedSource()
    src.lists.append(([], "1"))
    for _ in range(20):
        src.watches.append([])  # each ends normally (server-side timeout)

    async def check(r: Reflector, clock: FakeClock) -> None:
        await until(lambda: len([c for c in src.calls if c[0] == "watch"]) >= 21)
        timeouts = {c[2] for c in src.calls if c[0] == "watch"}
        assert all(300 <= t <= 600 for t in timeouts)
        assert len(timeouts) > 5
        # A normal end re-watches from the same version and never relists.
        assert [c for c in src.calls if c[0] == "list"] == [("list", "0")]
        assert {c[1] for c in src.calls if c[0] == "watch"} == {"1"}

    await run_reflector(src, check)


async def test_gone_relists_at_the_last_seen_version() -> None:
    src = ScriptedSource()
    src.lists.append(([obj("a", "5")], "10"))
    src.lists.append(([obj("b", "30")], "31"))
    src.watches.append([ev("MODIFIED", "a", "15"), Gone(410, "Expired", "too old")])
    registry = CollectorRegistry()
    m = InformerMetrics(registry, namespace="test")

    async def check(r: Reflector, clock: FakeClock) -> None:
        await until(lambda: len(src.calls) >= 4)
        assert src.calls[2] == ("list", "10")  # the last *sync* version, as client-go does
        assert src.calls[3][:2] == ("watch", "31")
        assert sink_of(r).calls[-1] == ("replace", (["b"], "31"))
        assert registry.get_sample_value("test_informer_relists_total",
                                         {"resource": "pods", "reason": "gone"}) == 1
        assert clock.now() == 1000.0  # no backoff for a relist

    await run_reflector(src, check, metrics=m)


async def test_unavailable_version_escalates_to_a_consistent_list() -> None:
    src = ScriptedSource()
    src.lists.append(([], "10"))
    src.lists.append(Gone(410, "Expired", "too old resource version"))
    src.lists.append(([obj("z", "40")], "41"))
    src.watches.append([Gone(410, "Expired", "")])

    async def check(r: Reflector, clock: FakeClock) -> None:
        await until(lambda: clock.sleepers == 1)  # gone before any event: a backoff before the relist
        clock.advance_to(clock.next_deadline() or 0)
        await until(lambda: len([c for c in src.calls if c[0] == "list"]) >= 3)
        assert [c for c in src.calls if c[0] == "list"] == [("list", "0"), ("list", "10"), ("list", "")]
        await until(lambda: r.resource_version == "41")
        assert r.relist_resource_version() == "41"  # back to normal once a list succeeded

    await run_reflector(src, check)


async def test_gone_before_any_event_backs_off_instead_of_relisting_in_a_loop() -> None:
    # A server that lists at a version it cannot watch from (a restarted API server answering a
    # paginated LIST from etcd at that exact version) must not make the reflector spin.
    src = ScriptedSource()
    for _ in range(3):
        src.lists.append(([obj("a", "5")], "10"))
        src.watches.append([Gone(410, "Expired", "too old resource version: 10 (12)")])

    async def check(r: Reflector, clock: FakeClock) -> None:
        delays = []
        for _ in range(2):
            await until(lambda: clock.sleepers == 1)
            deadline = clock.next_deadline()
            assert deadline is not None
            delays.append(deadline - clock.now())
            clock.advance_to(deadline)
        assert 0.8 <= delays[0] <= 1.6
        assert delays[1] >= 1.6  # growing, like any other failure
        await until(lambda: len([c for c in src.calls if c[0] == "list"]) == 3)
        assert [c[1] for c in src.calls if c[0] == "list"] == ["0", "10", "10"]

    await run_reflector(src, check)


async def test_a_list_at_a_version_is_unpaginated_so_the_watch_cache_answers_it() -> None:
    pages: list[dict[str, str | int | bool]] = []

    class Recording(Client):
        async def list_page(self, resource: Resource, namespace: str | None = None, *,
                            params: Mapping[str, str | int | bool] | None = None) -> dict[str, Any]:
            pages.append(dict(params or {}))
            return {"metadata": {"resourceVersion": "20"}, "items": []}

    configuration = Configuration()
    configuration.host = "https://127.0.0.1:1"  # never contacted
    async with Recording(configuration) as client:
        lister = ResourceListerWatcher(client, PODS, "ns", page_size=50)
        for version in (None, "0", "", "10"):
            await lister.list(version)
    assert [p.get("limit") for p in pages] == [50, 50, 50, None]
    assert pages[-1]["resourceVersion"] == "10"


async def test_errors_back_off_on_the_clock_and_rewatch_without_relisting() -> None:
    src = ScriptedSource()
    src.lists.append(([], "10"))
    src.watches.append(ServerError(500, "InternalError", "boom"))
    src.watches.append([WatchStalled("silence")])
    src.watches.append([ev("ADDED", "a", "12"), HANG])
    registry = CollectorRegistry()
    m = InformerMetrics(registry, namespace="test")

    async def check(r: Reflector, clock: FakeClock) -> None:
        await until(lambda: clock.sleepers == 1)
        first = clock.next_deadline()
        assert first is not None
        assert 0.8 <= first - clock.now() <= 1.6  # initial 0.8 s with up to 100% jitter
        clock.step(first - clock.now() - 0.001)
        await anyio.lowlevel.checkpoint()
        assert len([c for c in src.calls if c[0] == "watch"]) == 1  # not before its time
        clock.step(0.001)
        await until(lambda: len([c for c in src.calls if c[0] == "watch"]) == 2)
        await until(lambda: clock.sleepers == 1)
        second = clock.next_deadline()
        assert second is not None
        assert 1.6 <= second - clock.now() <= 3.2  # doubled
        clock.advance_to(second)
        await until(lambda: r.resource_version == "12")
        assert [c for c in src.calls if c[0] == "list"] == [("list", "0")]
        assert all(c[1] == "10" for c in src.calls if c[0] == "watch")
        labels = {"resource": "pods"}
        assert registry.get_sample_value("test_informer_watch_restarts_total",
                                         {**labels, "reason": "error"}) == 1
        assert registry.get_sample_value("test_informer_watch_restarts_total",
                                         {**labels, "reason": "stalled"}) == 1

    await run_reflector(src, check, metrics=m)


async def test_watch_list_replaces_at_the_initial_events_end_bookmark() -> None:
    src = ScriptedSource()
    src.watches.append([
        ev("ADDED", "a", "3"), ev("ADDED", "b", "7"),  # synthetic: versions must not be taken
        ev("BOOKMARK", "", "50", **{"k8s.io/initial-events-end": "true"}),
        ev("MODIFIED", "a", "51"), HANG,
    ])

    async def check(r: Reflector, clock: FakeClock) -> None:
        await until(lambda: r.resource_version == "51")
        assert src.calls[0] == ("watch", "", src.calls[0][2], True)
        assert not [c for c in src.calls if c[0] == "list"]
        assert sink_of(r).calls == [("replace", (["a", "b"], "50")), ("upsert", "a")]
        assert r.last_sync_resource_version == "50"

    await run_reflector(src, check, ReflectorOptions(watch_list=True))


async def test_watch_list_synthetic_adds_never_advance_the_version() -> None:
    src = ScriptedSource()
    src.watches.append([ev("ADDED", "a", "3"), ev("ADDED", "b", "7"), HANG])

    async def check(r: Reflector, clock: FakeClock) -> None:
        await until(lambda: len(src.calls) == 1)
        for _ in range(10):
            await anyio.lowlevel.checkpoint()
        assert r.resource_version == ""
        assert sink_of(r).calls == []  # nothing is published before the initial state is complete

    await run_reflector(src, check, ReflectorOptions(watch_list=True))


@pytest.mark.parametrize("refusal", [BadRequest(400, "BadRequest", "sendInitialEvents unsupported")])
async def test_watch_list_refused_falls_back_to_list(refusal: Exception) -> None:
    src = ScriptedSource()
    src.watches.append(refusal)
    src.lists.append(([obj("a", "5")], "9"))

    async def check(r: Reflector, clock: FakeClock) -> None:
        await until(lambda: len(src.calls) >= 3)
        assert src.calls[1] == ("list", "0")
        assert src.calls[2][:2] == ("watch", "9")
        assert src.calls[2][3] is False
        assert sink_of(r).calls == [("replace", (["a"], "9"))]

    await run_reflector(src, check, ReflectorOptions(watch_list=True))
