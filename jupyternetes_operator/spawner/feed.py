"""The live half of a spawn's progress: instance phases from the shared cache, the instance's Events
and the Events about its pods from watches, merged into one stream of progress messages (the pure
half is :mod:`.progress` and :mod:`.podevents`).

Guaranteed:

- :func:`pump_phases` reports each change of the instance's phase or conditions and ends on
  Running, Failed, or the instance's deletion (absent counts as deleted only once it was seen:
  the cache may not show a just-created instance yet).
- :func:`pump_events` and :func:`pump_pod_events` are a courtesy: API errors, network errors and
  timeouts end their watches quietly. :func:`pump_pod_events` watches the Events of each Pod the
  instance's status names, from when it first names it (a LIST first, so none is missed), and says
  (:class:`Signals` ``listed``) when the LISTs of the pods a final status names have been shown.
- :meth:`Signals.settle` lets a failed start() wait for that, at most ``seconds``: JupyterHub stops
  reading progress when start() ends, so the pods' Events that led to the failure must be out first.
- :func:`follow` yields messages as they come; after the final one (or the end of start()) it
  waits ``drain_seconds`` for Events still in flight, then yields the final message last, and
  cancels the pumps however it ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Coroutine, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from .. import api
from ..kube import watch as kube_watch
from ..kube.client import Client
from ..kube.errors import ApiError
from ..kube.resources import EVENTS
from . import podevents
from . import progress as prog
from .shared import SharedCache

Queue: TypeAlias = "asyncio.Queue[tuple[bool, dict[str, Any] | None]]"
"""(final, message): ``final`` ends the stream; a None message carries nothing to show."""


@dataclass
class Signals:
    """What one start() tells its progress() readers, and back; cleared (not replaced) at each start,
    as a progress() may already wait on them."""

    uid_known: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    listed: asyncio.Event = field(default_factory=asyncio.Event)
    """The Events of the pods a final status names are out (see :func:`pump_pod_events`)."""
    followers: int = 0

    def clear(self) -> None:
        for event in (self.uid_known, self.done, self.listed):
            event.clear()

    async def settle(self, seconds: float) -> None:
        """Wait at most ``seconds`` for ``listed`` if a progress() follows this start."""
        if self.followers:
            with suppress(TimeoutError):
                await asyncio.wait_for(self.listed.wait(), seconds)


def final(obj: Mapping[str, Any]) -> bool:
    return api.phase(obj) in (api.RUNNING, api.FAILED, api.STOPPED)


async def pump_phases(queue: Queue, tracker: prog.Tracker, instances: SharedCache, name: str, uid: str) -> None:
    seen = False  # the cache may not show the instance just created yet: absent is not deleted until seen

    def changed(obj: Mapping[str, Any] | None) -> bool:
        if obj is None or obj["metadata"]["uid"] != uid:
            return seen
        return prog.Tracker.key(obj) != tracker.last

    while True:
        obj = await instances.wait(name, changed)
        if obj is None or obj["metadata"]["uid"] != uid:
            queue.put_nowait((True, {"message": f"Instance {name} was deleted"}))
            return
        seen = True
        item = tracker.on_instance(obj)
        last = final(obj)
        if item is not None or last:
            queue.put_nowait((last, item))
        if last:
            return


async def pump_events(queue: Queue, tracker: prog.Tracker, client: Client, name: str, namespace: str, uid: str,
                      log: logging.Logger) -> None:
    """A watch on the Events about this instance (a courtesy: errors end it quietly)."""
    await _watch_events(client, namespace, f"regarding.uid={uid}",
                        lambda event: queue.put_nowait((False, tracker.on_event(event))), log)


async def pump_pod_events(queue: Queue, tracker: prog.Tracker, client: Client, instances: SharedCache, name: str,
                          namespace: str, uid: str, log: logging.Logger, listed: asyncio.Event) -> None:
    """A watch on the Events about each Pod the instance's status names, as it names them (see
    :mod:`.podevents`; a courtesy: errors end a watch quietly). Sets ``listed`` once a final status
    is seen and each pod it names has had its LIST shown (or failed). Ends when the instance is gone."""
    shown: podevents.PodEvents | None = None
    watched: dict[str, asyncio.Event] = {}  # pod: its LIST is shown

    def show(event: Mapping[str, Any]) -> None:
        assert shown is not None
        if (item := tracker.on_pod_event(event, shown)) is not None:
            queue.put_nowait((False, item))

    seen = False  # the cache may not show the instance just created yet: absent is not deleted until seen

    def news(obj: Mapping[str, Any] | None) -> bool:
        nonlocal seen
        if obj is None or obj["metadata"]["uid"] != uid:
            return seen
        seen = True
        return bool(set(podevents.pod_names(obj)) - watched.keys()) or (final(obj) and not listed.is_set())

    tasks: list[asyncio.Task[None]] = []
    try:
        while True:
            obj = await instances.wait(name, news)
            if obj is None or obj["metadata"]["uid"] != uid:
                return
            shown = shown or podevents.PodEvents(since=str(obj["metadata"].get("creationTimestamp") or ""))
            for pod in podevents.pod_names(obj):
                if pod not in watched:
                    watched[pod] = asyncio.Event()
                    tasks.append(asyncio.create_task(
                        _watch_events(client, namespace, podevents.selector(pod), show, log, watched[pod])))
            if final(obj):
                await asyncio.gather(*(watched[pod].wait() for pod in podevents.pod_names(obj)))
                listed.set()
    finally:  # the watches end with it (they would go on forever)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _watch_events(client: Client, namespace: str, field_selector: str,
                        handle: Callable[[Mapping[str, Any]], None], log: logging.Logger,
                        listed: asyncio.Event | None = None) -> None:
    """LIST (oldest first) then WATCH the Events matching ``field_selector``, each new one to ``handle``;
    ``listed`` is set once the LIST is handled or has failed. API errors, network errors and timeouts
    end it quietly."""
    try:
        first = await client.list(EVENTS, namespace, field_selector=field_selector)
        for event in sorted(first["items"], key=lambda e: e.get("eventTime") or ""):
            handle(event)
        if listed is not None:
            listed.set()
        version = first["metadata"]["resourceVersion"]
        while True:
            async with kube_watch.watch(client, EVENTS, namespace, resource_version=version,
                                        timeout_seconds=300, inactivity_timeout=90,
                                        field_selector=field_selector) as stream:
                async for change in stream:
                    version = change.resource_version or version
                    if change.type == kube_watch.ADDED:
                        handle(change.object)
    except (ApiError, OSError, TimeoutError) as exc:
        log.debug("Events in %s matching %s are not shown: %s", namespace, field_selector, exc)
    finally:
        if listed is not None:
            listed.set()


async def follow(queue: Queue, pumps: Sequence[Callable[[], Coroutine[Any, Any, None]]], signals: Signals,
                 drain_seconds: float) -> AsyncGenerator[dict[str, Any], None]:
    """Run ``pumps`` into ``queue`` and yield its messages until the final one, or until ``signals.done``
    (start() ended), plus what arrives within ``drain_seconds`` after that; counted in
    ``signals.followers`` meanwhile. The pumps are cancelled when this ends or is closed."""

    async def start_finished() -> None:
        await signals.done.wait()
        queue.put_nowait((True, None))

    tasks = [*(asyncio.create_task(pump()) for pump in pumps), asyncio.create_task(start_finished())]
    signals.followers += 1
    try:
        closing: dict[str, Any] | None = None
        done = False
        while True:
            # After the last phase, Events still in flight get drain_seconds to arrive.
            try:
                async with asyncio.timeout(drain_seconds if done else None):
                    last, item = await queue.get()
            except TimeoutError:
                break
            if last:
                done, closing = True, closing or item
            elif item is not None:
                yield item
        if closing is not None:
            yield closing
    finally:
        signals.followers -= 1
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
