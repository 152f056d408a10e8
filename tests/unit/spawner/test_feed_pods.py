"""pump_pod_events: which pods it watches, when it says their Events are out, and when it ends, against an
in-memory cache (the watches themselves are faked here; on the real control plane:
tests/integration/test_pod_progress.py); Signals.settle."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from typing import Any, cast

import pytest

from jupyternetes_operator.spawner import feed
from jupyternetes_operator.spawner import progress as prog

UID = "u-1"


class Cache:
    """A SharedCache's ``wait``: the predicate is checked now and after every ``set``."""

    def __init__(self) -> None:
        self.obj: Mapping[str, Any] | None = None
        self.changed = asyncio.Condition()

    async def set(self, obj: Mapping[str, Any] | None) -> None:
        async with self.changed:
            self.obj = obj
            self.changed.notify_all()

    async def wait(self, name: str, predicate: Callable[[Any], bool]) -> Mapping[str, Any] | None:
        async with self.changed:
            await self.changed.wait_for(lambda: predicate(self.obj))
            return self.obj


def instance(*pods: str, uid: str = UID, phase: str = "Provisioning") -> dict[str, Any]:
    return {"metadata": {"name": "jupyter-alice", "uid": uid, "creationTimestamp": "2026-11-30T10:00:00Z"},
            "status": {"phase": phase, "children": [{"kind": "Pod", "name": p} for p in pods]}}


def pump(cache: Cache, queue: feed.Queue, listed: asyncio.Event | None = None) -> asyncio.Task[None]:
    return asyncio.create_task(feed.pump_pod_events(queue, prog.Tracker(), cast(Any, None), cast(Any, cache),
                                                    "jupyter-alice", "ns", UID, logging.getLogger("test"),
                                                    listed or asyncio.Event()))


async def test_watches_each_pod_once_from_when_it_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    watched: list[str] = []
    events: dict[str, asyncio.Event] = {}

    async def fake_watch(client: Any, namespace: str, field_selector: str, handle: Any, log: Any,
                         listed: asyncio.Event) -> None:
        watched.append(field_selector)
        handle({"metadata": {"creationTimestamp": "2026-11-30T10:00:01Z"}, "type": "Normal", "reason": "Pulling",
                "note": f"about {field_selector}", "regarding": {"name": field_selector}})
        await events.setdefault(field_selector, asyncio.Event()).wait()

    monkeypatch.setattr(feed, "_watch_events", fake_watch)
    cache = Cache()
    queue: feed.Queue = asyncio.Queue()
    task = pump(cache, queue)
    await asyncio.sleep(0.01)
    assert not task.done()  # absent from the cache: not yet seen, so not gone
    await cache.set(instance())
    await asyncio.sleep(0.01)
    assert watched == []
    await cache.set(instance("jupyter-alice-notebook"))
    await asyncio.sleep(0.01)
    await cache.set(instance("jupyter-alice-notebook", "jupyter-alice-sidecar"))
    await asyncio.sleep(0.01)
    assert watched == ["regarding.kind=Pod,regarding.name=jupyter-alice-notebook",
                       "regarding.kind=Pod,regarding.name=jupyter-alice-sidecar"]
    assert queue.qsize() == 2
    await cache.set(None)  # deleted once seen: the pump ends, its watches with it
    await asyncio.wait_for(task, 1)


async def test_another_instance_of_the_name_ends_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feed, "_watch_events", lambda *args: asyncio.sleep(3600))
    cache = Cache()
    await cache.set(instance())
    queue: feed.Queue = asyncio.Queue()
    task = pump(cache, queue)
    await asyncio.sleep(0.01)
    await cache.set(instance(uid="u-2"))
    await asyncio.wait_for(task, 1)


async def test_listed_once_a_final_status_and_the_lists_of_its_pods_are_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a failed start() waits for (Signals.settle): not before the status is final, nor before
    each pod it names has its LIST shown; a pod first named by the final status counts too."""
    lists: dict[str, asyncio.Event] = {}  # selector: the LIST may answer

    async def fake_watch(client: Any, namespace: str, field_selector: str, handle: Any, log: Any,
                         listed: asyncio.Event) -> None:
        await lists.setdefault(field_selector, asyncio.Event()).wait()
        listed.set()
        await asyncio.sleep(3600)

    monkeypatch.setattr(feed, "_watch_events", fake_watch)
    cache, queue, listed = Cache(), cast(feed.Queue, asyncio.Queue()), asyncio.Event()
    task = pump(cache, queue, listed)
    await cache.set(instance("jupyter-alice-notebook"))
    await asyncio.sleep(0.01)
    lists["regarding.kind=Pod,regarding.name=jupyter-alice-notebook"].set()
    await asyncio.sleep(0.01)
    assert not listed.is_set()  # listed, but the status is not final
    await cache.set(instance("jupyter-alice-notebook", "jupyter-alice-sidecar", phase="Failed"))
    await asyncio.sleep(0.01)
    assert not listed.is_set()  # the sidecar's LIST has not answered
    lists["regarding.kind=Pod,regarding.name=jupyter-alice-sidecar"].set()
    await asyncio.wait_for(listed.wait(), 1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_settle_waits_for_listed_only_if_followed() -> None:
    signals = feed.Signals()
    loop = asyncio.get_running_loop()
    began = loop.time()
    await signals.settle(5)  # nobody follows: no wait
    assert loop.time() - began < 1
    signals.followers = 1
    await asyncio.wait_for(signals.settle(0.05), 1)  # followed, never listed: at most the bound
    loop.call_later(0.01, signals.listed.set)
    await asyncio.wait_for(signals.settle(5), 1)  # followed: until listed
    signals.clear()
    assert not any(e.is_set() for e in (signals.listed, signals.done, signals.uid_known))
