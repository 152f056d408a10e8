"""pump_pod_events: which pods it watches and when it ends, against an in-memory cache (the watches
themselves are faked here; on the real control plane: tests/integration/test_pod_progress.py)."""

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


def instance(*pods: str, uid: str = UID) -> dict[str, Any]:
    return {"metadata": {"name": "jupyter-alice", "uid": uid, "creationTimestamp": "2026-11-30T10:00:00Z"},
            "status": {"children": [{"kind": "Pod", "name": p} for p in pods]}}


async def test_watches_each_pod_once_from_when_it_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    watched: list[str] = []
    events: dict[str, asyncio.Event] = {}

    async def fake_watch(client: Any, namespace: str, field_selector: str, handle: Any, log: Any) -> None:
        watched.append(field_selector)
        handle({"metadata": {"creationTimestamp": "2026-11-30T10:00:01Z"}, "type": "Normal", "reason": "Pulling",
                "note": f"about {field_selector}", "regarding": {"name": field_selector}})
        await events.setdefault(field_selector, asyncio.Event()).wait()

    monkeypatch.setattr(feed, "_watch_events", fake_watch)
    cache = Cache()
    queue: feed.Queue = asyncio.Queue()
    pump = asyncio.create_task(feed.pump_pod_events(queue, prog.Tracker(), cast(Any, None), cast(Any, cache),
                                                    "jupyter-alice", "ns", UID, logging.getLogger("test")))
    await asyncio.sleep(0.01)
    assert not pump.done()  # absent from the cache: not yet seen, so not gone
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
    await asyncio.wait_for(pump, 1)


async def test_another_instance_of_the_name_ends_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feed, "_watch_events", lambda *args: asyncio.sleep(3600))
    cache = Cache()
    await cache.set(instance())
    queue: feed.Queue = asyncio.Queue()
    pump = asyncio.create_task(feed.pump_pod_events(queue, prog.Tracker(), cast(Any, None), cast(Any, cache),
                                                    "jupyter-alice", "ns", UID, logging.getLogger("test")))
    await asyncio.sleep(0.01)
    await cache.set(instance(uid="u-2"))
    await asyncio.wait_for(pump, 1)
